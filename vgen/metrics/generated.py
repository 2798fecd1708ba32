"""The fake set of ``vgen evaluate --model``: one video per seed from the model, and the window scored.

Each seed gives a video of ``start + span`` frames from :func:`vgen.pipelines.generate.sample_video`
(the same frames ``vgen sample`` makes for that seed); the scored clip is frames ``start`` to
``start + span - 1``, every ``stride``-th.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from vgen.errors import VgenError

if TYPE_CHECKING:
    from vgen.pipelines.model import LoadedModel
    from vgen.pipelines.settings import SamplerSettings


def generated_clips(model: "LoadedModel", seeds: list[int], *, start: int, frames: int, stride: int,
                    settings: "SamplerSettings", observe: Callable[[np.ndarray], None] | None = None
                    ) -> Iterator[np.ndarray]:
    """For each seed, the uint8 clip ``video[start : start + span : stride]`` of a freshly generated video.

    ``span = (frames - 1) * stride + 1``; ``observe`` sees each whole generated video.
    """
    from vgen.pipelines import generate

    span = (frames - 1) * stride + 1
    for seed in seeds:
        chunks, got = [], 0
        for chunk in generate.sample_video(model, settings, frames=start + span, seed=seed).chunks(None):
            chunks.append(chunk)
            got += len(chunk)
            if got >= start + span:
                break
        video = np.concatenate(chunks)[: start + span]
        if observe is not None:
            observe(video)
        yield video[start:start + span:stride]


def generation_boundaries(model: "LoadedModel", frames: int) -> tuple[int, int, int]:
    """Where ``sample_video`` starts new clips in a ``frames``-long video: (first boundary, then every, zone span).

    The first clip has the model's clip length; each later one adds the frames its method makes new
    (a whole clip for PVDM's latent conditioning, fewer when clips overlap on known frames). Clips that are
    cross-faded over k frames (PVDM with ``cond_overlap`` k) begin to show at frame S − k and take a zone of
    k + 1 transitions to replace the previous one (see ``vgen.metrics.seams``).
    """
    from vgen.pipelines.generate import long_video_method
    from vgen.pipelines.windows import new_frames_per_window

    method = long_video_method(model, None, frames)
    if method == "hierarchical":
        raise VgenError(f"{model.config.name} makes long videos hierarchically (keyframes, then in-betweens), "
                        "which has no fixed clip boundaries; pass --seam-every N")
    overlap = model.family.window_overlap(model, method)
    return model.clip_frames - overlap, new_frames_per_window(model, method), overlap + 1
