"""Stage-by-stage quality diagnosis of a trained vgen model on held-out synthetic clips.

    python tools/diagnose.py --model pvdm-bouncing --json diag.json

Measures, on clips of vgen's synthetic generator drawn with a dataset seed the model never saw:

- autoencoder: reconstruction PSNR / SSIM, and whether its patch grid shows (the mean absolute pixel
  step across patch borders over the mean step inside patches, reconstructions against real clips:
  real videos give about 1, a visible grid gives more);
- diffusion: the x0 error (MSE in latent units) by timestep band, whatever the parameterisation, so
  models are comparable; for PVDM also with the true previous-clip latent, with the null (zero) latent
  and with a wrong one (another clip's), which says whether the conditional branch uses its condition.

Prints a table on stderr and, with ``--json``, writes every figure. ``--recon-frames DIR`` also writes the
autoencoder's reconstructions of the held-out clips as lossless PNG frame folders, so the autoencoder's own FVD (the
ceiling of any diffusion model on its latents) is one more command:

    python tools/diagnose.py --model pvdm-mini-bouncing --clips 128 --data-seed 2000 --recon-frames recon/
    vgen data synth held/ --num 128 --frames 16 --size 32 --seed 1000 --format frames
    vgen evaluate --real held/ --fake recon/ --num 128
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from vgen.data.synthetic_dataset import SyntheticVideoDataset
from vgen.diffusion.parameterisation import to_prediction
from vgen.diffusion.schedules import schedule_from_config
from vgen.families.pvdm.conditioning import aligned_condition
from vgen.io.atomic import refuse_existing, write_text_atomic
from vgen.io.video import tensor_to_frames
from vgen.io.video_write import write_video
from vgen.metrics.reconstruction import psnr_per_video, ssim_per_video
from vgen.pipelines.clip import Condition, sample_clip
from vgen.pipelines.windows import make_generator
from vgen.pipelines.model import LoadedModel, load_model
from vgen.pipelines.settings import SamplerSettings

BANDS = ((0, 100), (100, 300), (300, 500), (500, 700), (700, 900), (900, 1000))


def grid_ratio(video: torch.Tensor, patch: int) -> float:
    """Mean |pixel step| across patch borders over the mean step inside patches, (B, C, T, H, W) videos."""
    steps_w = (video[..., 1:] - video[..., :-1]).abs()
    steps_h = (video[..., 1:, :] - video[..., :-1, :]).abs()
    border = torch.zeros(steps_w.shape[-1], dtype=torch.bool)
    border[patch - 1::patch] = True  # the step from the last pixel of a patch to the first of the next
    across = torch.cat([steps_w[..., border].flatten(), steps_h[..., border, :].flatten()]).mean()
    inside = torch.cat([steps_w[..., ~border].flatten(), steps_h[..., ~border, :].flatten()]).mean()
    return float(across / inside.clamp_min(1e-12))


def held_out_clips(model: LoadedModel, kind: str, count: int, seed: int, frames: int) -> torch.Tensor:
    """(count, 3, frames, R, R) clips in [-1, 1] from a dataset seed the training runs do not use."""
    data = SyntheticVideoDataset(kind, count, frames, model.resolution, seed=seed)
    return torch.stack([data[i]["video"] for i in range(count)])


def frame_change(video: torch.Tensor) -> torch.Tensor:
    """(T-1,) mean absolute change between consecutive frames of a (1, 3, T, H, W) video, in grey levels."""
    return ((video[0, :, 1:] - video[0, :, :-1]).abs() * 127.5).mean(dim=(0, 2, 3))


@torch.no_grad()
def autoencoder_seams(model: LoadedModel, pairs: torch.Tensor) -> dict[str, float]:
    """Two consecutive real clips reconstructed independently, as long videos are decoded: the frame change
    across their seam and inside them, for the reconstructions and for the real frames (the seam any
    diffusion model inherits from this autoencoder)."""
    clip = model.clip_frames
    sums = {"seam": 0.0, "inside": 0.0, "real_seam": 0.0, "real_inside": 0.0}
    for video in pairs:
        video = video[None]
        recon = torch.cat([model.decode(model.encode(video[:, :, :clip])),
                           model.decode(model.encode(video[:, :, clip:]))], dim=2)
        for prefix, v in (("", recon), ("real_", video)):
            change = frame_change(v)
            sums[prefix + "seam"] += float(change[clip - 1]) / len(pairs)
            sums[prefix + "inside"] += float(torch.cat([change[:clip - 1], change[clip:]]).mean()) / len(pairs)
    return {**sums, "ratio": sums["seam"] / sums["inside"], "real_ratio": sums["real_seam"] / sums["real_inside"]}


@torch.no_grad()
def reconstruct(model: LoadedModel, clips: torch.Tensor, batch: int = 8) -> torch.Tensor:
    """The autoencoder's reconstructions of ``clips``, ``batch`` clips at a time."""
    return torch.cat([model.decode(model.encode(clips[i:i + batch])) for i in range(0, len(clips), batch)])


