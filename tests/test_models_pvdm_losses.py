"""PVDM autoencoder losses: L1, LPIPS loading from local files, the perceptual hook and the GAN phase."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from vgen.errors import VgenError
from vgen.losses.discriminators import PatchDiscriminator
from vgen.models.layers import count_parameters
from vgen.losses.perceptual import LPIPS
from vgen.families.pvdm.losses import AutoencoderLoss, hinge_d_loss




def clips(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, 4, 16, 16, generator=g) * 2 - 1
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, LPIPS]:
    """A random 'VGG16' in torchvision layout (.pth) and lpips heads in lpips layout (.safetensors)."""
    torch.manual_seed(0)
    reference = LPIPS()
    with torch.no_grad():
        for head in reference.heads:
            head.weight.uniform_(0.0, 1.0)  # the real heads are non-negative
    folder = tmp_path_factory.mktemp("lpips")
    backbone = folder / "vgg16.pth"
    torch.save({k: v for k, v in reference.state_dict().items() if k.startswith("features.")}
               | {"classifier.0.weight": torch.zeros(2, 2)}, backbone)
    heads = folder / "vgg.safetensors"
    save_file({f"lin{i}.model.1.weight": h.weight.contiguous() for i, h in enumerate(reference.heads)}, str(heads))
    return backbone, heads, reference


def test_l1_only_without_perceptual_says_so() -> None:
    loss_fn = AutoencoderLoss()
    x, recon = clips()
    loss, logs = loss_fn.generator_loss(x, recon)
    assert torch.allclose(loss, 4.0 * (x - recon).abs().mean())
    assert "perceptual" not in logs and loss_fn.perceptual_note and "L1" in loss_fn.perceptual_note


def test_lpips_loads_from_backbone_and_head_files(lpips_files: tuple[Path, Path, LPIPS]) -> None:
    backbone, heads, reference = lpips_files
    lpips = LPIPS.from_files(backbone, heads)
    x, recon = clips()
    frame, frame_hat = x[:, :, 0], recon[:, :, 0]
    d = lpips(frame, frame_hat)
    assert d.shape == (2,) and torch.equal(d, reference(frame, frame_hat))
    assert (d > 0).all() and torch.equal(lpips(frame, frame), torch.zeros(2))
    assert not any(p.requires_grad for p in lpips.parameters())
    lpips.train()
    assert not lpips.training


def test_lpips_rejects_incomplete_or_missing_files(lpips_files: tuple[Path, Path, LPIPS], tmp_path: Path) -> None:
    backbone, _, _ = lpips_files
    with pytest.raises(VgenError, match="heads"):
        LPIPS.from_files(backbone)
    with pytest.raises(VgenError, match="not found"):
        LPIPS.from_files(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(VgenError, match="cannot read"):
        LPIPS.from_files(junk)


def test_lpips_term_uses_one_random_frame(lpips_files: tuple[Path, Path, LPIPS]) -> None:
    backbone, heads, _ = lpips_files
    loss_fn = AutoencoderLoss(perceptual=LPIPS.from_files(backbone, heads))
    assert loss_fn.perceptual_note is None
    x, recon = clips()
    recon = recon.clone()
    recon[:, :, 1:] = x[:, :, 1:]  # only frame 0 differs: L1 is nonzero, LPIPS only if frame 0 is drawn
    seen = {loss_fn.generator_loss(x, recon, generator=torch.Generator().manual_seed(s))[1]["perceptual"] > 0
            for s in range(12)}
    assert seen == {True, False}


def test_perceptual_hook_receives_whole_clips() -> None:
    calls = []

    def hook(video: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
        calls.append(video.shape)
        return (video - recon).square().mean()

    x, recon = clips()
    loss, logs = AutoencoderLoss(perceptual=hook).generator_loss(x, recon)
    assert calls == [x.shape]
    assert torch.allclose(loss, 4 * (x - recon).abs().mean() + 4 * (x - recon).square().mean())


def test_gan_phase_adds_adversarial_and_feature_matching_terms() -> None:
    torch.manual_seed(0)
    loss_fn = AutoencoderLoss(gan=True, disc_channels=8)
    x, recon = clips()
    recon.requires_grad_(True)
    g = torch.Generator().manual_seed(1)
    loss, logs = loss_fn.generator_loss(x, recon, use_gan=True, generator=g)
    assert {"g_adv", "feature_matching"} <= logs.keys() and logs["feature_matching"] > 0
    loss.backward()
    assert recon.grad is not None and recon.grad.abs().sum() > 0
    d_loss, d_logs = loss_fn.discriminator_loss(x, recon, generator=g)
    d_loss.backward()
    assert all(p.grad is not None for p in loss_fn.discriminator_parameters())
    assert d_logs["d_loss"] == pytest.approx(d_logs["d_2d"] + d_logs["d_3d"])
    with pytest.raises(ValueError):
        AutoencoderLoss().discriminator_loss(x, recon)


def test_hinge_loss_is_zero_for_confident_correct_logits() -> None:
    assert hinge_d_loss(torch.full((4,), 2.0), torch.full((4,), -3.0)) == 0
    assert hinge_d_loss(torch.zeros(4), torch.zeros(4)) == pytest.approx(1.0)


def test_patchgan_sizes_match_the_official_discriminators() -> None:
    d2, d3 = PatchDiscriminator(2), PatchDiscriminator(3)
    assert count_parameters(d2) == pytest.approx(2.77e6, rel=0.002)
    assert count_parameters(d3) == pytest.approx(11.06e6, rel=0.002)
    with torch.no_grad():
        logits, features = PatchDiscriminator(2, 8)(torch.zeros(1, 3, 256, 256))
    assert logits.shape == (1, 1, 35, 35) and len(features) == 4


def test_lpips_loads_a_taming_style_module_state_dict(lpips_files: tuple[Path, Path, LPIPS], tmp_path: Path) -> None:
    """taming-transformers / lpips module layout: net.slice<k>.<i>.*, lin<k>.model.1.weight, scaling buffers."""
    _, _, reference = lpips_files
    slice_of = {i: 1 + sum(i > tap for tap in (3, 8, 15, 22)) for i in range(30)}
    state = {f"net.slice{slice_of[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v
             for k, v in reference.state_dict().items() if k.startswith("features.")}
    state |= {f"lin{i}.model.1.weight": h.weight for i, h in enumerate(reference.heads)}
    state |= {"scaling_layer.shift": torch.zeros(1, 3, 1, 1)}
    path = tmp_path / "lpips_full.pth"
    torch.save(state, path)
    x, recon = clips()
    assert torch.equal(LPIPS.from_files(path)(x[:, :, 2], recon[:, :, 2]), reference(x[:, :, 2], recon[:, :, 2]))
