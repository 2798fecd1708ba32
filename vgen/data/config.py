"""How to turn a folder of videos into training clips (pydantic, no torch here)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from vgen.config.base import StrictModel

Layout = Literal["auto", "folder", "ucf", "sky"]
Split = Literal["train", "test", "all"]
ShortPolicy = Literal["skip", "pad"]


class VideoDataConfig(StrictModel):
    """Clip sampling and dataset layout for ``VideoFolderDataset``.

    A clip is ``frames`` frames taken every ``stride`` frames (after resampling to ``fps`` when set)
    from a random start, scaled so the shorter side is ``resolution`` and centre-cropped square.
    """

    frames: int = Field(ge=1, description="frames per clip")
    resolution: int = Field(ge=8, description="square clip size: shorter side scaled to this, then centre-cropped")
    stride: int = Field(1, ge=1, description="take every stride-th frame (a clip spans (frames-1)*stride+1 frames)")
    fps: Optional[float] = Field(None, gt=0, description="resample video files to this rate first; None = native")
    short: ShortPolicy = Field(
        "skip", description="videos shorter than a clip: skip them, or pad by repeating the last frame (masked)"
    )
    layout: Layout = Field("auto", description="auto-detect, a plain folder, UCF-101, or SkyTimelapse")
    split: Split = Field("train", description="which split of a UCF-101 or train/test layout to use")
    fold: int = Field(1, ge=1, le=3, description="UCF-101 official split fold (trainlist0N/testlist0N)")
    seed: int = Field(0, ge=0, description="clip starts are a function of (seed, epoch, index)")
    cache_dir: Optional[str] = Field(None, description="cache decoded, fitted videos here as .npy (uint8)")

    @property
    def span(self) -> int:
        """Source frames (at the target fps) one clip covers."""
        return (self.frames - 1) * self.stride + 1