def write_reconstructions(recon: torch.Tensor, out: Path, fps: float) -> list[Path]:
    """Reconstructions as PNG frame folders ``out/clip_0000/`` ... (lossless)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"clip_{i:04d}" for i in range(len(recon))]
    for path, video in zip(paths, recon.clamp(-1, 1)):
        write_video(path, tensor_to_frames(video), fps=fps, format="frames")
    return paths


def autoencoder_report(model: LoadedModel, clips: torch.Tensor, recon: torch.Tensor) -> dict[str, float]:
    real, fake = (clips + 1) / 2, (recon + 1) / 2
    ae = model.config.autoencoder
    patch = getattr(ae, "patch_size", None) or ae.downsample[1]
    return {
        "psnr_db": float(psnr_per_video(real, fake).mean()),
        "ssim": float(ssim_per_video(real, fake).mean()),
        "patch": patch,
        "grid_ratio_real": grid_ratio(real, patch),
        "grid_ratio_reconstructed": grid_ratio(fake, patch),
    }


@torch.no_grad()
def x0_error_by_band(model: LoadedModel, z0: torch.Tensor, conds: dict[str, dict], seed: int,
                     per_band: int = 4) -> dict[str, list[float]]:
    """x0 MSE per timestep band for each named set of network keyword arguments (same t and noise for all)."""
    schedule = schedule_from_config(model.config.diffusion)
    kind = model.config.diffusion.prediction
    g = torch.Generator().manual_seed(seed)
    errors: dict[str, list[float]] = {name: [] for name in conds}
    for low, high in BANDS:
        totals = {name: 0.0 for name in conds}
        for _ in range(per_band):
            t = torch.randint(low, high, (z0.shape[0],), generator=g)
            eps = torch.randn(z0.shape, generator=g)
            a, s = schedule.coefficients(t, z0)
            x_t = a * z0 + s * eps
            for name, kwargs in conds.items():
                x0 = to_prediction(model.unet(x_t, t, **kwargs), x_t, a, s, kind).x0
                totals[name] += float((x0 - z0).pow(2).mean()) / per_band
        for name in conds:
            errors[name].append(totals[name])
    return errors


@torch.no_grad()
def diffusion_report(model: LoadedModel, clips: torch.Tensor, seed: int) -> dict[str, object]:
    frames = model.clip_frames
    if model.family.name == "pvdm":
        # A model trained with cond_overlap k conditions the clip from S - k on, on the aligned previous latent.
        overlap = model.config.cond_overlap
        previous = aligned_condition(model.encode(clips[:, :, :frames]), model.unet.sizes, overlap)
        z0 = model.encode(clips[:, :, frames - overlap:2 * frames - overlap])
        conds = {"true_previous": {"cond": previous}, "null": {"cond": torch.zeros_like(previous)},
                 "wrong_previous": {"cond": previous.roll(1, 0)}}
    else:
        z0 = model.encode(clips[:, :, :frames])  # LVDM: already the normalised latent the UNet diffuses
        conds = {"unconditional": {}}
    errors = x0_error_by_band(model, z0, conds, seed)
    report: dict[str, object] = {"bands": [list(b) for b in BANDS], "x0_mse": errors,
                                 "latent_std": float(z0.std()), "latent_mean": float(z0.mean())}
    if model.family.name == "pvdm":
        report["condition_gain"] = [n / c for c, n in zip(errors["true_previous"], errors["null"])]
    return report




@torch.no_grad()
def seam_report(model: LoadedModel, seeds: int, steps: int, guidance: float = 0.0) -> dict[str, float]:
    """PVDM: sample a clip, then the next one conditioned on its latent, on the null latent, on another seed's
    latent and on the latent of its decoded frames encoded again (is the sampled latent off the encoder's manifold?); the mean frame change across the seam against the mean change inside clips. ``guidance``
    is the weight of guidance towards the previous latent (``--guidance``; the first clip is unconditional)."""
    first_settings = SamplerSettings(sampler="ddim", steps=steps)
    settings = SamplerSettings(sampler="ddim", steps=steps, guidance=guidance or None)
    firsts = []
    for seed in range(seeds):
        g = make_generator(seed)
        latent = sample_clip(model, "none", Condition(), generator=g, settings=first_settings)
        firsts.append((latent, model.decode(latent), g))
    sums = {"true_previous": 0.0, "null": 0.0, "wrong_previous": 0.0, "reencoded_previous": 0.0}
    overlap = model.config.cond_overlap  # the next clip re-makes the last k frames: the cut is at its frame k
    remake = 0.0  # with overlap: how far the next clip's first k frames are from the k frames they re-make
    inside = 0.0
    for i, (latent, video, g) in enumerate(firsts):
        state = g.get_state()
        inside += float(frame_change(video).mean()) / seeds
        for name, cond in (("true_previous", latent), ("null", torch.zeros_like(latent)),
                           ("wrong_previous", firsts[(i + 1) % seeds][0]),
                           ("reencoded_previous", model.encode(video.clamp(-1, 1)))):
            g.set_state(state)  # the same noise for the three conditions
            nxt = model.decode(sample_clip(model, "latent", Condition(prev_latent=cond), generator=g, settings=settings))
            sums[name] += float(frame_change(torch.cat([video[:, :, -1:], nxt[:, :, overlap:overlap + 1]], dim=2))[0]) / seeds
            if name == "true_previous" and overlap:
                remake += float((nxt[:, :, :overlap] - video[:, :, -overlap:]).abs().mean()) * 127.5 / seeds
    overlapping = {"overlap": overlap, "overlap_remake_error": remake} if overlap else {}
    return {"inside_clip_change": inside, **{f"seam_change_{k}": v for k, v in sums.items()}, **overlapping,
            "seeds": seeds, "steps": steps, "guidance": guidance}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="store name, bundled name or model folder")
    parser.add_argument("--synthetic", default="bouncing", choices=("bouncing", "sky", "mixed"))
    parser.add_argument("--clips", type=int, default=32, help="held-out clips (default 32)")
    parser.add_argument("--data-seed", type=int, default=1000, help="dataset seed of the held-out clips")
    parser.add_argument("--seams", type=int, default=0, help="PVDM: sample this many clip pairs for the seam test")
    parser.add_argument("--guidance", type=float, default=0.0,
                        help="PVDM seam test: guidance weight towards the previous latent (default 0)")
    parser.add_argument("--steps", type=int, default=20, help="DDIM steps of the seam test (default 20)")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--recon-frames", type=Path,
                        help="a new folder for the autoencoder's reconstructions of the clips (PNG frame folders)")
    args = parser.parse_args(argv)
    refusal = refuse_existing(args.json, "--json")
    if refusal:
        parser.error(refusal)
    if args.recon_frames is not None and args.recon_frames.exists():
        parser.error(f"--recon-frames {str(args.recon_frames)!r} already exists; name a new folder")
    torch.manual_seed(0)
    started = time.time()
    model = load_model(args.model, device="cpu")
    two_clips = model.family.name == "pvdm"
    clips = held_out_clips(model, args.synthetic, args.clips, args.data_seed,
                           model.clip_frames * (2 if two_clips else 1))
    report: dict[str, object] = {"model": args.model, "family": model.family.name, "clips": args.clips,
                                 "synthetic": args.synthetic, "data_seed": args.data_seed}
    if "autoencoder" in model.networks:
        recon = reconstruct(model, clips[:, :, :model.clip_frames])
        report["autoencoder"] = autoencoder_report(model, clips[:, :, :model.clip_frames], recon)
        if args.recon_frames is not None:
            written = write_reconstructions(recon, args.recon_frames, model.config.fps)
            report["autoencoder"]["recon_frames"] = str(args.recon_frames)
            print(f"wrote {len(written)} reconstructions to {args.recon_frames}", file=sys.stderr)
        if two_clips:
            report["autoencoder"]["seams"] = autoencoder_seams(model, clips)
    elif args.recon_frames is not None:
        parser.error(f"--recon-frames: {args.model} has no autoencoder (a pixel-space model)")
    report["diffusion"] = diffusion_report(model, clips, seed=args.data_seed)
    if args.seams and model.family.name == "pvdm":
        report["seams"] = seam_report(model, args.seams, args.steps, args.guidance)
    report["seconds"] = round(time.time() - started, 1)

    out = sys.stderr
    if "autoencoder" in report:
        ae = report["autoencoder"]
        print(f"autoencoder: PSNR {ae['psnr_db']:.2f} dB, SSIM {ae['ssim']:.4f}, patch-grid ratio "
              f"{ae['grid_ratio_reconstructed']:.3f} (real clips {ae['grid_ratio_real']:.3f})", file=out)
        if "seams" in ae:
            print(f"autoencoder seams: consecutive real clips reconstructed one by one change by {ae['seams']['seam']:.2f} "
                  f"across the seam and {ae['seams']['inside']:.2f} inside (ratio {ae['seams']['ratio']:.2f}; real "
                  f"frames {ae['seams']['real_ratio']:.2f})", file=out)
    diff = report["diffusion"]
    print(f"latents: mean {diff['latent_mean']:.3f}, std {diff['latent_std']:.3f}", file=out)
    names = list(diff["x0_mse"])
    print("t band      " + "".join(f"{n:>16}" for n in names), file=out)
    for i, (low, high) in enumerate(BANDS):
        print(f"{low:>4}-{high:<5}  " + "".join(f"{diff['x0_mse'][n][i]:>16.5f}" for n in names), file=out)
    if "condition_gain" in diff:
        print("null / true-previous x0 error by band: "
              + ", ".join(f"{g:.2f}" for g in diff["condition_gain"]), file=out)
    if "seams" in report:
        seams = report["seams"]
        print(f"frame change inside clips {seams['inside_clip_change']:.2f}; across the seam with the true previous "
              f"latent {seams['seam_change_true_previous']:.2f}, the null latent {seams['seam_change_null']:.2f}, "
              f"a wrong latent {seams['seam_change_wrong_previous']:.2f}, the true previous clip's frames encoded again "
              f"{seams['seam_change_reencoded_previous']:.2f} (grey levels)", file=out)
        if "overlap" in seams:
            print(f"the next clip's first {seams['overlap']} frames are {seams['overlap_remake_error']:.2f} grey levels from "
                  "the frames they re-make (the seam above is the hard cut after them, before cross-fading)", file=out)
    if args.json:
        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
