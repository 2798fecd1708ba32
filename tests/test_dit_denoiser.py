"""DiT denoiser (vgen/families/dit/denoiser.py): shapes, AdaLN-Zero init, window attention against a block-diagonal
reference, the motion-free switch, frame mixing, batch independence, FLOP growth with frames, checkpointing."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from vgen.errors import VgenError
from vgen.families.dit.config import PRESETS, DiTConfig
from vgen.families.dit.denoiser import JOINT, LOCAL, SPACE, TIME, Attention, DiTDenoiser, Tokens, window_shape

LAYOUTS = ["factorised", "windowed", "full"]
TINY = PRESETS["dit-tiny"].model_dump()  # latents 4 × 5 × 8 × 8, hidden 64, depth 2, heads 4, patch 2, window 2


def tiny_config(num_classes: int = 0, resolution: int = 32, **denoiser: Any) -> DiTConfig:
    return DiTConfig.model_validate({**TINY, "num_classes": num_classes, "resolution": resolution,
                                     "denoiser": {**TINY["denoiser"], **denoiser}})


def tiny_net(layout: str, positions: str = "rope", *, perturbed: bool = True, num_classes: int = 0,
             **denoiser: Any) -> DiTDenoiser:
    torch.manual_seed(0)
    net = DiTDenoiser(tiny_config(num_classes, layout=layout, positions=positions, **denoiser)).eval()
    if perturbed:
        perturb_zero_init(net)
    return net


def perturb_zero_init(net: torch.nn.Module) -> None:
    """Random values in every all-zero parameter (AdaLN regressions, output layer, biases) so every path carries
    signal."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)


def latents(batch: int = 2, frames: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, 4, frames, 8, 8, generator=torch.Generator().manual_seed(seed))


T_STEPS = torch.tensor([10, 500])


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_shapes_and_zero_output_at_init(layout: str, positions: str) -> None:
    net = tiny_net(layout, positions, perturbed=False, num_classes=3)
    for frames in (1, 5):
        x = latents(frames=frames)
        mask = torch.zeros(2, 1, frames, 1, 1)
        mask[:, :, 0] = 1
        conds: list[dict[str, Any]] = [{}, {"known": latents(frames=frames, seed=1), "mask": mask},
                                       {"class_labels": torch.tensor([0, 3])}]
        for cond in conds:
            with torch.no_grad():
                out = net(x, T_STEPS, **cond)
            assert out.shape == x.shape
            assert not out.any(), "AdaLN-Zero: a fresh network outputs exactly zero"
    perturb_zero_init(net)
    with torch.no_grad():
        out = net(latents(), T_STEPS, class_labels=torch.tensor([0, 3]))
    assert out.shape == (2, 4, 5, 8, 8) and out.isfinite().all() and out.abs().mean() > 1e-3


def test_known_frames_enter_only_where_masked_and_labels_matter() -> None:
    net = tiny_net("factorised", num_classes=3)
    x, known = latents(), latents(seed=1)
    mask = torch.zeros(2, 1, 5, 1, 1)
    mask[:, :, :2] = 1
    with torch.no_grad():
        plain = net(x, T_STEPS)
        given = net(x, T_STEPS, known=known, mask=mask)
        unmasked_changed = net(x, T_STEPS, known=known + 5 * (1 - mask), mask=mask)
        masked_changed = net(x, T_STEPS, known=known + 5 * mask, mask=mask)
        labelled = net(x, T_STEPS, class_labels=torch.tensor([1, 2]))
    assert torch.equal(given, unmasked_changed)
    assert (given - plain).abs().max() > 1e-3 and (masked_changed - given).abs().max() > 1e-3
    assert (labelled - plain).abs().max() > 1e-3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_temporal_patches_pad_odd_frame_counts(layout: str) -> None:
    net = tiny_net(layout, patch_frames=2)
    for frames in (1, 5):
        with torch.no_grad():
            assert net(latents(frames=frames), T_STEPS).shape == (2, 4, frames, 8, 8)


