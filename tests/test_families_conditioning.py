"""PVDM latent conditioning and LVDM conditional latent perturbation + unconditional guidance."""

from __future__ import annotations

import pytest
import torch

from vgen.diffusion import make_schedule
from vgen.families.lvdm.conditioning import LVDMConditioned, clp_training_batch, lvdm_random_masks
from vgen.families.pvdm.conditioning import pvdm_condition_batch, pvdm_guided_raw
from vgen.sampling.noise import seeded_generators

SCHEDULE = make_schedule("scaled_linear", beta_end=0.0155)


def test_pvdm_condition_batch_per_batch_coin() -> None:
    prev = torch.randn(6, 4, 20) + 5
    generator = torch.Generator().manual_seed(0)
    outcomes = []
    for _ in range(400):
        cond, is_cond = pvdm_condition_batch(prev, 0.3, generator)
        assert bool(is_cond.all()) or not bool(is_cond.any())  # one coin for the whole batch
        assert torch.equal(cond, prev) if bool(is_cond[0]) else bool((cond == 0).all())
        outcomes.append(bool(is_cond[0]))
    assert 0.22 < sum(outcomes) / 400 < 0.38  # p = 0.3, 4 sigma = 0.09


def test_pvdm_condition_batch_per_sample() -> None:
    prev = torch.randn(2000, 2, 3) + 5
    cond, is_cond = pvdm_condition_batch(prev, 0.2, torch.Generator().manual_seed(1), per_sample=True)
    assert 0.17 < is_cond.float().mean().item() < 0.23
    assert torch.equal(cond[is_cond], prev[is_cond]) and bool((cond[~is_cond] == 0).all())


def test_pvdm_guided_raw_uses_zero_latent_as_null() -> None:
    seen = []

    def unet(z, t, *, cond):
        seen.append(cond.clone())
        return z + cond.mean(dim=(1, 2), keepdim=True)

    z_prev, z_t = torch.full((2, 4, 6), 2.0), torch.zeros(2, 4, 6)
    out = pvdm_guided_raw(unet, z_prev, w=0.5)(z_t, torch.tensor([3, 3]))
    assert len(seen) == 1 and torch.equal(seen[0][2:], torch.zeros(2, 4, 6))  # one batched call
    torch.testing.assert_close(out, torch.full((2, 4, 6), 1.5 * 2.0))


def test_lvdm_mask_kinds_and_frequencies() -> None:
    masks = lvdm_random_masks(4000, 5, p_interp=0.45, p_pred=0.35, n_prevs=(1, 2),
                              generator=torch.Generator().manual_seed(0))
    assert masks.shape == (4000, 1, 5, 1, 1)
    rows = masks.flatten(1)
    interp = (rows == torch.tensor([1.0, 0, 0, 0, 1])).all(1)
    pred1 = (rows == torch.tensor([1.0, 0, 0, 0, 0])).all(1)
    pred2 = (rows == torch.tensor([1.0, 1, 0, 0, 0])).all(1)
    uncond = (rows == 0).all(1)
    assert bool((interp | pred1 | pred2 | uncond).all())
    for share, p in ((interp, 0.45), (pred1 | pred2, 0.35), (uncond, 0.2)):
        assert abs(share.float().mean().item() - p) < 0.035  # 4 sigma at n = 4000
    assert abs(pred1.float().mean().item() - pred2.float().mean().item()) < 0.04
    with pytest.raises(ValueError):
        lvdm_random_masks(2, 4, p_interp=0.7, p_pred=0.5, n_prevs=(1,), generator=torch.Generator())


