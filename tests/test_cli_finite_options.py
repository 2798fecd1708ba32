"""Every float option of every command refuses NaN and ±inf at parse time: one line, exit 2."""

from __future__ import annotations

import typing
from typing import Any, Callable, Iterator

import pytest
import typer

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.cli._types import FiniteFloat

# Positional arguments each command needs before its options can be parsed (nothing is read: parsing fails first).
REQUIRED = {
    ("sample",): [], ("extend",): ["in.mp4"], ("interpolate",): ["in.mp4", "--model", "m"], ("train",): [],
    ("upscale",): ["in.mp4", "--model", "m"],
    ("evaluate",): [], ("models",): [], ("data", "synth"): ["out"],
    ("import", "pvdm"): ["--autoencoder", "a.pth", "--name", "n"],
    ("import", "lvdm"): ["--autoencoder", "a.ckpt", "--unet", "u.ckpt", "--name", "n"],
}


def _commands(typer_app: typer.Typer, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Callable]]:
    for info in typer_app.registered_commands:
        yield (*prefix, info.name or info.callback.__name__), info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*prefix, group.name))


def _float_options() -> list[tuple[tuple[str, ...], str, Any]]:
    """(command path, first option name, OptionInfo) of every float-valued option in the app."""
    found = []
    for path, callback in _commands(app):
        for name, hint in typing.get_type_hints(callback, include_extras=True).items():
            if typing.get_origin(hint) is not typing.Annotated:
                continue
            base, *meta = typing.get_args(hint)
            inner = [a for a in typing.get_args(base) if a is not type(None)] or [base]
            option = next((m for m in meta if isinstance(m, typer.models.OptionInfo)), None)
            if option is not None and inner == [float]:
                # In Annotated form Typer keeps the first declaration ("--eta") in ``default``.
                found.append((path, option.default, option))
    return found


FLOAT_OPTIONS = _float_options()


def test_the_walk_finds_the_float_options_of_every_command():
    names = {(path, flag) for path, flag, _ in FLOAT_OPTIONS}
    assert {(("sample",), "--eta"), (("sample",), "--fps"), (("sample",), "--guidance"), (("sample",), "--recon-weight"),
            (("extend",), "--guidance"), (("interpolate",), "--eta"), (("train",), "--lr"), (("train",), "--ema-decay"),
            (("train",), "--grad-clip"), (("train",), "--cond-drop-prob"), (("data", "synth"), "--fps"),
            (("upscale",), "--aug-level"), (("upscale",), "--eta"), (("evaluate",), "--aug-level")} <= names


@pytest.mark.parametrize("path,flag,option", FLOAT_OPTIONS, ids=[f"{' '.join(p)} {f}" for p, f, _ in FLOAT_OPTIONS])
def test_every_float_option_parses_through_the_one_finite_validator(path, flag, option):
    assert isinstance(option.parser, FiniteFloat)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e400", "NaN"])
@pytest.mark.parametrize("path,flag,option", FLOAT_OPTIONS, ids=[f"{' '.join(p)} {f}" for p, f, _ in FLOAT_OPTIONS])
def test_non_finite_values_are_refused_with_one_line(path, flag, option, value, capsys):
    args = [*path, *REQUIRED[path], f"{flag}={value}"]
    code = run_guarded(lambda: app(args, standalone_mode=False))
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert flag in lines[0] and "not a finite number" in lines[0]


def test_finite_values_and_the_minimum():
    assert FiniteFloat()("2e-3") == 2e-3
    assert FiniteFloat()(-1.5) == -1.5
    assert FiniteFloat(minimum=0.1)("0.1") == 0.1
    for bad in ("0.05", "x", ""):
        with pytest.raises(typer.BadParameter):
            FiniteFloat(minimum=0.1)(bad)