def reference_window_attention(attn: Attention, x: torch.Tensor, role: str, tokens: Tokens,
                               moving: list[bool]) -> torch.Tensor:
    """Slow reference: full attention over all N tokens of each sample, masked to pairs in the same window (window
    ids from the token coordinates), then the output projection."""
    t, h, w = tokens.grid
    tt, rr, cc = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    q, k, v = (z.transpose(1, 2) for z in attn.project(x, None if tokens.rope is None else tokens.rope[role]))
    outs = []
    for i, move in enumerate(moving):
        wt, wh, ww = window_shape(role, tokens.grid, tokens.window, move)
        ids = torch.stack([tt // wt, rr // wh, cc // ww], dim=-1).reshape(-1, 3)
        same = (ids[:, None] == ids[None, :]).all(-1)
        outs.append(F.scaled_dot_product_attention(q[i:i + 1], k[i:i + 1], v[i:i + 1], attn_mask=same))
    return attn.proj(torch.cat(outs).transpose(1, 2).flatten(2))


@pytest.mark.parametrize("role", [SPACE, TIME, LOCAL, JOINT])
@pytest.mark.parametrize("motion", [None, "mixed"])
def test_window_reshapes_equal_block_diagonal_full_attention(role: str, motion: str | None) -> None:
    net = tiny_net("windowed" if role in (SPACE, LOCAL) else "full" if role == JOINT else "factorised", qk_norm=True)
    attn = net.blocks[1 if role == LOCAL else 0].attn[1 if role == TIME else 0]
    grid = (5, 4, 4)
    rope = net._rope(grid, torch.device("cpu"))
    moving = [True, True] if motion is None else [False, True]
    tokens = Tokens(grid, 2, rope, "moving", None, None)
    if motion:
        switch = torch.tensor(moving)
        tokens = Tokens(grid, 2, rope, "mixed", switch, (torch.tensor([1]), torch.tensor([0])))
    x = torch.randn(2, 80, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast, slow = attn(x, role, tokens), reference_window_attention(attn, x, role, tokens, moving)
    assert (fast - slow).abs().max() < 1e-5


def changed_frames(net: DiTDenoiser, motion: torch.Tensor | None, positions_changed: int = 2) -> torch.Tensor:
    """Per sample and frame, the largest output change when latent frame 2 of every sample is changed."""
    x = latents()
    y = x.clone()
    y[:, :, positions_changed] += torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        diff = net(y, T_STEPS, motion=motion) - net(x, T_STEPS, motion=motion)
    return diff.abs().amax(dim=(1, 3, 4))  # (B, T)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_motion_free_samples_keep_frames_independent(layout: str) -> None:
    net = tiny_net(layout)
    change = changed_frames(net, torch.tensor([False, True]))
    others = [0, 1, 3, 4]
    assert change[0, others].max() == 0, "still sample: other frames must not see frame 2"
    assert change[0, 2] > 1e-3
    assert change[1, others].min() > 1e-4, "moving sample: every frame sees frame 2"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("positions", ["rope", "learned"])
def test_motion_free_video_is_a_stack_of_images(layout: str, positions: str) -> None:
    net = tiny_net(layout, positions)
    x = latents()
    with torch.no_grad():
        video = net(x, T_STEPS, motion=False)
        images = torch.cat([net(x[:, :, i:i + 1], T_STEPS) for i in range(5)], dim=2)
        mixed = net(x, T_STEPS, motion=torch.tensor([True, False]))
    assert (video - images).abs().max() < 1e-5
    assert (mixed[1] - video[1]).abs().max() < 1e-5
    assert (mixed[0] - video[0]).abs().max() > 1e-3


@pytest.mark.parametrize("layout", LAYOUTS)
def test_frames_mix_in_both_directions_with_motion(layout: str) -> None:
    net = tiny_net(layout)
    for motion in (None, torch.tensor([True, True]), True):
        change = changed_frames(net, motion)
        assert change[:, 0].min() > 1e-4 and change[:, 4].min() > 1e-4  # before and after frame 2: no causality


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("motion", [None, [True, False]])
def test_samples_are_independent(layout: str, motion: list[bool] | None) -> None:
    net = tiny_net(layout)
    switch = None if motion is None else torch.tensor(motion)
    x = latents()
    y = x.clone()
    y[1] = torch.randn(4, 5, 8, 8)
    with torch.no_grad():
        a, b = net(x, T_STEPS, motion=switch), net(y, T_STEPS, motion=switch)
        alone = net(x[:1], T_STEPS[:1], motion=None if motion is None else switch[:1])
    assert (a[0] - b[0]).abs().max() < 1e-6 and (a[1] - b[1]).abs().max() > 1e-3
    assert (a[0] - alone[0]).abs().max() < 1e-5


def forward_flops(layout: str, frames: int) -> tuple[int, int]:
    """(total, attention) forward FLOPs on the meta device (FlopCounterMode counts SDPA there through its
    bmm decomposition; the CPU flash kernel is not counted at all). 64 × 64 tokens per frame, hidden 32."""
    config = tiny_config(resolution=256, layout=layout, hidden=32, heads=2, patch_size=1, window=2)
    with torch.device("meta"):
        net = DiTDenoiser(config)
        x = torch.empty(1, 4, frames, 64, 64)
        t = torch.zeros(1, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        net(x, t)
    counts = counter.get_flop_counts()["Global"]
    return counter.get_total_flops(), sum(v for op, v in counts.items() if "bmm" in str(op))


def test_windowed_flops_grow_linearly_full_quadratically() -> None:
    """4x the latent frames: windowed ≈ 4.17x (its T'×2×2 windows are quadratic in T' but small next to the
    4096-token frames), full ≈ 15.96x with its attention exactly 16x."""
    windowed = {frames: forward_flops("windowed", frames) for frames in (16, 64)}
    full = {frames: forward_flops("full", frames) for frames in (16, 64)}
    windowed_ratio = windowed[64][0] / windowed[16][0]
    full_ratio = full[64][0] / full[16][0]
    assert 4.0 <= windowed_ratio < 4.6
    assert full_ratio > windowed_ratio and full_ratio > 12
    assert full[64][1] / full[16][1] == pytest.approx(16.0, rel=1e-6)
    assert full[16][1] > 0.9 * full[16][0]  # the attention part dominates this config


@pytest.mark.parametrize("layout", ["factorised", "windowed"])
def test_gradient_checkpointing_gives_the_same_gradients(layout: str) -> None:
    grads = []
    for checkpointing in (False, True):
        net = tiny_net(layout, gradient_checkpointing=checkpointing).train()
        out = net(latents(), T_STEPS, motion=torch.tensor([True, False]))
        out.square().mean().backward()
        grads.append({name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 20
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], atol=1e-6), name


@pytest.mark.parametrize("layout", LAYOUTS)
def test_builds_on_meta_and_loads_its_state(layout: str) -> None:
    with torch.device("meta"):
        empty = DiTDenoiser(tiny_config(layout=layout, positions="learned", num_classes=2))
    net = tiny_net(layout, "learned", num_classes=2)
    assert {k: v.shape for k, v in empty.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
    empty.load_state_dict(net.state_dict(), assign=True)
    with torch.no_grad():
        assert torch.equal(empty(latents(), T_STEPS), net(latents(), T_STEPS))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_attention_call_takes_the_fused_kernel(layout: str, monkeypatch: pytest.MonkeyPatch) -> None:
    net = tiny_net(layout)
    calls: list[tuple[torch.Tensor, ...]] = []
    sdpa = F.scaled_dot_product_attention

    def recording(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append((q, k, v))
        return sdpa(q, k, v, *args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", recording)
    with torch.no_grad():
        net(latents(), T_STEPS, motion=torch.tensor([True, False]))
    assert calls
    for q, k, v in calls:
        assert q.dim() == 4 and all(z.is_contiguous() for z in (q, k, v)) and q.shape == k.shape == v.shape
    monkeypatch.undo()
    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        net(latents(), T_STEPS, motion=torch.tensor([True, False]))
    ops = {event.key for event in prof.key_averages()}
    assert "aten::_scaled_dot_product_flash_attention_for_cpu" in ops
    assert "aten::_scaled_dot_product_attention_math" not in ops


def test_bad_inputs_are_refused() -> None:
    net = tiny_net("windowed", "learned", max_frames=4)
    with pytest.raises(VgenError, match="max_frames"):
        net(latents(), T_STEPS)
    with pytest.raises(VgenError, match="motion"):
        net(latents(frames=3), T_STEPS, motion=torch.tensor([True, False, True]))
    with pytest.raises(VgenError, match="windows"):
        tiny_net("windowed", window=4)(torch.randn(1, 4, 3, 12, 12), T_STEPS[:1])
    with pytest.raises(VgenError, match="do not fit"):
        net(torch.randn(1, 4, 3, 7, 8), T_STEPS[:1])
    with pytest.raises(ValueError, match="multiple of the window"):
        tiny_config(layout="windowed", window=3)
