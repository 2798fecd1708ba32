"""VDM training masks with strided key frames (``p_keys``), what ``interpolate --factor r`` conditions on."""

from __future__ import annotations

import torch

from vgen.config import preset
from vgen.families.vdm.objectives import KEY_STRIDES, known_frame_mask


def _generators(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed * 1000 + i) for i in range(n)]


def test_p_keys_zero_keeps_vdm_masks_and_later_draws():
    """p_keys = 0 draws nothing extra: the masks and every later random number are those of VDM's masks."""
    a, b = _generators(64), _generators(64)
    plain = known_frame_mask(a, 8, torch.device("cpu"))
    zero = known_frame_mask(b, 8, torch.device("cpu"), p_keys=0.0)
    assert torch.equal(plain, zero)
    assert [torch.rand(1, generator=g).item() for g in a] == [torch.rand(1, generator=g).item() for g in b]
    rows = plain.flatten(1)
    kinds = {tuple(r.tolist()) for r in rows}
    assert all(r == (0.0,) * 8 or r[0] == 1.0 for r in kinds)  # none, first k, or both ends


def test_p_keys_rows_are_strided_from_the_first_frame():
    masks = known_frame_mask(_generators(3000, 1), 8, torch.device("cpu"), p_keys=0.5).flatten(1)
    strided = {tuple(float(t % r == 0) for t in range(8)): r for r in KEY_STRIDES}
    counts = {r: 0 for r in KEY_STRIDES}
    for row in masks.tolist():
        if tuple(row) in strided:
            counts[strided[tuple(row)]] += 1
    share = sum(counts.values()) / len(masks)
    assert 0.45 < share < 0.55  # p_keys = 0.5 (no VDM mask is a strided one for T = 8)
    assert all(c > 350 for c in counts.values())  # every stride is drawn
    every = known_frame_mask(_generators(200, 2), 8, torch.device("cpu"), p_keys=1.0).flatten(1)
    assert all(tuple(r) in strided for r in every.tolist())


def test_vdm_mini_preset_trains_on_key_masks():
    cfg = preset("vdm-mini")
    assert cfg.family == "vdm" and cfg.p_keys > 0 and cfg.frames == 8 and cfg.resolution == 32
    assert cfg.diffusion.prediction == "v" and cfg.unet.conditional_frames