def test_lvdm_key_masks_match_the_interpolation_pattern() -> None:
    """p_keys rows give every r-th latent from the first (what interpolate --factor r conditions on)."""
    masks = lvdm_random_masks(3000, 8, p_interp=0.2, p_pred=0.3, n_prevs=(1,), p_keys=0.3, key_strides=(2, 3),
                              generator=torch.Generator().manual_seed(1)).flatten(1)
    every2 = (masks == torch.tensor([1.0, 0, 1, 0, 1, 0, 1, 0])).all(1)
    every3 = (masks == torch.tensor([1.0, 0, 0, 1, 0, 0, 1, 0])).all(1)
    ends = (masks == torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 1])).all(1)
    first = (masks == torch.tensor([1.0, 0, 0, 0, 0, 0, 0, 0])).all(1)
    uncond = (masks == 0).all(1)
    assert bool((every2 | every3 | ends | first | uncond).all())
    for share, p in ((every2 | every3, 0.3), (ends, 0.2), (first, 0.3), (uncond, 0.2)):
        assert abs(share.float().mean().item() - p) < 0.04
    assert abs(every2.float().mean().item() - every3.float().mean().item()) < 0.04
    # Without key masks no stride is drawn, so the random stream is the one before key masks existed
    # (given-latent counts of the first 16 rows, recorded from that version).
    plain = lvdm_random_masks(64, 8, p_interp=0.45, p_pred=0.35, n_prevs=(1, 2),
                              generator=torch.Generator().manual_seed(2))
    assert plain.flatten(1)[:16].sum(1).int().tolist() == [1, 2, 2, 2, 1, 2, 2, 2, 1, 2, 2, 2, 2, 0, 1, 1]
    with pytest.raises(ValueError):
        lvdm_random_masks(2, 4, p_interp=0.2, p_pred=0.3, n_prevs=(1,), p_keys=0.3, key_strides=(4,),
                          generator=torch.Generator())


def test_clp_training_batch_builds_lvdm_inputs_and_targets() -> None:
    z0 = torch.randn(64, 4, 5, 2, 2)
    batch = clp_training_batch(z0, SCHEDULE, generator=torch.Generator().manual_seed(0), p_interp=0.5,
                               p_pred=0.5, max_noise_level=250)
    assert batch.x_in.shape == z0.shape and batch.mask.shape == (64, 1, 5, 1, 1)
    assert int(batch.s.max()) < 250 and int(batch.t.max()) < 1000
    # On conditioning latents x_in is z0 noised to level s by the target noise; elsewhere to level t.
    a_s, s_s = SCHEDULE.coefficients(batch.s, z0)
    a_t, s_t = SCHEDULE.coefficients(batch.t, z0)
    given = batch.mask.bool().expand_as(z0)
    torch.testing.assert_close(batch.x_in[given], (a_s * z0 + s_s * batch.target)[given])
    torch.testing.assert_close(batch.x_in[~given], (a_t * z0 + s_t * batch.target)[~given])


def test_lvdm_conditioned_overwrites_state_and_applies_unconditional_guidance() -> None:
    calls = []

    def unet(z, t, *, mask, s):
        calls.append((z.clone(), mask.clone(), s))
        return z * (2.0 if s is not None else 1.0) + mask

    c0 = torch.randn(2, 4, 4, 2, 2)
    mask = torch.zeros(2, 1, 4, 1, 1)
    mask[:, :, 0] = 1
    conditioned = LVDMConditioned(unet, SCHEDULE, c0, mask, s=100, generators=seeded_generators([0, 1]), w=0.1)
    x = torch.randn(2, 4, 4, 2, 2)
    out1 = conditioned(x, torch.tensor([500, 500]))
    out2 = conditioned(torch.randn_like(x), torch.tensor([400, 400]))
    z_seen = calls[0][0]
    assert torch.equal(z_seen[:, :, 0], conditioned.c_s[:, :, 0]) and torch.equal(z_seen[:, :, 1:], x[:, :, 1:])
    assert torch.equal(calls[2][0][:, :, 0], conditioned.c_s[:, :, 0])  # c_s drawn once, reused
    assert calls[0][2].tolist() == [100, 100] and calls[1][2] is None and bool((calls[1][1] == 0).all())
    torch.testing.assert_close(out1, 1.1 * (2.0 * z_seen + mask) - 0.1 * z_seen)
    assert out2.shape == x.shape
    # c_s is q(c0, s = 100) with the per-sample generators: sample 1 alone gets the same c_s.
    alone = LVDMConditioned(unet, SCHEDULE, c0[1:], mask[1:], s=100, generators=seeded_generators([1]))
    torch.testing.assert_close(alone.c_s, conditioned.c_s[1:])
    final = conditioned.finalize(torch.zeros_like(x))
    assert torch.equal(final[:, :, 0], c0[:, :, 0]) and bool((final[:, :, 1:] == 0).all())
