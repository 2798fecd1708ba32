"""Long-video plans: index arithmetic for extension, hierarchical keys + interpolation, up-sampling."""

from __future__ import annotations

import pytest

from vgen.errors import VgenError
from vgen.sampling.plans import autoregressive_plan, hierarchical_plan, upsample_plan


def test_autoregressive_without_overlap_is_pvdm_clip_by_clip() -> None:
    plan = autoregressive_plan(128, 16)
    assert [(w.start, w.end) for w in plan.windows] == [(16 * i, 16 * i + 16) for i in range(8)]
    assert all(w.known == () for w in plan.windows) and plan.trim == 0


def test_autoregressive_with_overlap_and_trim() -> None:
    plan = autoregressive_plan(30, 16, overlap=8)
    assert [(w.start, w.end, w.known) for w in plan.windows] == [
        (0, 16, ()), (8, 24, tuple(range(8))), (16, 32, tuple(range(8)))]
    assert plan.length == 32 and plan.keep == 30 and plan.trim == 2
    assert plan.windows[1].unknown == tuple(range(8, 16))
    assert autoregressive_plan(5, 16).length == 16  # shorter than one clip: one clip, trimmed


@pytest.mark.parametrize("total, clip, overlap", [(0, 16, 0), (10, 16, 16), (10, 4, -1)])
def test_autoregressive_bad_input(total: int, clip: int, overlap: int) -> None:
    with pytest.raises(VgenError):
        autoregressive_plan(total, clip, overlap)


@pytest.mark.parametrize("frames", [16, 64, 128, 256, 100])
def test_hierarchical_matches_lvdm_key_arithmetic(frames: int) -> None:
    latents = frames // 4
    plan = hierarchical_plan(latents)
    num_keys = -(-(latents + 3) // 4)  # LVDM: keys = ceil((Tz + 3) / 4)
    n_pred = -(-(num_keys - 4) // 3) if num_keys > 4 else 0
    assert len(plan.keys.windows) == 1 + n_pred and plan.keys.keep == num_keys
    assert plan.keys.length == 4 + 3 * n_pred  # keys = 4 + 3n
    assert all(w.known == (0,) for w in plan.keys.windows[1:])
    windows = plan.interpolation.windows
    assert len(windows) == num_keys - 1  # every consecutive key pair, unlike LVDM's script
    assert [(w.start, w.end, w.known) for w in windows[:2]] == [(0, 5, (0, 4)), (4, 9, (0, 4))][: len(windows)]
    assert plan.interpolation.length == 4 * (num_keys - 1) + 1 >= latents
    covered = {w.start + i for w in windows for i in range(w.end - w.start)}
    assert covered == set(range(plan.interpolation.length))


def test_hierarchical_general_temporal_length() -> None:
    plan = hierarchical_plan(40, key_length=6, key_condition=2, interp_length=4)
    assert plan.stride == 3 and plan.keys.keep == 14 and plan.keys.length == 14  # ceil(39/3) + 1; 6 + 4n
    assert plan.keys.windows[1].start == 4 and plan.keys.windows[1].known == (0, 1)
    assert plan.interpolation.windows[-1].end == plan.interpolation.length == 40 == plan.interpolation.keep


def test_upsample_plan_covers_every_gap_with_known_frames() -> None:
    plan = upsample_plan(frames=9, factor=4, clip=9)
    assert plan.length == plan.keep == 33 and plan.trim == 0
    assert [(w.start, w.end) for w in plan.windows] == [(0, 9), (8, 17), (16, 25), (24, 33)]
    assert plan.windows[0].known == (0, 4, 8) and plan.windows[1].known == (0, 4, 8)
    plan = upsample_plan(frames=6, factor=3, clip=8)  # 2 gaps per window, last window shifted back
    assert plan.length == 16
    assert [(w.start, w.end) for w in plan.windows] == [(0, 8), (6, 14), (8, 16)]
    assert plan.windows[1].known == (0, 1, 3, 6) and plan.windows[2].known == tuple(range(6)) + (7,)
    for w in plan.windows:
        assert w.end - w.start == 8 and len(w.known) >= 2 and w.unknown


def test_upsample_plan_short_output_is_trimmed_and_bad_factor_rejected() -> None:
    plan = upsample_plan(frames=2, factor=2, clip=8)
    assert plan.windows[0].known == (0, 2) and plan.length == 8 and plan.keep == 3
    with pytest.raises(VgenError, match="factor"):
        upsample_plan(frames=4, factor=8, clip=8)
    with pytest.raises(VgenError):
        upsample_plan(frames=1, factor=2, clip=8)
