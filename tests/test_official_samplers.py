"""The official PVDM and LVDM DDIM samplers (issue #13): ``--schedule-grid official`` samples as the papers' code does.

Three proofs, none needing a download:
- against trajectories the official samplers themselves recorded (tests/fixtures/official/ddim, written by
  tools/official_fixtures_ddim.py from the official code on an elementwise stand-in network), each official fact
  (grid, eta, x0 handling) shown necessary by turning it off;
- against the official formulas written out here in a few lines of numpy (other step counts than the fixtures);
- through the CLI: the choice reaches the sampler, imported checkpoints default to it, and a family without an
  official sampler is refused in one line.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from vgen.config import preset
from vgen.diffusion.parameterisation import Denoiser
from vgen.diffusion.schedules import Schedule, make_schedule
from vgen.families import family_of
from vgen.pipelines.settings import SamplerSettings
from vgen.sampling import sample_ddim

FIX = Path(__file__).parent / "fixtures" / "official" / "ddim"
META = json.loads((FIX / "meta.json").read_text())
TOL = 1e-5
BROKEN = 1e-3  # a fact turned off must move the trajectory at least this far (100x the tolerance)
PRESET = {"pvdm": "pvdm-tiny", "lvdm": "lvdm-tiny"}


def stand_in(c: torch.Tensor, A: torch.Tensor, B: torch.Tensor, calls: list) -> Callable:
    """The fixtures' network: eps(x, t) = c_t·x + 0.5·tanh(A·x + B·t/1000), recording each input x."""

    def raw(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append((x.clone(), int(t[0])))
        column = (-1, *([1] * (x.ndim - 1)))
        return c[t].reshape(column) * x + 0.5 * torch.tanh(A * x + B * (t.float().reshape(column) / 1000))

    return raw


def official_run(family: str, grid: str | None = "official"):
    """What ``--schedule-grid official`` resolves to for a model of ``family``."""
    model = SimpleNamespace(config=preset(PRESET[family]), family=family_of(preset(PRESET[family])))
    return SamplerSettings(schedule_grid=grid).for_model(model)  # type: ignore[arg-type]


def vgen_trajectory(family: str, raw_of: Callable, schedule: Schedule, steps: int, shape: tuple, seed: int,
                    **changes) -> tuple[torch.Tensor, list]:
    """vgen's DDIM with the family's official settings (``changes`` override knobs or the x0 handling)."""
    run = official_run(family)
    knobs = {**run.knobs, **{k: v for k, v in changes.items() if k in ("eta", "spacing")}}
    calls: list = []
    denoiser = Denoiser(raw_of(calls), schedule, "eps", clip_x0=changes.get("clip_x0", run.clip_x0),
                        recompute_eps=changes.get("recompute_eps", run.recompute_eps))
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(shape, generator=g)
    out = sample_ddim(denoiser, x_T, schedule, steps=steps, generators=[g], **knobs)
    return out, calls


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a.double() - b.double()).abs().max().item()


# ------------------------------------------------------------------------------- against the official code's records


@pytest.mark.parametrize("family", ["pvdm", "lvdm"])
def test_official_trajectories_are_reproduced(family: str) -> None:
    fix, meta = load_file(FIX / f"{family}.safetensors"), META[family]
    schedule = make_schedule("scaled_linear", META["timesteps"], beta_start=meta["beta"][0], beta_end=meta["beta"][1])
    raw_of = lambda calls: stand_in(fix["c"], fix["A"], fix["B"], calls)  # noqa: E731
    out, calls = vgen_trajectory(family, raw_of, schedule, meta["steps"], tuple(meta["shape"]), META["seed"])
    assert torch.equal(calls[0][0], fix["x"][0])  # x_T: the same draws as the official global generator
    assert [t for _, t in calls] == fix["t"].tolist()
    errors = [max_abs(x, want) for (x, _), want in zip(calls, fix["x"])] + [max_abs(out, fix["out"])]
    assert max(errors) <= TOL, errors


