"""sample_video / extend_video / interpolate_video on tiny untrained models (in-process, CPU)."""

from __future__ import annotations

import numpy as np
import pytest

from test_pipelines_model import tiny_model
from vgen.errors import VgenError
from vgen.pipelines.generate import extend_video, interpolate_video, min_input_frames, sample_video
from vgen.pipelines.settings import SamplerSettings

STEPS = 2
FAST = SamplerSettings(sampler="ddim", steps=STEPS)
MODELS: dict[str, object] = {}


def model(name: str):
    if name not in MODELS:
        MODELS[name] = tiny_model(name)
    return MODELS[name]


def video(name: str, frames: int, seed: int = 0, **kw) -> list[np.ndarray]:
    return list(sample_video(model(name), SamplerSettings(steps=STEPS, **kw), frames=frames, seed=seed).chunks(None))


def count_clips(m, frames: int, method=None) -> int:
    return sample_video(m, SamplerSettings(method=method), frames=frames).windows


@pytest.mark.parametrize("name,method", [
    ("pvdm-tiny", "latent"), ("pvdm-tiny", "reconstruction"),
    ("vdm-tiny", "reconstruction"), ("vdm-tiny", "replacement"), ("vdm-tiny", "mask"),
    ("lvdm-tiny", "hierarchical"), ("lvdm-tiny", "autoregressive"),
])
def test_every_long_video_method_trims_to_the_requested_length(name: str, method: str) -> None:
    m = model(name)
    frames = m.clip_frames + 3  # not a whole number of clips
    chunks = video(name, frames, method=method)
    out = np.concatenate(chunks)
    assert out.shape == (frames, m.resolution, m.resolution, 3) and out.dtype == np.uint8
    # Streamed clip by clip: one chunk per sampler run that produces new frames.
    assert 2 <= len(chunks) <= count_clips(m, frames, method)
    assert out.std() > 0


def test_progress_counts_clips_times_steps() -> None:
    m = model("vdm-tiny")
    seen: list[tuple[int, int]] = []
    list(sample_video(m, FAST, frames=m.clip_frames + 1, seed=0).chunks(
        lambda done, total, info: seen.append((done, total))))
    total = count_clips(m, m.clip_frames + 1) * STEPS
    assert seen[-1] == (total, total)
    assert [d for d, _ in seen] == list(range(1, total + 1))


def test_same_seed_same_video_other_seed_other_video() -> None:
    a, b, c = (np.concatenate(video("pvdm-tiny", 10, seed=s)) for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_guidance_changes_conditioned_clips_only() -> None:
    m = model("pvdm-tiny")
    plain = np.concatenate(video("pvdm-tiny", 2 * m.clip_frames, seed=1))
    guided = np.concatenate(video("pvdm-tiny", 2 * m.clip_frames, seed=1, guidance=2.0))
    first = slice(0, m.clip_frames)
    assert np.array_equal(plain[first], guided[first])        # first clip: null condition either way
    assert not np.array_equal(plain[m.clip_frames:], guided[m.clip_frames:])


def test_non_positive_frames_is_a_user_error() -> None:
    with pytest.raises(VgenError, match="--frames"):
        video("vdm-tiny", 0)


@pytest.mark.parametrize("name", ["pvdm-tiny", "vdm-tiny", "lvdm-tiny"])
def test_extend_passes_input_through_then_adds_frames(name: str) -> None:
    m = model(name)
    given = np.concatenate(video(name, m.clip_frames, seed=7))
    chunks = [given[:3], given[3:]]
    out = np.concatenate(list(extend_video(m, chunks, FAST, frames=5, seed=0).chunks(None)))
    assert out.shape[0] == m.clip_frames + 5
    assert np.array_equal(out[: m.clip_frames], given)
    new = np.concatenate(list(extend_video(m, chunks, FAST, frames=5, seed=0, only_new=True).chunks(None)))
    assert np.array_equal(new, out[m.clip_frames:])


@pytest.mark.parametrize("name,method", [
    ("pvdm-tiny", "reconstruction"), ("vdm-tiny", "replacement"), ("vdm-tiny", "mask"),
    ("lvdm-tiny", "reconstruction"), ("lvdm-tiny", "replacement"),
])
def test_extend_with_each_other_method(name: str, method: str) -> None:
    m = model(name)
    given = np.concatenate(video(name, m.clip_frames, seed=2))
    out = np.concatenate(list(extend_video(m, [given], SamplerSettings(steps=STEPS, method=method),
                                           frames=m.clip_frames + 1, seed=0).chunks(None)))
    assert out.shape[0] == 2 * m.clip_frames + 1
    assert np.array_equal(out[: m.clip_frames], given)


def test_extend_too_short_input_names_the_minimum_and_yields_nothing() -> None:
    m = model("pvdm-tiny")
    need = min_input_frames(m)
    short = np.zeros((need - 1, m.resolution, m.resolution, 3), np.uint8)
    produced = []
    with pytest.raises(VgenError, match=f"at least {need}"):
        for chunk in extend_video(m, [short], FAST, frames=4, seed=0).chunks(None):
            produced.append(chunk)
    assert produced == []


@pytest.mark.parametrize("name,method", [
    ("vdm-tiny", "mask"), ("vdm-tiny", "replacement"), ("vdm-tiny", "reconstruction"),
    ("lvdm-tiny", "reconstruction"),
])
def test_interpolation_keeps_keys_exactly_and_counts_frames(name: str, method: str) -> None:
    m = model(name)
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, (5, m.resolution, m.resolution, 3), dtype=np.uint8)
    between = 2
    out = np.concatenate(list(interpolate_video(m, [keys[:2], keys[2:]], SamplerSettings(steps=STEPS, method=method),
                                                between=between, seed=0).chunks(None)))
    assert out.shape[0] == (len(keys) - 1) * (between + 1) + 1
    assert np.array_equal(out[:: between + 1], keys)


def test_interpolation_without_keep_uses_the_model_output() -> None:
    m = model("lvdm-tiny")
    keys = np.random.default_rng(1).integers(0, 256, (2, m.resolution, m.resolution, 3), dtype=np.uint8)
    out = np.concatenate(list(interpolate_video(m, [keys], FAST, between=1, seed=0, keep=False).chunks(None)))
    assert out.shape[0] == 3 and not np.array_equal(out[[0, 2]], keys)


def test_interpolation_refusals() -> None:
    keys = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(VgenError, match="cannot interpolate.*VDM or LVDM"):
        list(interpolate_video(model("pvdm-tiny"), [keys], FAST, between=1, seed=0).chunks(None))
    with pytest.raises(VgenError, match="span 2 frames; use --method reconstruction"):
        list(interpolate_video(model("lvdm-tiny"), [keys], SamplerSettings(steps=STEPS, method="mask"), between=1,
                               seed=0).chunks(None))
    with pytest.raises(VgenError, match="at most 6"):
        list(interpolate_video(model("vdm-tiny"), [keys[:, :16, :16]], FAST, between=7, seed=0).chunks(None))
    with pytest.raises(VgenError, match="at least two key frames"):
        list(interpolate_video(model("vdm-tiny"), [keys[:1, :16, :16]], FAST, between=1, seed=0).chunks(None))
