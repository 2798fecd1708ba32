"""PVDM with overlapping clips (``cond_overlap``): training pairs, the cross-faded long video, seams, the options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from test_pipelines_model import tiny_networks
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.config import config_from_json
from vgen.diffusion.schedules import make_schedule
from vgen.families import family_of
from vgen.families.pvdm.conditioning import aligned_condition, fit_shared_plane
from vgen.families.pvdm.planes import join_planes, plane_sizes, split_planes
from vgen.io.video import tensor_to_frames
from vgen.metrics.generated import generation_boundaries
from vgen.metrics.seams import SeamReport
from vgen.pipelines.generate import extend_video, sample_video
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.settings import SamplerSettings
from vgen.training.trainer import Batch

FAST = SamplerSettings(sampler="ddim", steps=2)
OVERLAP = 2  # pvdm-tiny makes 8-frame clips: 6 new frames per window


def with_overlap(config, overlap: int):
    return config_from_json(json.dumps({**json.loads(config.model_dump_json()), "cond_overlap": overlap}))


def overlapping_model() -> LoadedModel:
    config, networks = tiny_networks("pvdm-tiny")
    return LoadedModel(with_overlap(config, OVERLAP), networks, "cpu")


def recording(model: LoadedModel) -> list[torch.Tensor]:
    """Record every window's decoded frames."""
    decoded: list[torch.Tensor] = []
    decode = model.decode

    def record(latent, clamp=True):
        video = decode(latent, clamp=clamp)
        if clamp:  # the windows' frames, not the fit's unclamped decodes
            decoded.append(video.clone())
        return video

    model.decode = record  # type: ignore[method-assign]
    return decoded


