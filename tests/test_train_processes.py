"""Training across processes: a checkpoint survives ``kill -9``; 2 torchrun processes equal 1 process."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vgen.io.checkpoint import load_network, load_training_state
from vgen.training import runfolder
from vgen.config import preset
from vgen.training.session import Hooks, TrainRequest, build_networks_seeded, train


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "VGEN_HOME": str(home), "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}


def _long_run(run: Path, home: Path, save_every: int, **popen: object) -> subprocess.Popen:
    """``vgen train`` of vdm-tiny for far more steps than a test waits for, into ``run``."""
    return subprocess.Popen(  # type: ignore[call-overload]
        [sys.executable, "-m", "vgen", "train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--synthetic-videos",
         "4", "--steps", "100000", "--save-every", str(save_every), "--batch-size", "1", "--out", str(run)],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )


@pytest.mark.slow
def test_checkpoint_survives_kill_9_and_resumes(tmp_path: Path, tmp_vgen_home: Path):
    run = tmp_path / "run"
    proc = _long_run(run, tmp_vgen_home, save_every=1)
    try:
        deadline = time.monotonic() + 90
        while not (run / "checkpoints" / "latest").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.05)
        delay = random.uniform(0.0, 2.0)
        time.sleep(delay)  # a random moment during later saves
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None, f"no loadable checkpoint after kill -9 at +{delay:.2f}s"
    weights, config, _ = load_network(checkpoint / "model" / "unet.safetensors")
    _, meta = load_training_state(checkpoint / "train_state.safetensors")
    assert config.name == "vdm-tiny" and meta["step"] >= 1

    logs: list[str] = []
    result = train(TrainRequest(model=None, overrides={"steps": meta["step"] + 2}, out=run, resume=True),
                   Hooks(log=logs.append, warn=logs.append))
    assert any(f"at diffusion step {meta['step']}" in line for line in logs)
    assert runfolder.latest_checkpoint(run).name == "diffusion-done"
    assert result.stored_as is not None and (result.stored_as / "unet.safetensors").is_file()
    # The log lines of steps after the checkpoint (lost with the kill) were dropped: one line per step.
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, meta["step"] + 3))


def _model_tensors(run: Path) -> dict[str, torch.Tensor]:
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None
    out = {}
    for path in sorted((checkpoint / "model").glob("*.safetensors")):
        out.update({f"{path.stem}/{k}": v for k, v in load_network(path)[0].items()})
    raw = load_training_state(checkpoint / "train_state.safetensors")[0]["raw"]
    for name, state in raw.items():
        out.update({f"raw-{name}/{k}": v for k, v in state.items()})
    return out


@pytest.mark.slow
def test_two_torchrun_processes_match_one_process(tmp_path: Path, tmp_vgen_home: Path):
    common = ["train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--synthetic-videos", "4", "--steps", "2",
              "--batch-size", "4", "--lr", "1e-3", "--ema-decay", "0.5"]
    two, one = tmp_path / "two", tmp_path / "one"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "vgen",
         *common, "--out", str(two), "--name", "ddp"],
        env=_env(tmp_vgen_home), capture_output=True, text=True, timeout=170,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stderr = " ".join(result.stderr.split())
    assert "global batch 4 = 2 per device × 2 process(es)" in stderr
    assert stderr.count("registered model 'ddp'") == 1  # only rank 0 speaks and writes
    subprocess.run([sys.executable, "-m", "vgen", *common, "--out", str(one), "--name", "single"],
                   env=_env(tmp_vgen_home), check=True, capture_output=True, timeout=120)

    # Identical randomness: the logged losses agree to float precision.
    losses = [[json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (two, one)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    a, b = _model_tensors(two), _model_tensors(one)
    assert a.keys() == b.keys()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    # Tolerance: 5% of the largest possible AdamW move (lr · steps); Adam normalises near-zero gradients, so
    # summation-order noise in them shows up at the 1e-5 level.
    assert worst < 1e-4, f"max weight difference {worst:g}"
    init = build_networks_seeded(preset("pvdm-tiny"), 0, torch.device("cpu"))["unet"].state_dict()
    moved = max((b[f"raw-unet/{k}"] - v).abs().max().item() for k, v in init.items())
    assert moved > 1e-3  # training really changed the weights, far beyond the tolerance
    # Only rank 0 wrote: one metrics line per step and stage.
    assert len(losses[0]) == 4


@pytest.mark.slow
@pytest.mark.parametrize("signum, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_resume_continues(tmp_path: Path, tmp_vgen_home: Path, signum: int,
                                                                   code: int, word: str):
    # Ctrl-C in a terminal, or what a batch scheduler does at the end of a job's time (SLURM `--signal=TERM@120`,
    # Kubernetes): the signal goes to the job's whole process group; SIGKILL would follow after a grace period.
    run = tmp_path / "run"
    proc = _long_run(run, tmp_vgen_home, save_every=1000, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists() or not (run / "metrics.jsonl").read_text().strip():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert out == "" and "Traceback" not in err
    flat = " ".join(err.split())
    assert flat.endswith(word) and f"continue with: vgen train --out {run} --resume" in flat
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None and checkpoint.name.startswith("diffusion-")
    _, config, _ = load_network(checkpoint / "model" / "unet.safetensors")
    _, meta = load_training_state(checkpoint / "train_state.safetensors")
    assert config.name == "vdm-tiny" and meta["step"] >= 1 and f"at diffusion step {meta['step']}" in flat

    resumed = subprocess.run([sys.executable, "-m", "vgen", "train", "--out", str(run), "--resume",
                              "--steps", str(meta["step"] + 2), "--name", "resumed"],
                             env=_env(tmp_vgen_home), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed {run} at diffusion step {meta['step']}" in " ".join(resumed.stderr.split())
    assert runfolder.latest_checkpoint(run).name == "diffusion-done"
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, meta["step"] + 3))
    assert (tmp_vgen_home / "models" / "resumed" / "unet.safetensors").is_file()