@pytest.mark.parametrize("family, change", [
    ("pvdm", {"spacing": "trailing"}),     # rounds where the official grid truncates
    ("pvdm", {"recompute_eps": True}),     # eps recomputed from the clamped x0
    ("pvdm", {"eta": 0.0}),
    ("pvdm", {"clip_x0": None}),
    ("lvdm", {"spacing": "leading"}),      # no +1 and a last step to clean data
    ("lvdm", {"eta": 0.0}),
    ("lvdm", {"clip_x0": 1.0}),
])
def test_each_official_fact_is_needed(family: str, change: dict) -> None:
    fix, meta = load_file(FIX / f"{family}.safetensors"), META[family]
    schedule = make_schedule("scaled_linear", META["timesteps"], beta_start=meta["beta"][0], beta_end=meta["beta"][1])
    raw_of = lambda calls: stand_in(fix["c"], fix["A"], fix["B"], calls)  # noqa: E731
    out, _ = vgen_trajectory(family, raw_of, schedule, meta["steps"], tuple(meta["shape"]), META["seed"], **change)
    assert max_abs(out, fix["out"]) > BROKEN


# ------------------------------------------------------------------------- against the official formulas, written out


def reference_pvdm(eps, x_T, noise, alpha_bar, steps, eta):
    """sihyun-yu/PVDM losses/ddpm.py DDPM.ddim_sample: float32 linspace(-1, T-1, S+1).int() pairs, x0 clamped to
    [-1, 1] with the network's eps kept, the step to -1 returns x0."""
    T = len(alpha_bar)
    times = torch.linspace(-1, T - 1, steps + 1).int().tolist()[::-1]
    x, xs = x_T, []
    for t, t_next in zip(times[:-1], times[1:]):
        xs.append(x)
        e = eps(x, t)
        x0 = np.clip((x - math.sqrt(1 - alpha_bar[t]) * e) / math.sqrt(alpha_bar[t]), -1, 1)
        if t_next < 0:
            return x0, xs
        a, a_next = alpha_bar[t], alpha_bar[t_next]
        sigma = eta * math.sqrt((1 - a / a_next) * (1 - a_next) / (1 - a))
        x = x0 * math.sqrt(a_next) + math.sqrt(1 - a_next - sigma**2) * e + sigma * next(noise)
    raise AssertionError("unreachable")


def reference_ldm(eps, x_T, noise, alpha_bar, steps, eta):
    """LDM/LVDM make_ddim_timesteps('uniform') = range(0, T, T // S) + 1; alphas_prev = [alpha_bar_0, ...]; no clamp;
    every step (the last one too, to alpha_bar_0) adds sigma·noise."""
    T = len(alpha_bar)
    ts = np.arange(0, T, T // steps) + 1
    alphas, alphas_prev = alpha_bar[ts], np.concatenate([[alpha_bar[0]], alpha_bar[ts[:-1]]])
    sigmas = eta * np.sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev))
    x, xs = x_T, []
    for i in reversed(range(len(ts))):
        xs.append(x)
        e = eps(x, int(ts[i]))
        x0 = (x - math.sqrt(1 - alphas[i]) * e) / math.sqrt(alphas[i])
        x = math.sqrt(alphas_prev[i]) * x0 + math.sqrt(1 - alphas_prev[i] - sigmas[i] ** 2) * e + sigmas[i] * next(noise)
    return x, xs