def fade(old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
    weight = torch.arange(1, OVERLAP + 1, dtype=new.dtype).div(OVERLAP + 1).reshape(1, 1, -1, 1, 1)
    return old * (1 - weight) + new * weight


def test_overlap_is_validated_and_defaults_to_the_papers_consecutive_clips() -> None:
    config, _ = tiny_networks("pvdm-tiny")
    assert config.cond_overlap == 0
    assert with_overlap(config, 4).cond_overlap == 4
    with pytest.raises(Exception, match="at most half the clip"):
        with_overlap(config, 5)


@pytest.mark.parametrize("cond_prob", [1.0, 0.0])
def test_training_pairs_share_the_overlap(cond_prob: float) -> None:
    config, networks = tiny_networks("pvdm-tiny")
    config = config_from_json(json.dumps({**json.loads(with_overlap(config, OVERLAP).model_dump_json()),
                                          "cond_prob": cond_prob}))
    family = family_of(config)
    s = config.frames
    assert family.clip_frames(config, "diffusion") == 2 * s - OVERLAP
    # Frame t of the training clip is a flat field of value t / 100: what the encoder sees names the frames.
    seen: list[list[list[int]]] = []
    encode = networks["autoencoder"].encode

    def spy(video):
        seen.append([[round(v * 100) for v in row[0, :, 0, 0].tolist()] for row in video])
        return encode(video)

    networks["autoencoder"].encode = spy  # type: ignore[method-assign]
    frames = torch.arange(2 * s - OVERLAP, dtype=torch.float32).div(100)
    clip = frames.reshape(1, 1, -1, 1, 1).expand(2, 3, -1, config.resolution, config.resolution).contiguous()
    objective = family.diffusion_objective(config, networks, make_schedule("linear", 1000), 0.0)
    for seed in range(4):
        seen.clear()
        gens = [torch.Generator().manual_seed(seed * 2 + i) for i in range(2)]
        objective(Batch(video=clip, labels=None, step=0), gens)
        assert seen[0] == [list(range(s))] * 2  # the condition: the first clip
        assert all(row == list(range(row[0], row[0] + s)) for row in seen[1])
        starts = [row[0] for row in seen[1]]
        if cond_prob == 1.0:
            assert starts == [s - OVERLAP] * 2  # the conditioned clip starts OVERLAP frames before the first ends
        else:
            assert all(0 <= start <= s - OVERLAP for start in starts)


def test_condition_is_time_aligned_with_the_clip_it_conditions() -> None:
    sizes = plane_sizes(8, 16, 4)  # S = 8 frames, 4 x 4 tokens
    xy = torch.randn(1, 2, 4, 4)
    yt = torch.arange(8.0).reshape(1, 1, 8, 1).expand(1, 2, 8, 4)  # row t holds t
    xt = yt + 100
    rolled = split_planes(aligned_condition(join_planes(xy, yt, xt), sizes, OVERLAP), sizes)
    assert torch.equal(rolled[0], xy)
    # The last OVERLAP frames of the previous clip come first, where the next clip has them.
    assert rolled[1][0, 0, :, 0].tolist() == [6, 7, 0, 1, 2, 3, 4, 5]
    assert rolled[2][0, 0, :, 0].tolist() == [106, 107, 100, 101, 102, 103, 104, 105]
    latent = join_planes(xy, yt, xt)
    assert aligned_condition(latent, sizes, 0) is latent  # the paper's consecutive clips: as it was


def test_sampling_conditions_each_window_on_the_aligned_latent_of_the_one_before() -> None:
    model = overlapping_model()
    latents: list[torch.Tensor] = []
    conds: list[torch.Tensor] = []
    decode, forward = model.decode, model.unet.forward

    def record_latent(latent, clamp=True):
        if clamp:
            latents.append(latent.clone())
        return decode(latent, clamp=clamp)

    def record_cond(z_t, t, *, cond=None, **kw):
        conds.append(None if cond is None else cond.clone())
        return forward(z_t, t, cond=cond, **kw)

    model.decode = record_latent  # type: ignore[method-assign]
    model.unet.forward = record_cond  # type: ignore[method-assign]
    list(sample_video(model, FAST, frames=model.clip_frames + 1, seed=0).chunks(None))
    assert conds[0] is None or not conds[0].any()  # the first clip: the null condition
    expected = aligned_condition(latents[0], model.unet.sizes, OVERLAP)
    assert all(torch.equal(c, expected) for c in conds[FAST.steps:])


def test_fit_moves_only_the_shared_plane_towards_the_known_frames() -> None:
    model = overlapping_model()
    sizes = model.unet.sizes
    g = torch.Generator().manual_seed(0)
    latent = torch.randn(1, *model.latent_shape(), generator=g).tanh()
    # Frames a latent with another xy plane and the same rows decodes to: a fit that reaches them exists.
    _, yt, xt = split_planes(latent, sizes)
    other = join_planes(torch.randn(1, yt.shape[1], sizes.height, sizes.width, generator=g).tanh(), yt, xt)
    known = model.decode(other)[:, :, :OVERLAP]

    def error(z):
        return float((model.decode(z, clamp=False)[:, :, :OVERLAP] - known).pow(2).mean())

    fitted = fit_shared_plane(lambda z: model.decode(z, clamp=False), latent, known, sizes, steps=30)
    before, after = split_planes(latent, sizes), split_planes(fitted, sizes)
    assert torch.equal(before[1], after[1]) and torch.equal(before[2], after[2])  # the per-frame rows stay
    assert not torch.equal(before[0], after[0])
    assert error(fitted) < 0.7 * error(latent)  # measured 0.56x after 30 steps
    assert torch.equal(fit_shared_plane(lambda z: model.decode(z, clamp=False), latent, known, sizes, steps=0), latent)


def test_sampling_fits_each_conditioned_clip_to_the_frames_it_remakes_when_asked() -> None:
    model = overlapping_model()
    decoded = recording(model)
    frames = model.clip_frames + model.clip_frames - OVERLAP
    fit = SamplerSettings(sampler="ddim", steps=2, fit_steps=50)
    fitted = np.concatenate(list(sample_video(model, fit, frames=frames, seed=0).chunks(None)))
    c1, c2 = decoded[0], decoded[-1]
    remade_fit = float((c2[:, :, :OVERLAP] - c1[:, :, -OVERLAP:]).abs().mean())
    decoded.clear()
    plain = np.concatenate(list(sample_video(model, SamplerSettings(sampler="ddim", steps=2, fit_steps=0), frames=frames,
                                             seed=0).chunks(None)))
    c1_plain, c2_plain = decoded[0], decoded[-1]
    remade_plain = float((c2_plain[:, :, :OVERLAP] - c1_plain[:, :, -OVERLAP:]).abs().mean())
    assert torch.equal(c1, c1_plain)  # the first clip has nothing to fit
    assert not np.array_equal(fitted, plain) and remade_fit < remade_plain
    again = np.concatenate(list(sample_video(model, fit, frames=frames, seed=0).chunks(None)))
    assert np.array_equal(fitted, again)  # the fit is deterministic: same seed, same video


def test_long_video_cross_fades_each_overlap_and_hands_out_the_held_frames_at_the_end() -> None:
    model = overlapping_model()
    decoded = recording(model)
    s, new = model.clip_frames, model.clip_frames - OVERLAP
    generation = sample_video(model, FAST, frames=s + 2 * new, seed=0)
    assert generation.windows == 3
    out = np.concatenate(list(generation.chunks(None)))
    c1, c2, c3 = decoded
    expected = torch.cat([c1[:, :, :new], fade(c1[:, :, new:], c2[:, :, :OVERLAP]), c2[:, :, OVERLAP:new],
                          fade(c2[:, :, new:], c3[:, :, :OVERLAP]), c3[:, :, OVERLAP:]], dim=2)
    assert out.shape[0] == s + 2 * new
    np.testing.assert_array_equal(out, tensor_to_frames(expected))
    # A length that ends inside a window: trimmed, with the windows the plan says.
    assert sample_video(model, FAST, frames=s + new + 1, seed=0).windows == 3
    assert np.concatenate(list(sample_video(model, FAST, frames=s + new + 1, seed=0).chunks(None))).shape[0] == s + new + 1


def test_extend_drops_the_remade_input_frames_and_never_blends_into_them() -> None:
    model = overlapping_model()
    given = np.concatenate(list(sample_video(model, FAST, frames=model.clip_frames, seed=5).chunks(None)))
    decoded = recording(model)
    new = model.clip_frames - OVERLAP
    out = np.concatenate(list(extend_video(model, [given], FAST, frames=new + 3, seed=0).chunks(None)))
    assert out.shape[0] == model.clip_frames + new + 3
    np.testing.assert_array_equal(out[: model.clip_frames], given)  # the input, untouched
    c1, c2 = decoded
    expected = torch.cat([c1[:, :, OVERLAP:new], fade(c1[:, :, new:], c2[:, :, :OVERLAP]), c2[:, :, OVERLAP:]], dim=2)
    np.testing.assert_array_equal(out[model.clip_frames:], tensor_to_frames(expected)[: new + 3])


def test_seams_of_an_overlapping_model_are_zones_of_overlap_plus_one_transitions() -> None:
    model = overlapping_model()
    s = model.clip_frames
    assert generation_boundaries(model, 32) == (s - OVERLAP, s - OVERLAP, OVERLAP + 1)


def test_seam_zone_scores_the_mean_and_the_peak_of_each_zone() -> None:
    # Clips step every 6 frames; each switch is spread over 3 transitions (a cross-fade of 2 frames).
    levels = [0, 1, 2, 3, 4, 5, 8, 11, 14, 15, 16, 17, 26, 27, 28, 29]
    video = np.stack([np.full((2, 2, 3), v, dtype=np.uint8) for v in levels])
    report = SeamReport(first=6, every=6, span=3)
    report.add(video)
    scores = report.scores()
    # Zones: transitions 5->6, 6->7, 7->8 (3, 3, 3) and 11->12, 12->13, 13->14 (9, 1, 1); inside: all the others (1).
    assert report.seam_changes == [3.0, pytest.approx(11 / 3)]
    assert report.seam_peaks == [3.0, 9.0]
    assert scores["inside_change"] == 1.0
    assert scores["seam_peak_ratio"] == pytest.approx(6.0)
    assert scores["seam_jump_share"] == 0.5  # the peak of 9 is a jump, the zone of 3s is not (3 is not > 3 x 1)
    assert report.protocol()["span"] == 3
    with pytest.raises(ValueError):
        SeamReport(first=6, every=3, span=3)


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def test_train_options_set_the_overlap_and_refuse_what_does_not_fit(tmp_path: Path, tmp_vgen_home: Path, capsys):
    base = ["--synthetic", "bouncing", "--synthetic-videos", "2", "--batch-size", "1", "--steps", "1"]
    assert vgen("train", "--model", "pvdm-tiny", *base, "--name", "base", "--out", str(tmp_path / "a")) == 0
    capsys.readouterr()
    # Fine-tuning a stored model with another overlap: same weights to start from, the new field in the store.
    assert vgen("train", "--model", "base", *base, "--stage", "diffusion", "--cond-overlap", "2", "--cond-prob", "0.8",
                "--name", "tuned", "--out", str(tmp_path / "b")) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "with cond_overlap, cond_prob changed" in err
    stored = json.loads((tmp_path / "b" / "config.json").read_text())["model"]
    assert stored["cond_overlap"] == 2 and stored["cond_prob"] == 0.8
    from vgen.pipelines.model import load_model

    assert load_model("tuned").config.cond_overlap == 2
    for args, message in [
        (["--model", "pvdm-tiny", "--cond-overlap", "5"], "invalid --cond-overlap: cond_overlap (5) must be at most half"),
        (["--model", "vdm-tiny", "--cond-overlap", "2"], "--cond-overlap applies to PVDM models"),
        (["--model", "pvdm-tiny", "--cond-prob", "1.5"], "invalid --cond-prob"),
        (["--out", str(tmp_path / "b"), "--resume", "--cond-overlap", "1"], "cannot change on --resume"),
    ]:
        assert vgen("train", *args, *base, "--dry-run") == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
