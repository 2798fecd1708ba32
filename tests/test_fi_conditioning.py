"""FI conditioning: neighbouring keys and their blend, frame skips, training masks, augmentation, residual bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vgen.diffusion.parameterisation import Denoiser
from vgen.diffusion.schedules import schedule_from_config
from vgen.errors import VgenError
from vgen.families.fi.conditioning import (PARTIAL_SHARE, KeyConditioned, PixelBounds, augment, frame_skip,
                                           neighbours, training_masks)
from vgen.config import preset
from vgen.metrics.inbetween import blend


def _mask(frames: int, known: list[int], batch: int = 1) -> torch.Tensor:
    mask = torch.zeros(batch, 1, frames, 1, 1)
    mask[:, :, known] = 1
    return mask


def _generators(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed * 10_000 + i) for i in range(n)]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_blend_of_strided_keys_is_frame_blending(k: int) -> None:
    """At key spacing k the neighbours' blend is the frame blending `vgen evaluate --inbetween` compares against."""
    rng = np.random.default_rng(k)
    frames = 2 * k + 1
    video = rng.integers(0, 256, (frames, 6, 5, 3), dtype=np.uint8)
    as_tensor = torch.from_numpy(video).permute(3, 0, 1, 2)[None].double() / 127.5 - 1
    mask = _mask(frames, list(range(0, frames, k))).double()
    mixed = neighbours(as_tensor * mask, mask).blend
    expected = blend(video[::k], k).astype(np.float64) / 127.5 - 1
    assert np.abs(mixed[0].permute(1, 2, 3, 0).numpy() - expected).max() <= 0.5 / 127.5 + 1e-9  # 8-bit rounding


def test_neighbours_hold_the_nearest_key_outside_the_keys() -> None:
    frames = 6
    video = torch.arange(frames, dtype=torch.float).reshape(1, 1, frames, 1, 1).expand(1, 2, frames, 2, 2)
    keys = neighbours(video * _mask(frames, [1, 3]), _mask(frames, [1, 3]))
    assert keys.prev[0, 0, :, 0, 0].tolist() == [1, 1, 1, 3, 3, 3]
    assert keys.next[0, 0, :, 0, 0].tolist() == [1, 1, 3, 3, 3, 3]
    assert keys.w[0, 0, :, 0, 0].tolist() == [0, 0, 0.5, 0, 0, 0]
    assert keys.blend[0, 0, :, 0, 0].tolist() == [1, 1, 2, 3, 3, 3]


def test_neighbours_need_a_known_frame() -> None:
    with pytest.raises(VgenError, match="at least one known frame"):
        neighbours(torch.zeros(2, 3, 4, 2, 2), torch.cat([_mask(4, [0]), _mask(4, [])]))


def test_frame_skip_is_the_key_spacing() -> None:
    masks = torch.cat([_mask(9, [0, 2, 4, 6, 8]), _mask(9, [0, 4, 8]), _mask(9, [0, 3, 6]), _mask(9, [0, 1, 2]),
                       _mask(9, [5]), _mask(9, [0, 7])])
    assert frame_skip(masks).tolist() == [2, 4, 3, 1, 1, 7]
    with pytest.raises(VgenError, match="not evenly spaced"):
        frame_skip(_mask(9, [0, 2, 5]))


