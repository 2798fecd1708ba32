"""What a dataset scan found: counts for the training CLI's one warning line and ``--json``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class DatasetReport:
    """Counts from building a dataset.

    ``found`` candidate videos (files and frame folders) were considered for the split; ``usable``
    became items; ``unreadable`` could not be opened or decoded; ``too_short`` were skipped for
    having fewer frames than a clip spans (``short="skip"``); ``padded`` are kept but shorter than a
    clip (``short="pad"``); ``missing`` are listed in a split file but absent from disk.
    ``problems`` holds up to 20 ``(path, reason)`` examples of skipped videos.
    """

    root: str
    layout: str
    split: str
    clip_frames: int
    found: int = 0
    usable: int = 0
    unreadable: int = 0
    too_short: int = 0
    padded: int = 0
    missing: int = 0
    class_names: Optional[list[str]] = None
    problems: list[tuple[str, str]] = field(default_factory=list)

    MAX_PROBLEMS = 20

    def skip(self, path: str, reason: str) -> None:
        """Record one skipped video (its counter is incremented by the caller)."""
        if len(self.problems) < self.MAX_PROBLEMS:
            self.problems.append((path, reason))

    @property
    def num_classes(self) -> int:
        """Number of class labels (0 = unlabelled)."""
        return len(self.class_names) if self.class_names else 0

    def warning(self) -> Optional[str]:
        """One line about skipped, padded or missing videos, or None when everything was usable."""
        parts = []
        if self.unreadable:
            parts.append(f"{self.unreadable} unreadable")
        if self.too_short:
            parts.append(f"{self.too_short} too short (< {self.clip_frames} frames)")
        if self.missing:
            parts.append(f"{self.missing} listed in the split file but missing")
        text = f"skipped {self.unreadable + self.too_short} of {self.found} videos in {self.root}: " + ", ".join(parts) if parts else ""
        if self.padded:
            padded = f"{self.padded} shorter than {self.clip_frames} frames were padded by repeating the last frame"
            text = f"{text}; {padded}" if text else f"{padded} (in {self.root})"
        if not text:
            return None
        example = f" (e.g. {self.problems[0][0]}: {self.problems[0][1]})" if self.problems else ""
        return text + example

    def summary(self) -> str:
        """One informational line: how many clips from where."""
        classes = f", {self.num_classes} classes" if self.num_classes else ""
        return f"dataset {self.root} ({self.layout}, split {self.split}): {self.usable} videos{classes}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["problems"] = [list(p) for p in self.problems]
        data["num_classes"] = self.num_classes
        return data
