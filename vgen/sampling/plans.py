"""Long-video plans: which windows of frames (or latents) to generate, in order, and what each one
is conditioned on. Pure index arithmetic; pipelines run a sampler per window.

Conventions: a ``Window`` covers output indices [start, end) and has exactly the model's clip
length; ``known`` lists window-relative indices whose content already exists when the window is
generated (given frames, or frames produced by earlier windows) and must be imposed as conditioning.
A plan generates ``length`` indices and the result is the first ``keep`` of them (``trim`` = the
surplus generated only because windows come in whole clips).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vgen.errors import VgenError


@dataclass(frozen=True)
class Window:
    """Generate output indices [start, end); window-relative ``known`` indices are conditioning."""

    start: int
    end: int
    known: tuple[int, ...]

    @property
    def unknown(self) -> tuple[int, ...]:
        """Window-relative indices the sampler has to produce."""
        return tuple(i for i in range(self.end - self.start) if i not in self.known)


@dataclass(frozen=True)
class IndexPlan:
    """Windows in generation order; ``length`` indices are generated, the first ``keep`` are returned."""

    windows: tuple[Window, ...]
    length: int
    keep: int

    @property
    def trim(self) -> int:
        return self.length - self.keep


@dataclass(frozen=True)
class HierarchicalPlan:
    """LVDM-style long video: key latents first (``keys``, in key units), then ``interpolation``
    windows (in latent units) that fill ``stride − 1`` latents between consecutive keys; key j sits at
    latent index j·stride."""

    keys: IndexPlan
    interpolation: IndexPlan
    stride: int


def _positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise VgenError(f"{name} must be at least 1 (got {value}); pass a positive value")


def autoregressive_plan(total: int, clip: int, overlap: int = 0) -> IndexPlan:
    """Extend clip by clip: each window after the first re-uses the last ``overlap`` indices of the
    previous one as known conditioning and adds ``clip − overlap`` new ones (VDM extension with
    overlap; PVDM is overlap 0, its conditioning being the previous clip's latent).

    Generated length is clip + k·(clip − overlap) >= total, the smallest such; the rest is trimmed.
    """
    _positive(total=total, clip=clip)
    if not 0 <= overlap < clip:
        raise VgenError(f"overlap must be in [0, clip length {clip}) (got {overlap}); lower --overlap")
    windows = [Window(0, clip, ())]
    while windows[-1].end < total:
        start = windows[-1].end - overlap
        windows.append(Window(start, start + clip, tuple(range(overlap))))
    return IndexPlan(tuple(windows), windows[-1].end, total)


def hierarchical_plan(total: int, key_length: int = 4, key_condition: int = 1,
                      interp_length: int = 5) -> HierarchicalPlan:
    """LVDM's hierarchical long-video plan (lvdm-vdm.md §A.4), in latent index units.

    A prediction model of temporal length ``key_length`` makes keys autoregressively, each step
    conditioned on the last ``key_condition`` keys: keys = L + (L − c)·n. An interpolation model of
    length ``interp_length`` (ends given) fills the ``interp_length − 2`` latents between EVERY pair
    of consecutive keys (LVDM's script skips some pairs; this does not). With the defaults (4, 1, 5):
    keys = ceil((total + 3)/4), final latents = 4·(keys − 1) + 1.
    """
    _positive(total=total, key_length=key_length)
    if interp_length < 3:
        raise VgenError(f"interpolation length must be at least 3 (got {interp_length})")
    stride = interp_length - 1
    num_keys = max(math.ceil((total - 1) / stride) + 1, 2)
    keys = autoregressive_plan(num_keys, key_length, key_condition)
    windows = tuple(Window(i * stride, i * stride + interp_length, (0, interp_length - 1)) for i in range(num_keys - 1))
    return HierarchicalPlan(keys=keys, interpolation=IndexPlan(windows, (num_keys - 1) * stride + 1, total), stride=stride)


def upsample_plan(frames: int, factor: int, clip: int) -> IndexPlan:
    """Temporal up-sampling by ``factor``: input frame i goes to output index i·factor, output length
    (frames − 1)·factor + 1. Windows of the model's clip length start on a known frame and span
    floor((clip − 1)/factor) gaps; each window's known indices are the input frames inside it plus
    anything earlier windows produced. The last window is shifted back to end at the output's end
    (more context, no waste); only an output shorter than one clip is generated to a clip and trimmed.
    """
    _positive(frames=frames, factor=factor, clip=clip)
    if frames < 2:
        raise VgenError("temporal up-sampling needs at least 2 input frames")
    gaps_per_window = (clip - 1) // factor
    if gaps_per_window < 1:
        raise VgenError(f"clip length {clip} cannot hold two known frames {factor} apart; use --factor < {clip}")
    length = (frames - 1) * factor + 1
    available = set(range(0, length, factor))
    windows: list[Window] = []
    start = 0
    while True:
        end = start + clip
        if end > length and length >= clip:
            start, end = length - clip, length
        windows.append(Window(start, end, tuple(i - start for i in range(start, min(end, length)) if i in available)))
        available |= set(range(start, min(end, length)))
        if end >= length:
            return IndexPlan(tuple(windows), max(end, length), length)
        start += gaps_per_window * factor
