"""The ``--model`` fake set: the scored window of each generated video, and where generation puts clip seams."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pytest

from vgen.config import preset
from vgen.errors import VgenError
from vgen.metrics.generated import generated_clips, generation_boundaries
from vgen.pipelines.model import LoadedModel


def test_the_window_of_each_generated_video_is_scored(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int]] = []

    def numbered_video(model: Any, *, frames: int, seed: int, **kwargs: Any) -> Iterator[np.ndarray]:
        """Frames whose grey level is 100 * seed + frame index, in clips of 8 (more than asked, as a last clip can be)."""
        asked.append((frames, seed))
        for first in range(0, frames + 7, 8):
            yield np.stack([np.full((2, 2, 3), 100 * seed + t, np.uint8) for t in range(first, first + 8)])

    from vgen.pipelines.generate import Generation
    from vgen.pipelines.settings import SamplerSettings

    def numbered_generation(model, settings, *, frames, seed):
        return Generation("none", None, lambda callback: numbered_video(model, frames=frames, seed=seed))

    monkeypatch.setattr("vgen.pipelines.generate.sample_video", numbered_generation)
    whole: list[np.ndarray] = []
    clips = list(generated_clips(object(), [0, 1], start=5, frames=4, stride=2, settings=SamplerSettings(steps=1),  # type: ignore[arg-type]
                                 observe=whole.append))
    assert asked == [(12, 0), (12, 1)]  # start + (frames - 1) * stride + 1
    assert [[int(f[0, 0, 0]) for f in clip] for clip in clips] == [[5, 7, 9, 11], [105, 107, 109, 111]]
    assert [len(v) for v in whole] == [12, 12] and int(whole[1][0, 0, 0, 0]) == 100


def model(name: str) -> LoadedModel:
    return LoadedModel(preset(name), {}, "cpu")


def test_pvdm_seams_fall_every_clip() -> None:
    assert generation_boundaries(model("pvdm-tiny"), 128) == (8, 8, 1)


def test_overlapping_continuation_seams_fall_every_new_half_clip() -> None:
    # VDM continues (mask-trained: by its mask conditioning) on the last half clip: 4 new frames per 8-frame clip.
    assert generation_boundaries(model("vdm-tiny"), 128) == (8, 4, 1)


def test_hierarchical_generation_needs_an_explicit_seam_length() -> None:
    with pytest.raises(VgenError, match="--seam-every"):
        generation_boundaries(model("lvdm-tiny"), 128)
