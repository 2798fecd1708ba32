"""Seams of clip-by-clip generation: the frame-to-frame change where one clip ends and the next begins.

A video made clip by clip has a *boundary* at every frame ``b`` that starts a new clip; its *seam* is
the transition from frame ``b - 1`` to frame ``b``. Every other transition is *inside* a clip. The
change of a transition is the mean absolute difference of the two frames over all pixels and the
three RGB channels, in grey levels (0-255). Over a set of videos this reports:

* ``seam_change`` and ``inside_change``: the mean change over all seams, and over all inside transitions;
* ``seam_ratio``: ``seam_change / inside_change`` (about 1 when clips join smoothly, as real video does);
* ``seam_jump_share``: the share of seams whose change exceeds ``JUMP_FACTOR`` times the median
  inside change of their own video (a scene reset rather than motion).

Clips that overlap and are cross-faded (PVDM trained with ``cond_overlap`` k) have no single seam transition:
the switch from one clip to the next is spread over a *zone* of ``span`` = k + 1 transitions, from the last frame
of the old clip alone to the first of the new clip alone. A seam's change is then the mean over its zone (what the
eye sees per frame), and ``seam_peak_change`` / ``seam_peak_ratio`` report the largest transition of each zone
(the stricter figure; even real video scores above 1 on it, since the largest of k + 1 transitions exceeds their
mean); jumps are counted on the peak. Every zone transition is excluded from the inside ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

JUMP_FACTOR = 3.0
CHANGE = "mean |x[t+1] - x[t]| over pixels and RGB channels, grey levels 0-255"


def frame_changes(video: np.ndarray) -> np.ndarray:
    """The change of each transition ``t -> t + 1`` of a uint8 ``(T, H, W, 3)`` video: float64 ``(T - 1,)``."""
    return np.array([np.abs(video[t + 1].astype(np.int16) - video[t].astype(np.int16)).mean()
                     for t in range(len(video) - 1)], dtype=np.float64)


def boundaries(length: int, first: int, every: int) -> list[int]:
    """Frames of a ``length``-frame video that start a new clip: ``first``, ``first + every``, ..."""
    return list(range(first, length, every))


@dataclass
class SeamReport:
    """Seam statistics accumulated video by video; clips start at ``first``, then every ``every`` frames.

    ``first`` and ``every`` are at least 2, so every video with a seam has an inside transition
    (the first clip's) to compare it with.
    """

    first: int
    every: int
    span: int = 1
    videos: int = 0
    seam_changes: list[float] = field(default_factory=list)
    seam_peaks: list[float] = field(default_factory=list)
    inside_changes: list[float] = field(default_factory=list)
    jumps: int = 0

    def __post_init__(self) -> None:
        if self.first < 2 or self.every < 2:
            raise ValueError(f"clips must be at least 2 frames long (first={self.first}, every={self.every})")
        if not 1 <= self.span < self.every:
            raise ValueError(f"a seam zone of {self.span} transitions must be shorter than a clip step of {self.every}")

    def add(self, video: np.ndarray) -> None:
        """Add the transitions of one uint8 ``(T, H, W, 3)`` video."""
        changes = frame_changes(video)
        zones = [range(b - 1, min(b - 1 + self.span, len(changes)))
                 for b in boundaries(len(video), self.first, self.every)]
        at_seam = np.zeros(len(changes), dtype=bool)
        for zone in zones:
            at_seam[list(zone)] = True
        inside = changes[~at_seam]
        means = np.array([changes[list(zone)].mean() for zone in zones])
        peaks = np.array([changes[list(zone)].max() for zone in zones])
        if len(peaks):
            self.jumps += int((peaks > JUMP_FACTOR * np.median(inside)).sum())
        self.seam_changes += means.tolist()
        self.seam_peaks += peaks.tolist()
        self.inside_changes += inside.tolist()
        self.videos += 1

    def scores(self) -> dict[str, float | None]:
        """``seam_change``, ``inside_change``, ``seam_ratio`` and ``seam_jump_share``; ``None`` where undefined."""
        seam = float(np.mean(self.seam_changes)) if self.seam_changes else None
        inside = float(np.mean(self.inside_changes)) if self.inside_changes else None
        scores = {
            "seam_change": seam,
            "inside_change": inside,
            "seam_ratio": seam / inside if seam is not None and inside else None,
            "seam_jump_share": self.jumps / len(self.seam_changes) if self.seam_changes else None,
        }
        if self.span > 1:
            peak = float(np.mean(self.seam_peaks)) if self.seam_peaks else None
            scores["seam_peak_change"] = peak
            scores["seam_peak_ratio"] = peak / inside if peak is not None and inside else None
        return scores

    def protocol(self) -> dict[str, Any]:
        """How the scores were measured, with the counts behind them."""
        zone = {"span": self.span} if self.span > 1 else {}
        return {"first_boundary": self.first, "every": self.every, **zone, "videos": self.videos,
                "seams": len(self.seam_changes), "inside_transitions": len(self.inside_changes),
                "change": CHANGE,
                "jump": f"seam {'peak ' if self.span > 1 else ''}change > {JUMP_FACTOR:g}x its video's median inside change"}
