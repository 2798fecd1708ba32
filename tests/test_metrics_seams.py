"""Seam report on constructed videos whose frame changes are known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from vgen.metrics.seams import SeamReport, boundaries, frame_changes


def flat_video(levels: list[int], size: int = 4) -> np.ndarray:
    """A uint8 video whose frame t is a flat field of grey level ``levels[t]``."""
    return np.stack([np.full((size, size, 3), level, dtype=np.uint8) for level in levels])


def test_frame_changes_are_mean_absolute_differences_in_grey_levels() -> None:
    video = flat_video([0, 10, 4, 255])
    video[1, 0, 0, 0] = 26  # one channel of one of 16 pixels: +16 / 48 values
    np.testing.assert_allclose(frame_changes(video), [10 + 16 / 48, 6 + 16 / 48, 251])


def test_boundaries_start_each_clip() -> None:
    assert boundaries(12, 4, 4) == [4, 8]
    assert boundaries(13, 4, 4) == [4, 8, 12]
    assert boundaries(14, 8, 4) == [8, 12]
    assert boundaries(4, 4, 4) == []


def test_seam_report_on_videos_with_known_jumps() -> None:
    # Clips of 4 frames; inside a clip the level rises by 1 a frame; at each seam it jumps.
    smooth = flat_video([0, 1, 2, 3, 5, 6, 7, 8, 10, 11, 12, 13])       # seams of 2: below 3x the median 1
    reset = flat_video([0, 1, 2, 3, 13, 14, 15, 16, 26, 27, 28, 29])    # seams of 10: scene resets
    report = SeamReport(first=4, every=4)
    report.add(smooth)
    report.add(reset)
    scores = report.scores()
    assert scores["seam_change"] == pytest.approx((2 + 2 + 10 + 10) / 4)
    assert scores["inside_change"] == pytest.approx(1.0)
    assert scores["seam_ratio"] == pytest.approx(6.0)
    assert scores["seam_jump_share"] == pytest.approx(0.5)
    proto = report.protocol()
    assert proto["videos"] == 2 and proto["seams"] == 4 and proto["inside_transitions"] == 18


def test_jumps_are_judged_against_each_videos_own_median() -> None:
    # The same seam change of 9 is a jump in a calm video (median 1) and not in a busy one (median 4).
    calm = flat_video([0, 1, 2, 11, 12, 13])
    busy = flat_video([0, 4, 8, 17, 21, 25])
    report = SeamReport(first=3, every=3)
    report.add(calm)
    report.add(busy)
    assert report.scores()["seam_jump_share"] == pytest.approx(0.5)


def test_overlapping_clips_place_later_seams_closer() -> None:
    # A first clip of 8 frames, then 4 new frames per clip (continuation with 4 known frames).
    levels = list(range(8)) + [20, 21, 22, 23] + [40, 41, 42]
    report = SeamReport(first=8, every=4)
    report.add(flat_video(levels))
    assert report.seam_changes == [13.0, 17.0]
    assert report.inside_changes == [1.0] * 12


def test_real_like_video_has_ratio_one_and_no_jumps() -> None:
    report = SeamReport(first=4, every=4)
    report.add(flat_video(list(range(0, 60, 3))))
    scores = report.scores()
    assert scores["seam_ratio"] == pytest.approx(1.0) and scores["seam_jump_share"] == 0.0


def test_undefined_scores_are_none() -> None:
    report = SeamReport(first=8, every=8)
    report.add(flat_video([0, 1, 2]))  # no seam reached
    assert report.scores()["seam_change"] is None and report.scores()["seam_jump_share"] is None
    still = SeamReport(first=2, every=2)
    still.add(flat_video([5, 5, 9, 9]))  # no motion inside clips: the ratio is undefined, the jump is not
    assert still.scores()["seam_ratio"] is None and still.scores()["seam_jump_share"] == 1.0
    with pytest.raises(ValueError):
        SeamReport(first=1, every=4)
