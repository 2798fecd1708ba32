"""Unit tests of the training machinery: EMA, data order, batch split, run folder, non-finite guard."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from vgen.config import preset
from vgen.errors import VgenError
from vgen.training import runfolder
from vgen.training.distributed import DistInfo
from vgen.training.ema import EMA
from vgen.training.options import TrainOptions
from vgen.training.order import derive_seed, global_batch_indices, micro_batch_slice, sample_generators
from vgen.training.trainer import Batch, StagePlan, Trainer, learning_rate




def test_ema_warmup_decay_and_update():
    net = nn.Linear(2, 1, bias=False)
    nn.init.zeros_(net.weight)
    ema = EMA(net, decay=0.9999)
    assert ema.current_decay() == pytest.approx(1 / 10)  # (1+0)/(10+0)
    with torch.no_grad():
        net.weight.fill_(1.0)
    ema.update(net)
    assert torch.allclose(ema.shadow["weight"], torch.full((1, 2), 0.9))  # 0.1·0 + 0.9·1
    assert ema.current_decay() == pytest.approx(2 / 11)
    ema.updates = 10**7
    assert ema.current_decay() == 0.9999
    # EMA weights never alias the live weights.
    assert ema.state_dict(net)["weight"].data_ptr() != net.weight.data_ptr()


def test_data_order_is_a_function_of_seed_and_step_and_covers_each_epoch():
    size, batch = 10, 4
    steps = [global_batch_indices(3, "diffusion", k, batch, size) for k in range(5)]
    assert steps == [global_batch_indices(3, "diffusion", k, batch, size) for k in range(5)]
    flat = [key for step in steps for key in step]
    for epoch in (0, 1):
        assert sorted(i for e, i in flat if e == epoch) == list(range(size))
    assert steps != [global_batch_indices(4, "diffusion", k, batch, size) for k in range(5)]
    assert steps != [global_batch_indices(3, "ae", k, batch, size) for k in range(5)]


def test_micro_batches_partition_the_global_batch_over_ranks():
    batch, accumulate, world = 12, 3, 2
    positions = []
    for micro in range(accumulate):
        for rank in range(world):
            s = micro_batch_slice(batch, accumulate, world, micro, rank)
            assert s.stop - s.start == batch // (accumulate * world)
            positions.extend(range(s.start, s.stop))
    assert sorted(positions) == list(range(batch))


def test_sample_generators_depend_on_global_position_only():
    a = sample_generators(0, "diffusion", 7, range(2, 4))
    b = sample_generators(0, "diffusion", 7, range(0, 4))[2:]
    assert [torch.rand(3, generator=g).tolist() for g in a] == [torch.rand(3, generator=g).tolist() for g in b]
    assert derive_seed(1, "x") == derive_seed(1, "x") != derive_seed(2, "x")


def test_learning_rate_warmup():
    opts = TrainOptions(lr=1e-3, warmup=4, synthetic="bouncing")
    assert [learning_rate(opts, k) for k in range(6)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    assert learning_rate(opts.model_copy(update={"warmup": 0}), 0) == 1e-3


def test_learning_rate_cosine_decay_after_warmup():
    """--lr-decay cosine: the warm-up is unchanged, then a half cosine reaches 0 at the stage's last step."""
    opts = TrainOptions(lr=1e-3, warmup=4, steps=14, lr_decay="cosine", synthetic="bouncing")
    rates = [learning_rate(opts, k) for k in range(15)]
    assert rates[:3] == pytest.approx([2.5e-4, 5e-4, 7.5e-4])
    assert rates[4] == pytest.approx(1e-3)  # decay starts at the rate the warm-up reached
    assert rates[9] == pytest.approx(5e-4)  # half-way through the decay: half the rate
    assert rates[14] == pytest.approx(0.0, abs=1e-12)
    assert all(a > b for a, b in zip(rates[4:14], rates[5:15]))  # strictly falling
    with pytest.raises(ValueError):
        TrainOptions(lr_decay="linear", synthetic="bouncing")