@pytest.mark.parametrize("family, beta_end, steps, reference", [
    ("pvdm", 0.0195, 26, reference_pvdm),  # 26: float32 linspace lands on 498.99997, truncated to 498
    ("lvdm", 0.0155, 30, reference_ldm),   # 30: stride 33, 31 steps
])
def test_official_formulas_are_reproduced(family: str, beta_end: float, steps: int, reference) -> None:
    schedule = make_schedule("scaled_linear", 1000, beta_start=0.0015, beta_end=beta_end)
    shape, seed = (1, 3, 6, 5), 7
    gen = torch.Generator().manual_seed(99)
    A, B = torch.randn(shape[1:], generator=gen), torch.randn(shape[1:], generator=gen)
    c = (1 - schedule.alphas_cumprod).sqrt().float()
    raw_of = lambda calls: stand_in(c, A, B, calls)  # noqa: E731
    out, calls = vgen_trajectory(family, raw_of, schedule, steps, shape, seed)

    def eps(x: np.ndarray, t: int) -> np.ndarray:
        return raw_of([])(torch.from_numpy(x).float(), torch.tensor([t])).double().numpy()

    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(shape, generator=g).double().numpy()
    noise = (torch.randn(shape[1:], generator=g)[None].double().numpy() for _ in iter(int, 1))  # endless draws
    want, xs = reference(eps, x_T, noise, schedule.alphas_cumprod.numpy(), steps, eta=1.0)
    assert len(calls) == len(xs) == (steps + 1 if family == "lvdm" else steps)
    errors = [max_abs(x, torch.from_numpy(w)) for (x, _), w in zip(calls, xs)] + [max_abs(out, torch.from_numpy(want))]
    assert max(errors) <= TOL, errors


def test_official_resolution() -> None:
    """official = the family's sampler; an explicit --eta wins; other grids keep the model's own x0 handling."""
    pvdm, lvdm = official_run("pvdm"), official_run("lvdm")
    assert (pvdm.knobs, pvdm.clip_x0, pvdm.recompute_eps) == ({"eta": 1.0, "spacing": "pvdm"}, 1.0, False)
    assert (lvdm.knobs, lvdm.clip_x0, lvdm.recompute_eps) == ({"eta": 1.0, "spacing": "ldm"}, None, True)
    model = SimpleNamespace(config=preset("pvdm-tiny"), family=family_of(preset("pvdm-tiny")))
    assert SamplerSettings(schedule_grid="official", eta=0.0).for_model(model).knobs["eta"] == 0.0  # type: ignore[arg-type]
    default = SamplerSettings().for_model(model)  # type: ignore[arg-type]
    assert (default.grid, default.knobs, default.clip_x0, default.recompute_eps) == ("linspace", {"spacing": "linspace"},
                                                                                    1.0, True)
    assert official_run("pvdm", "pvdm").knobs == {"spacing": "pvdm"}  # the grid alone


# ------------------------------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_pipelines_model import save_tiny, tiny_networks
    from vgen.io.checkpoint import save_network

    root = tmp_path_factory.mktemp("vgen-home")
    for name in ("pvdm-tiny", "vdm-tiny", "lvdm-tiny"):
        save_tiny(name, root / "models" / name)
    config, networks = tiny_networks("pvdm-tiny")  # as `vgen import` marks an official checkpoint
    config = config.model_copy(update={"diffusion": config.diffusion.model_copy(update={"schedule_grid": "official"})})
    for role, net in networks.items():
        (root / "models" / "pvdm-imported").mkdir(parents=True, exist_ok=True)
        save_network(root / "models" / "pvdm-imported" / f"{role}.safetensors", net.state_dict(), config, role=role)
    return root


