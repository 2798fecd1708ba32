"""Resume is bit-exact: N steps straight equal k steps, Ctrl-C, and a resume (``torch.equal`` on every tensor)."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from vgen.io.checkpoint import load_network, load_training_state
from vgen.training import runfolder
from vgen.training.session import Hooks, TrainRequest, train




def _hooks(interrupt_at: tuple[str, int] | None, logs: list[str]) -> Hooks:
    """Progress hook that presses Ctrl-C (a real SIGINT) once the given stage reaches the given step."""

    @contextmanager
    def progress(description: str, total: int):
        def callback(done: int, total_: int, info: dict) -> None:
            if interrupt_at and description == f"train {interrupt_at[0]}" and done == interrupt_at[1]:
                os.kill(os.getpid(), signal.SIGINT)

        yield callback

    return Hooks(log=logs.append, warn=logs.append, progress=progress)


def _all_tensors(run: Path) -> dict[str, torch.Tensor]:
    """Every weight of the final model dir and every tensor of the training state, flattened."""
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None
    out: dict[str, torch.Tensor] = {}
    for path in sorted((checkpoint / "model").glob("*.safetensors")):
        for key, value in load_network(path)[0].items():
            out[f"{path.stem}/{key}"] = value

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, torch.Tensor):
            out[prefix] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}/{k}", v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}/{i}", v)

    tensors, meta = load_training_state(checkpoint / "train_state.safetensors")
    walk("state", tensors)
    out["meta/step"] = torch.tensor(meta["step"])
    return out


@pytest.mark.parametrize(
    "model, interrupt_at",
    [
        ("vdm-tiny", ("diffusion", 3)),
        ("lvdm-tiny", ("diffusion", 2)),
        pytest.param("pvdm-tiny", ("ae", 2), marks=pytest.mark.slow),  # with the GAN phase: ~25 s on 2 cores
    ],
)
def test_interrupt_and_resume_equals_straight_training(model: str, interrupt_at: tuple[str, int], tmp_path: Path,
                                                      tmp_vgen_home: Path):
    steps = 6 if model == "vdm-tiny" else 4
    options = dict(synthetic="bouncing", synthetic_videos=3, steps=steps, batch_size=2, save_every=100,
                   ema_decay=0.9, lr=1e-3)
    if model == "pvdm-tiny":
        options["gan_start"] = 1  # the discriminators and their optimiser are resumed too
    straight, split = tmp_path / "straight", tmp_path / "split"
    logs: list[str] = []
    train(TrainRequest(model=model, overrides=options, out=straight), _hooks(None, logs))

    with pytest.raises(KeyboardInterrupt):
        train(TrainRequest(model=model, overrides=options, out=split), _hooks(interrupt_at, logs))
    saved = runfolder.latest_checkpoint(split)
    assert saved is not None and saved.name == f"{interrupt_at[0]}-{interrupt_at[1]:07d}"

    logs.clear()
    train(TrainRequest(model=None, overrides={}, out=split, resume=True), _hooks(None, logs))
    assert any(f"resumed {split} at {interrupt_at[0]} step {interrupt_at[1]}" in line for line in logs)

    a, b = _all_tensors(straight), _all_tensors(split)
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    # Metrics of the interrupted + resumed run continue the same curve.
    lines = (split / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == (1 if model == "vdm-tiny" else 2) * steps