def _fake_checkpoint(run: Path, tag: str) -> Path:
    tmp = runfolder.tmp_checkpoint_dir(run, tag)
    (tmp / "train_state.safetensors").write_bytes(b"x")
    return runfolder.commit_checkpoint(run, tmp, tag, keep=2)


def test_checkpoint_commit_points_latest_at_complete_dirs_and_prunes(tmp_path: Path):
    run = tmp_path / "00000-toy"
    (run / "checkpoints").mkdir(parents=True)
    assert runfolder.latest_checkpoint(run) is None
    for tag in ("ae-0000002", "ae-0000004", "ae-done", "diffusion-0000002"):
        final = _fake_checkpoint(run, tag)
        assert runfolder.latest_checkpoint(run) == final
    kept = sorted(p.name for p in (run / "checkpoints").iterdir() if p.is_dir())
    assert kept == ["ae-done", "diffusion-0000002"]
    # A half-written checkpoint (killed before the rename) is invisible and cleaned up by the next commit.
    stale = runfolder.tmp_checkpoint_dir(run, "diffusion-0000004")
    assert runfolder.latest_checkpoint(run).name == "diffusion-0000002"
    _fake_checkpoint(run, "diffusion-0000006")
    assert not stale.exists()


def test_run_dirs_are_numbered_and_latest_is_found_by_name(tmp_path: Path):
    assert runfolder.new_run_dir(tmp_path, "a").name == "00000-a"
    for name in ("00000-a", "00001-b", "00002-a"):
        (tmp_path / name / "checkpoints").mkdir(parents=True)
    _fake_checkpoint(tmp_path / "00000-a", "diffusion-0000001")
    assert runfolder.new_run_dir(tmp_path, "a").name == "00003-a"
    # 00002-a has no checkpoint yet, so resume picks 00000-a.
    assert runfolder.latest_run_dir(tmp_path, "a").name == "00000-a"
    with pytest.raises(VgenError, match="no run named 'c'"):
        runfolder.latest_run_dir(tmp_path, "c")


class _Toy(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 4

    def __getitem__(self, key):
        return {"video": torch.ones(3, 1, 1, 1), "label": torch.tensor(-1)}


def _toy_trainer(loss_fn, **opts) -> tuple[Trainer, nn.Module]:
    net = nn.Linear(3, 1)
    plan = StagePlan(stage="diffusion", networks={"unet": net}, trainable={"unet": net},
                     objective=lambda batch, gens: {"unet": loss_fn(net, batch)}, clip_frames=1, ema_role="unet")
    options = TrainOptions(synthetic="bouncing", batch_size=2, **opts)
    warnings: list[str] = []
    trainer = Trainer(plan, preset("vdm-tiny"), options, _Toy(), torch.device("cpu"), DistInfo(), None,
                      on_warning=warnings.append)
    trainer.warnings = warnings  # type: ignore[attr-defined]
    return trainer, net


def test_nonfinite_loss_skips_the_step_then_stops_with_a_clear_error():
    trainer, net = _toy_trainer(lambda net, batch: net(batch.video.flatten(1)).sum() * float("nan"),
                                steps=50, max_bad_steps=3)
    before = net.weight.detach().clone()
    with pytest.raises(VgenError, match="3 consecutive non-finite losses"):
        trainer.run()
    assert torch.equal(net.weight, before)  # no update was applied
    assert len(trainer.warnings) == 3 and "skipped" in trainer.warnings[0]


def test_isolated_nonfinite_step_is_skipped_and_training_continues():
    calls = {"n": 0}

    def loss(net: nn.Module, batch: Batch) -> torch.Tensor:
        calls["n"] += 1
        value = net(batch.video.flatten(1)).square().mean()
        return value * float("inf") if calls["n"] == 2 else value

    trainer, _ = _toy_trainer(loss, steps=4, max_bad_steps=2)
    trainer.run()
    assert trainer.step == 4 and len(trainer.warnings) == 1
    assert trainer.ema is not None and trainer.ema.updates == 3