def run_cli(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    from vgen.cli import app
    from vgen.cli._guard import run_guarded

    monkeypatch.setenv("VGEN_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return run_guarded(lambda: app(["sample", *args], standalone_mode=False))


@pytest.mark.parametrize("args, want", [
    (["--model", "pvdm-tiny", "--schedule-grid", "official"], ({"eta": 1.0, "spacing": "pvdm"}, 1.0, False)),
    (["--model", "pvdm-tiny", "--schedule-grid", "official", "--eta", "0"], ({"eta": 0.0, "spacing": "pvdm"}, 1.0, False)),
    (["--model", "lvdm-tiny", "--schedule-grid", "official"], ({"eta": 1.0, "spacing": "ldm"}, None, True)),
    (["--model", "pvdm-tiny", "--schedule-grid", "ldm"], ({"spacing": "ldm"}, 1.0, True)),
    (["--model", "pvdm-tiny"], ({"spacing": "linspace"}, 1.0, True)),
    (["--model", "pvdm-imported"], ({"eta": 1.0, "spacing": "pvdm"}, 1.0, False)),
    (["--model", "pvdm-imported", "--sampler", "dpm++"], ({"spacing": "linspace"}, 1.0, True)),
    (["--model", "pvdm-imported", "--schedule-grid", "trailing"], ({"spacing": "trailing"}, 1.0, True)),
])
def test_the_cli_choice_reaches_the_sampler(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             args: list[str], want: tuple) -> None:
    import vgen.pipelines.clip as clip

    seen = []
    real = clip.sample

    def spy(name, denoiser, x_T, schedule, **kwargs):
        knobs = {k: v for k, v in kwargs.items() if k not in ("steps", "generators", "callback", "frame_noise")}
        assert kwargs["frame_noise"] == "independent"  # a PVDM latent has no frames to share noise
        seen.append((knobs, denoiser.clip_x0, denoiser.recompute_eps))
        return real(name, denoiser, x_T, schedule, **kwargs)

    monkeypatch.setattr(clip, "sample", spy)
    assert run_cli(home, tmp_path, monkeypatch, *args, "--steps", "2", "-q", "-o", "out.mp4") == 0
    assert seen and all(s == want for s in seen), seen


@pytest.mark.parametrize("args, message", [
    (["--model", "vdm-tiny", "--schedule-grid", "official"], "vdm-tiny (vdm) has no official sampler to reproduce"),
    (["--model", "pvdm-tiny", "--schedule-grid", "official", "--sampler", "dpm++"], "is the papers' DDIM sampler"),
    (["--model", "lvdm-tiny", "--schedule-grid", "ldm", "--steps", "3"], "past the last timestep"),
    (["--model", "lvdm-tiny", "--schedule-grid", "uniform"], "unknown --schedule-grid"),
])
def test_refusals_are_one_line_exit_2_and_no_output(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture, args: list[str], message: str) -> None:
    assert run_cli(home, tmp_path, monkeypatch, *args, "-o", "out.mp4") == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert os.listdir(tmp_path) == []


def test_official_step_counts_are_the_papers_unless_steps_is_given() -> None:
    """PVDM's reported samples use 400 DDIM steps (its README: "400/400-s, eta=1"), LVDM's scripts 50; --steps wins;
    every other grid keeps vgen's default of 50."""
    pvdm = SimpleNamespace(config=preset("pvdm-tiny"), family=family_of(preset("pvdm-tiny")))
    lvdm = SimpleNamespace(config=preset("lvdm-tiny"), family=family_of(preset("lvdm-tiny")))
    official = SamplerSettings(schedule_grid="official")  # type: ignore[arg-type]
    assert official.for_model(pvdm).steps == 400 and official.for_model(lvdm).steps == 50  # type: ignore[arg-type]
    assert SamplerSettings(schedule_grid="official", steps=7).for_model(pvdm).steps == 7  # type: ignore[arg-type]
    assert SamplerSettings().for_model(pvdm).steps == 50  # type: ignore[arg-type]
    assert SamplerSettings(schedule_grid="trailing").for_model(pvdm).steps == 50  # type: ignore[arg-type]


@pytest.mark.parametrize("args, steps", [
    (["--model", "pvdm-imported"], 400),
    (["--model", "pvdm-imported", "--steps", "3"], 3),
    (["--model", "pvdm-imported", "--sampler", "dpm++"], 50),
    (["--model", "pvdm-tiny"], 50),
])
def test_the_cli_step_count_reaches_the_sampler(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                args: list[str], steps: int) -> None:
    import vgen.pipelines.clip as clip

    seen = []

    def spy(name, denoiser, x_T, schedule, **kwargs):  # records the step count and skips the sampling itself
        seen.append(kwargs["steps"])
        return x_T

    monkeypatch.setattr(clip, "sample", spy)
    assert run_cli(home, tmp_path, monkeypatch, *args, "-q", "-o", "out.mp4") == 0
    assert seen and set(seen) == {steps}, seen
