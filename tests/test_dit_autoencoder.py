"""Causal 3D autoencoder of the DiT family (vgen/families/dit/autoencoder.py) and its training objective: shapes,
causality in the encoder and decoder, image = first frame, posterior, errors, a quick overfit, latent stats."""

from __future__ import annotations

import math

import pytest
import torch

from vgen.errors import VgenError
from vgen.families.dit.autoencoder import CausalAutoencoder
from vgen.families.dit.config import PRESETS, CausalAutoencoderConfig
from vgen.families.dit.objectives import dit_autoencoder_objective
from vgen.sampling.noise import seeded_generators
from vgen.training.trainer import Batch

TINY = PRESETS["dit-tiny"].autoencoder  # hidden 16, channel_mult (1, 2, 2), f_s 4, r_t 2, latent 4


def tiny(kl: bool = True, **extra: object) -> CausalAutoencoder:
    torch.manual_seed(0)
    return CausalAutoencoder(TINY.model_copy(update={"kl": kl, **extra})).eval()


def clip(frames: int, size: int = 32, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, frames, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_shapes_round_trip_and_latent_shape() -> None:
    ae = tiny()
    video = clip(9)
    with torch.no_grad():
        latent = ae.encode(video)
        assert latent.shape == (2, 4, 5, 8, 8) == ae.latent_shape(tuple(video.shape))
        assert ae.decode(latent).shape == video.shape
        assert ae(video).shape == video.shape
        image = ae.encode(video[:, :, :1])
    assert image.shape == (2, 4, 1, 8, 8) == ae.latent_shape((2, 3, 1, 32, 32))
    assert ae.latent_shape((1, 3, 17, 64, 48)) == (1, 4, 9, 16, 12)


def test_builds_and_runs_on_the_meta_device() -> None:
    config = CausalAutoencoderConfig(hidden=8, channel_mult=(1, 2, 4, 4), spatial_downsample=8,
                                     temporal_downsample=4, norm_groups=4)
    with torch.device("meta"):
        ae = CausalAutoencoder(config)
        shape = ae.latent_shape((2, 3, 17, 64, 64))
        assert shape == (2, 8, 5, 8, 8)
        assert tuple(ae.encode(torch.empty(2, 3, 17, 64, 64)).shape) == shape
        assert tuple(ae.decode(torch.empty(shape)).shape) == (2, 3, 17, 64, 64)
    assert ae.scale_factor.is_meta and "scale_factor" in ae.state_dict()


@pytest.mark.parametrize("config", [
    TINY,
    # r_t = 4 over two stages, a stage without downsampling, two ResBlocks per stage.
    CausalAutoencoderConfig(hidden=4, channel_mult=(1, 2, 2, 2), num_res_blocks=2, spatial_downsample=4,
                            temporal_downsample=4, latent_channels=2, norm_groups=2),
], ids=["tiny", "rt4"])
def test_encoder_and_decoder_are_causal(config: CausalAutoencoderConfig) -> None:
    """Every frame k is replaced by fresh noise: no latent frame before k's changes (float64, < 1e-12), k's own
    latent frame does. Likewise every latent frame j: no output frame before j's first frame changes."""
    torch.manual_seed(0)
    ae = CausalAutoencoder(config).double().eval()
    r_t, frames = config.temporal_downsample, 1 + 2 * config.temporal_downsample
    video = clip(frames, size=16, batch=1).double()
    with torch.no_grad():
        base = ae.posterior(video).mean
        for k in range(frames):
            changed = video.clone()
            changed[:, :, k] = torch.rand_like(changed[:, :, k]) * 2 - 1
            out = ae.posterior(changed).mean
            own = math.ceil(k / r_t)  # latent frame holding video frame k
            if own:
                assert (out[:, :, :own] - base[:, :, :own]).abs().max().item() < 1e-12, k
            assert (out[:, :, own] - base[:, :, own]).abs().max().item() > 1e-4, k

        recon = ae.decode_raw(base)
        for j in range(base.shape[2]):
            changed = base.clone()
            changed[:, :, j] = torch.randn_like(changed[:, :, j])
            out = ae.decode_raw(changed)
            first = 0 if j == 0 else (j - 1) * r_t + 1  # first video frame of latent frame j
            if first:
                assert (out[:, :, :first] - recon[:, :, :first]).abs().max().item() < 1e-12, j
            assert (out[:, :, first] - recon[:, :, first]).abs().max().item() > 1e-4, j


def test_image_latent_is_the_first_latent_frame() -> None:
    ae = tiny()
    video = clip(9)
    with torch.no_grad():
        image = ae.encode(video[:, :, :1])
        first = ae.encode(video)[:, :, :1]
        decoded = ae.decode(image)
        assert decoded.shape == (2, 3, 1, 32, 32)
        assert (decoded - ae.decode(ae.encode(video))[:, :, :1]).abs().max().item() < 1e-5
    assert (image - first).abs().max().item() < 1e-5


def test_posterior_kl_sampling_and_determinism() -> None:
    video = clip(5, size=16)
    with torch.no_grad():
        ae = tiny(kl=True)
        posterior = ae.posterior(video)
        kl = posterior.kl()
        assert kl.shape == (2,) and (kl >= 0).all() and (kl > 0).any()
        assert torch.equal(ae.encode(video), ae.encode(video))
        a = posterior.sample(torch.Generator().manual_seed(3))
        b = posterior.sample(torch.Generator().manual_seed(3))
        c = posterior.sample(torch.Generator().manual_seed(4))
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert torch.equal(ae.encode(video, generator=torch.Generator().manual_seed(3)), ae.normalise(a))

        plain = tiny(kl=False)
        posterior = plain.posterior(video)
        assert torch.equal(posterior.kl(), torch.zeros(2))
        assert torch.equal(posterior.std, torch.zeros_like(posterior.mean))
        assert torch.equal(posterior.sample(torch.Generator().manual_seed(3)), posterior.mean)
        assert plain.quant_conv.out_channels == 4 and ae.quant_conv.out_channels == 8


@pytest.mark.parametrize("shape,fix", [
    ((1, 3, 8, 32, 32), "trim the clip to 7 frames or extend it to 9"),
    ((1, 3, 10, 32, 32), "trim the clip to 9 frames"),
    ((1, 3, 0, 32, 32), "at least one"),
    ((1, 3, 9, 30, 32), "multiple of 4"),
    ((1, 3, 9, 32, 2), "multiple of 4"),
    ((1, 1, 9, 32, 32), "RGB"),
])
def test_bad_frame_counts_and_sizes_name_the_fix(shape: tuple[int, ...], fix: str) -> None:
    ae = tiny()
    with pytest.raises(VgenError, match=fix) as caught:
        ae.latent_shape(shape)
    assert "\n" not in str(caught.value)
    if shape[2] > 0:
        with pytest.raises(VgenError, match=fix):
            ae.encode(torch.zeros(shape))


def test_quick_overfit_on_two_clips() -> None:
    """Two fixed 5-frame 16² clips (moving colour gradients), Adam through the family objective: L1 falls well
    below its start (to about an eighth in 100 steps)."""
    torch.manual_seed(0)
    ae = CausalAutoencoder(TINY).train()
    t = torch.arange(5.0).view(1, 5, 1, 1)
    y, x = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing="ij")
    clips = [torch.stack([torch.sin(3 * x + 0.4 * t * s + c) * torch.cos(2 * y - 0.3 * t + c)
                          for c in (0.0, 1.0, 2.0)])[:, 0] for s in (1.0, -1.0)]
    video = torch.stack(clips) * 0.9
    objective = dit_autoencoder_objective(ae, kl_weight=1e-6)
    optimiser = torch.optim.Adam(ae.parameters(), lr=2e-3)

    def l1() -> float:
        with torch.no_grad():
            return (ae(video) - video).abs().mean().item()

    start = l1()
    for step in range(100):
        loss = objective(Batch(video, None, step), seeded_generators([2 * step, 2 * step + 1]))["autoencoder"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert l1() < 0.3 * start  # ~0.12 after 100 steps


def test_fit_latent_stats_normalises_and_is_saved() -> None:
    ae = tiny()
    with torch.no_grad():
        raw = ae.posterior(clip(5, size=16, batch=4) * 0.5 + 0.2).mean * 3 + 1.5
    ae.fit_latent_stats(raw)
    normalised = ae.normalise(raw)
    assert abs(normalised.mean().item()) < 1e-5 and abs(normalised.std().item() - 1) < 1e-5
    assert torch.allclose(ae.denormalise(normalised), raw, atol=1e-5)
    state = ae.state_dict()
    assert state["scale_factor"].item() == pytest.approx(1 / raw.double().std().item(), rel=1e-6)
    assert state["shift_factor"].item() == pytest.approx(-raw.double().mean().item(), rel=1e-6)
    restored = tiny()
    restored.load_state_dict(state)
    assert torch.equal(restored.normalise(raw), normalised)


def test_objective_returns_a_reproducible_scalar() -> None:
    ae = tiny()
    batch = Batch(clip(5, size=16), None, 0)
    first = dit_autoencoder_objective(ae, kl_weight=1.0)(batch, seeded_generators([5, 6]))
    again = dit_autoencoder_objective(ae, kl_weight=1.0)(batch, seeded_generators([5, 6]))
    other = dit_autoencoder_objective(ae, kl_weight=1.0)(batch, seeded_generators([7, 6]))
    assert set(first) == {"autoencoder"} and first["autoencoder"].ndim == 0
    assert torch.equal(first["autoencoder"], again["autoencoder"])
    assert not torch.equal(first["autoencoder"], other["autoencoder"])
    with torch.no_grad():
        l1_only = dit_autoencoder_objective(ae, kl_weight=0.0)(batch, seeded_generators([5, 6]))["autoencoder"]
        kl = ae.posterior(batch.video).kl().mean()
    assert first["autoencoder"].item() == pytest.approx(l1_only.item() + kl.item(), rel=1e-5)


class _FramePerceptual(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        assert a.ndim == 4
        return (a - b).square().flatten(1).mean(1)


def test_objective_adds_a_perceptual_term() -> None:
    ae = tiny(kl=False)
    batch = Batch(clip(5, size=16), None, 0)
    with torch.no_grad():
        plain = dit_autoencoder_objective(ae)(batch, seeded_generators([1, 2]))["autoencoder"]
        total = dit_autoencoder_objective(ae, _FramePerceptual())(batch, seeded_generators([1, 2]))["autoencoder"]
        recon = ae(batch.video)
    assert total.item() == pytest.approx(plain.item() + (recon - batch.video).square().mean().item(), rel=1e-5)
