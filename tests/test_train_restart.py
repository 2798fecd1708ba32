"""A run stopped before its first checkpoint starts again in its own folder, from step 0: with ``--resume`` (its
saved config) or by running into the folder again. A folder holding anything else is never emptied."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from test_pipelines_model import save_tiny
from vgen.errors import VgenError
from vgen.io.checkpoint import load_network
from vgen.training import runfolder
from vgen.training.session import Hooks, TrainRequest, train

OPTIONS = dict(synthetic="bouncing", synthetic_videos=3, steps=4, batch_size=2, save_every=100, ema_decay=0.9,
               lr=1e-3)


class _Killed(Exception):
    """Stands for a ``kill -9`` between two steps: nothing after it runs, no checkpoint is written."""


def _hooks(logs: list[str], kill_at: int | None = None) -> Hooks:
    @contextmanager
    def progress(description: str, total: int):
        def callback(done: int, total_: int, info: dict) -> None:
            if done == kill_at:
                raise _Killed

        yield callback

    return Hooks(log=logs.append, warn=logs.append, progress=progress)


def _killed_run(run: Path, model: str = "vdm-tiny") -> None:
    """A run folder as a kill before the first checkpoint leaves it: config, 2 metrics lines, temporaries."""
    with pytest.raises(_Killed):
        train(TrainRequest(model=model, overrides=OPTIONS, out=run), _hooks([], kill_at=2))
    assert runfolder.latest_checkpoint(run) is None
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    (run / "checkpoints" / ".tmp-diffusion-0000002" / "model").mkdir(parents=True)  # a save cut short
    (run / ".metrics.jsonl.0123abcd.part.jsonl").write_text("{")  # an atomic write cut short


def _weights(run: Path) -> dict[str, torch.Tensor]:
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None
    return {f"{p.stem}/{k}": v for p in sorted((checkpoint / "model").glob("*.safetensors"))
            for k, v in load_network(p)[0].items()}


def _assert_clean_restart(run: Path, logs: list[str], steps: int) -> None:
    assert any("holds no checkpoint" in line and "starting it from step 0" in line for line in logs)
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == \
        list(range(1, steps + 1))
    assert runfolder.latest_checkpoint(run).name == "diffusion-done"
    assert not any(p.name.startswith(".") for p in [*run.iterdir(), *(run / "checkpoints").iterdir()])


def test_resume_without_a_checkpoint_starts_the_run_from_step_0(tmp_path: Path, tmp_vgen_home: Path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(TrainRequest(model="vdm-tiny", overrides=OPTIONS, out=straight, name="straight"), _hooks([]))
    _killed_run(killed)
    logs: list[str] = []
    result = train(TrainRequest(model=None, overrides={}, out=killed, resume=True), _hooks(logs))
    _assert_clean_restart(killed, logs, OPTIONS["steps"])
    # The saved config was used (same options, same seed): the same weights as the run never stopped.
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert result.stored_as == tmp_vgen_home / "models" / "vdm-tiny-trained"


def test_running_into_a_folder_without_a_checkpoint_again_is_allowed(tmp_path: Path, tmp_vgen_home: Path):
    run = tmp_path / "run"
    _killed_run(run)
    logs: list[str] = []
    train(TrainRequest(model="vdm-tiny", overrides={**OPTIONS, "steps": 3}, out=run), _hooks(logs))
    _assert_clean_restart(run, logs, 3)
    assert json.loads((run / "config.json").read_text())["training"]["steps"] == 3  # the new run's config


def test_resume_by_name_finds_the_latest_run_even_without_a_checkpoint(tmp_path: Path, tmp_vgen_home: Path,
                                                                       monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    _killed_run(Path("runs") / "00000-vdm-tiny-trained")
    logs: list[str] = []
    train(TrainRequest(model="vdm-tiny", overrides={}, resume=True), _hooks(logs))
    _assert_clean_restart(Path("runs") / "00000-vdm-tiny-trained", logs, OPTIONS["steps"])
    assert sorted(p.name for p in Path("runs").iterdir()) == ["00000-vdm-tiny-trained"]


def test_a_stopped_fine_tuning_run_restarts_from_the_weights_it_was_tuning(tmp_path: Path, tmp_vgen_home: Path):
    base = save_tiny("vdm-tiny", tmp_vgen_home / "models" / "base", seed=3)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train(TrainRequest(model="base", overrides=OPTIONS, out=straight, name="a"), _hooks([]))
    _killed_run(killed, model="base")
    logs: list[str] = []
    train(TrainRequest(model=None, overrides={}, out=killed, resume=True, name="b"), _hooks(logs))
    assert any(f"fine-tuning from {base}" in line for line in logs)
    a, b = _weights(straight), _weights(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_folder_holding_anything_else_is_never_emptied(tmp_path: Path, tmp_vgen_home: Path):
    run = tmp_path / "run"
    _killed_run(run)
    (run / "notes.txt").write_text("mine")
    before = sorted(p.name for p in run.rglob("*"))
    for resume in (False, True):
        with pytest.raises(VgenError, match="is not empty \\(it holds 'notes.txt'\\)"):
            train(TrainRequest(model=None if resume else "vdm-tiny", overrides=OPTIONS, out=run, resume=resume),
                  _hooks([]))
    assert sorted(p.name for p in run.rglob("*")) == before
