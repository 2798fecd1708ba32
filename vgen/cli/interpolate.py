"""``vgen interpolate``: temporal up-sampling of a video, or in-betweens between key images."""

from __future__ import annotations

from typing import Annotated, Callable, Iterator, Optional

import typer

from vgen.cli._common import emit_json
from vgen.cli._options import (
    DeviceOpt, EtaOpt, FormatOpt, FpsOpt, GuidanceOpt, JsonOpt, QuietOpt, ReconOpt, SamplerOpt, SeedOpt, StepsOpt,
)
from vgen.cli._outputs import DerivedOutputOpt, OverwriteOpt
from vgen.cli._run import check_common, summary, write_and_report
from vgen.cli._threads import ThreadsOpt, model_threads
from vgen.cli.sample import settings_from
from vgen.errors import VgenError

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def interpolate_cmd(
    inputs: Annotated[list[str], typer.Argument(help="One video (or - for stdin), or two or more key images.",
                                                show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="A frame-aligned model (VDM, LVDM): a store name, a "
                                       "bundled name or a folder. PVDM models cannot interpolate.",
                                       rich_help_panel="Model", show_default=False)],
    factor: Annotated[Optional[int], typer.Option("--factor", "-x", help="Video input: k−1 new frames between each "
                                                  "pair (output fps = input fps·k). Default 2.",
                                                  rich_help_panel="Sampling")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", "-n", help="Image inputs: in-between frames for each "
                                                  "consecutive pair. Default 1.", rich_help_panel="Sampling")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="mask|replacement|reconstruction (default: the model's best that fits single key frames).",
        rich_help_panel="Sampling")] = None,
    no_keep: Annotated[bool, typer.Option("--no-keep", help="Keep the model's decode of the given frames instead of "
                                          "pasting the originals back.", rich_help_panel="Output")] = False,
    seed: SeedOpt = 0,
    sampler: SamplerOpt = "ddim",
    steps: StepsOpt = 50,
    eta: EtaOpt = 0.0,
    guidance: GuidanceOpt = None,
    recon_weight: ReconOpt = 2.0,
    fps: FpsOpt = None,
    output: DerivedOutputOpt = None,
    format: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    device: DeviceOpt = "auto",
    threads: ThreadsOpt = 0,
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Make a video smoother (--factor k) or fill in frames between key images (--frames N).

    Frames are resized (shorter side + centre crop) to the model's resolution. The given frames are
    kept exactly in the output unless --no-keep. Needs a frame-aligned model (VDM, LVDM); PVDM's
    triplane latents cannot hold single known frames. Without -o, the output is named after the first
    input (clip.mp4 -> clip-interpolated.mp4, in the current folder); an existing output is refused
    unless --overwrite.

    [bold]Examples[/bold]

      vgen interpolate clip.mp4 --model my-vdm --factor 2 -o smooth.mp4

      vgen interpolate a.png b.png c.png --model my-vdm --frames 3 --fps 8 -o inbetween.gif

      vgen sample -o - --format mp4 | vgen interpolate - --model my-lvdm --factor 2 -o smooth.mp4
    """
    import time

    import numpy as np

    from vgen.io.video import open_video
    from vgen.pipelines.interpolate import check_between, count_windows, interpolate_frames, interpolate_method
    from vgen.pipelines.model import load_model
    from vgen.io.output import derived_output, plan_outputs

    output = output if output is not None else derived_output(inputs[0], "interpolated", format)
    check_common(steps=steps, sampler=sampler, output=output, json_out=json_out, quiet=quiet)
    images = len(inputs) > 1
    if images and factor is not None:
        raise VgenError("--factor is for one video input; with key images use --frames N")
    if not images and frames is not None:
        raise VgenError("--frames is for key images; with one video use --factor k")
    if images and any(p == "-" for p in inputs):
        raise VgenError("stdin (-) can only be the single video input")
    if images and any(not p.lower().endswith(_IMAGE_SUFFIXES) for p in inputs):
        raise VgenError("give one video, or two or more key images (.png/.jpg); "
                        f"got {len(inputs)} inputs that are not all images")
    between = (frames if frames is not None else 1) if images else (factor if factor is not None else 2) - 1
    if images and between <= 0:
        raise VgenError(f"--frames must be positive (got {between})")
    if not images and between <= 0:
        raise VgenError(f"--factor must be at least 2 (got {between + 1})")
    if fps is not None and fps <= 0:
        raise VgenError(f"--fps must be positive (got {fps})")
    (target,) = plan_outputs(output, [seed], format, stem="interpolated", overwrite=overwrite)

    started = time.perf_counter()
    loaded = load_model(model, device=device)
    used_threads = model_threads(threads, loaded)
    chosen = interpolate_method(loaded, method)
    check_between(loaded, between)
    size = loaded.resolution
    if images:
        keys = [_first_frame(open_video(path, size=size, fit="crop"), path) for path in inputs]
        key_chunks: Iterator = iter([np.stack(keys)])
        total_keys: Optional[int] = len(keys)
        out_fps = fps or float(loaded.fps)
    else:
        reader = open_video(inputs[0], size=size, fit="crop")
        key_chunks = reader.chunks(loaded.clip_frames)
        total_keys = reader.num_frames
        out_fps = fps or float(reader.fps) * (between + 1)
    settings = settings_from(sampler, steps, eta, guidance, recon_weight)

    def chunks(callback: Callable) -> Iterator:
        return interpolate_frames(loaded, key_chunks, between=between, seed=seed, settings=settings, method=chosen,
                                  keep=not no_keep, total_keys=total_keys, callback=callback)

    windows = count_windows(loaded, total_keys, between) if total_keys and total_keys >= 2 else None
    written = write_and_report(target, chunks, fps=out_fps, total_steps=windows * steps if windows else None,
                               what="interpolate")
    if json_out:
        emit_json(summary([written], fps=out_fps, seeds=[seed], seconds=time.perf_counter() - started,
                          model=model, preset=loaded.config.name, threads=used_threads, method=chosen,
                          between=between))


def _first_frame(reader: object, path: str) -> "object":
    """The first frame of a key image (or of a video given as a key)."""
    for chunk in reader.chunks(1):  # type: ignore[attr-defined]
        return chunk[0]
    raise VgenError(f"{path}: holds no frame; give a PNG or JPG image")