def test_training_masks_cover_interpolation_and_extrapolation() -> None:
    frames, n = 5, 4000
    masks, skips = training_masks(_generators(n), frames, 0.2, torch.device("cpu"))
    assert masks.shape == (n, 1, frames, 1, 1) and skips.shape == (n,)
    assert torch.equal(frame_skip(masks), skips)  # the skip drawn is the spacing of the keys drawn
    rows = [tuple(int(v) for v in row) for row in masks.flatten(1).tolist()]
    extrapolating = [r for r, k in zip(rows, skips.tolist()) if k == 1]
    assert 0.17 < len(extrapolating) / n < 0.23
    assert {r for r in extrapolating} == {tuple(int(t < j) for t in range(frames)) for j in range(1, frames)} | \
        {tuple(int(t >= frames - j) for t in range(frames)) for j in range(1, frames)}
    strided = [(r, k) for r, k in zip(rows, skips.tolist()) if k > 1]
    assert {k for _, k in strided} == {2, 3, 4}
    assert all(r[0] == 1 and sum(r) >= 2 for r, _ in strided)
    partial = sum(sum(r) < (frames - 1) // k + 1 for r, k in strided)  # only stride 2 can be cut (3 keys fit)
    twos = sum(k == 2 for _, k in strided)
    assert 0.5 * PARTIAL_SHARE < partial / twos < 1.5 * PARTIAL_SHARE


def test_training_masks_are_per_sample() -> None:
    """Row i depends only on generator i: the same generator gives the same row in any batch."""
    together, _ = training_masks(_generators(6, 3), 9, 0.2, torch.device("cpu"))
    alone, _ = training_masks(_generators(6, 3)[4:5], 9, 0.2, torch.device("cpu"))
    assert torch.equal(together[4:5], alone)


def test_augment_noises_only_the_known_frames() -> None:
    schedule = schedule_from_config(preset("fi-tiny").diffusion)
    video = torch.rand(2, 3, 5, 4, 4) * 2 - 1
    mask = _mask(5, [0, 2, 4], batch=2)
    noisy = augment(video * mask, mask, schedule, torch.tensor([0, 500]), _generators(2))
    assert torch.equal(noisy[:, :, [1, 3]], torch.zeros_like(noisy[:, :, [1, 3]]))
    err = (noisy - video * mask)[:, :, [0, 2, 4]].flatten(1).abs().mean(1)
    assert err[0] < 0.05 < 0.3 < err[1]


def test_pixel_bounds_keep_every_pixel_in_range() -> None:
    schedule = schedule_from_config(preset("fi-tiny").diffusion)
    base = torch.rand(1, 3, 5, 4, 4) * 2 - 1
    wild = Denoiser(lambda x, t: torch.full_like(x, 40.0), schedule, prediction="x0")
    pred = PixelBounds(wild, schedule, base, scale=4.0)(torch.randn(1, 3, 5, 4, 4), 500)
    frames = base + pred.x0 / 4.0
    assert torch.allclose(frames, torch.ones_like(frames))
    a, s = schedule.coefficients(500, frames)
    x_t = torch.randn(1, 3, 5, 4, 4)
    pred = PixelBounds(wild, schedule, base, scale=4.0)(x_t, 500)
    assert torch.allclose(a * pred.x0 + s * pred.eps, x_t, atol=1e-5)


def test_key_conditioned_reads_the_skip_and_keeps_the_given_frames() -> None:
    schedule = schedule_from_config(preset("fi-tiny").diffusion)
    seen = {}

    def unet(x, t, **kwargs):
        seen.update(kwargs)
        return torch.zeros_like(x)

    known = torch.rand(1, 3, 7, 4, 4) * 2 - 1
    mask = _mask(7, [0, 3, 6])
    bound = KeyConditioned(unet, schedule, known * mask, mask, residual_scale=4.0, aug_level=0,
                           generator=torch.Generator())
    bound(torch.zeros(1, 3, 7, 4, 4), torch.tensor([10]))
    assert seen["skip"].tolist() == [3] and seen["aug_level"] is None
    frames = bound.finalize(torch.zeros(1, 3, 7, 4, 4))
    assert torch.equal(frames[:, :, [0, 3, 6]], known[:, :, [0, 3, 6]])
    assert torch.allclose(frames, neighbours(known * mask, mask).blend)  # zero residual = blending
    augmented = KeyConditioned(unet, schedule, known * mask, mask, residual_scale=4.0, aug_level=100,
                               generator=torch.Generator().manual_seed(0))
    augmented(torch.zeros(1, 3, 7, 4, 4), torch.tensor([10]))
    assert seen["aug_level"].tolist() == [100] and not torch.equal(seen["known"], known * mask)
    assert torch.equal(augmented.finalize(torch.zeros(1, 3, 7, 4, 4))[:, :, [0, 3, 6]], known[:, :, [0, 3, 6]])
