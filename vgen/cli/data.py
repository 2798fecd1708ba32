"""``vgen data``: dataset utilities. ``vgen data synth`` writes synthetic training videos."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vgen.cli._common import emit_json, log
from vgen.cli._outputs import PlainOverwriteOpt, check_json_stdout
from vgen.cli._types import FiniteFloat
from vgen.cli.progress import ProgressReporter
from vgen.errors import VgenError

app = typer.Typer(
    help="Dataset utilities: generate synthetic video datasets.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


class SynthFormatChoice(str, Enum):
    mp4 = "mp4"
    frames = "frames"


class SynthKindChoice(str, Enum):
    bouncing = "bouncing"
    sky = "sky"
    mixed = "mixed"


@app.command("synth")
def synth_cmd(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write <kind>/<kind>_0000.mp4 ... into (created if missing).")],
    kind: Annotated[SynthKindChoice, typer.Option("--kind", help="bouncing objects, drifting sky, or mixed (alternating; 2 classes).")] = SynthKindChoice.bouncing,
    num: Annotated[int, typer.Option("--num", "-k", min=1, help="Number of videos in total.")] = 32,
    frames: Annotated[int, typer.Option("--frames", min=1, help="Frames per video.")] = 64,
    size: Annotated[int, typer.Option("--size", min=8, help="Square frame size in pixels.")] = 64,
    fps: Annotated[float, typer.Option("--fps", parser=FiniteFloat(minimum=0.1), help="Frame rate stored in the mp4 files (at least 0.1).")] = 8.0,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Base seed; video i uses seed (seed, i).")] = 0,
    format: Annotated[SynthFormatChoice, typer.Option("--format", help="mp4 (H.264, crf 18) or frames: a folder of lossless PNG frames per video, the generator's exact pixels (use it for FVD reference sets: at 32x32 the codec alone moves FVD16).")] = SynthFormatChoice.mp4,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    overwrite: PlainOverwriteOpt = False,
) -> None:
    """Write a folder of deterministic synthetic mp4 videos, laid out as class folders (UCF-like).

    The same options always give the same videos; video i equals item i of the synthetic training
    source with the same kind and seed. Use the folder with [bold]vgen train --data[/bold]. Video files
    that already exist are refused unless --overwrite (which replaces them and leaves other files alone).

    [bold]Examples[/bold]

      vgen data synth toy/ --kind mixed --num 32 --frames 64 --size 64 --fps 8 --seed 0

      vgen data synth sky/ --kind sky --num 200 --frames 32 --size 128 --json

      vgen data synth held/ --num 128 --frames 16 --size 32 --seed 1000 --format frames
    """
    from vgen.data.synthetic_dataset import synthetic_video_paths, write_synthetic_videos
    from vgen.io.atomic import os_error_message, removing_new_folders
    from vgen.io.output import refuse_existing

    check_json_stdout(json_out)
    out_dir = out_dir.expanduser()
    _check_out_dir(out_dir)
    planned = synthetic_video_paths(out_dir, kind.value, num, format.value)
    if not overwrite:
        refuse_existing([str(p) for p in planned], hint="choose another folder")
    with ProgressReporter(f"synth {kind.value}", total=num) as progress:
        try:
            with removing_new_folders(sorted({p.parent for p in planned})):
                paths = write_synthetic_videos(out_dir, kind.value, num=num, frames=frames, size=size, fps=fps,
                                               seed=seed, callback=progress, format=format.value)
        except OSError as exc:
            raise VgenError(os_error_message(exc, Path(exc.filename or out_dir))) from None
    counts: dict[str, int] = {}
    for path in paths:
        counts[path.parent.name] = counts.get(path.parent.name, 0) + 1
    log(f"wrote {len(paths)} videos ({frames} frames, {size}x{size}, {fps:g} fps) to {out_dir} in {progress.seconds:.1f}s")
    if json_out:
        emit_json({
            "out_dir": str(out_dir), "kind": kind.value, "num": len(paths), "frames": frames, "size": size,
            "fps": fps, "seed": seed, "format": format.value, "classes": counts, "files": [str(p) for p in paths],
            "seconds": round(progress.seconds, 3),
        })


def _check_out_dir(out_dir: Path) -> None:
    """The output must be a folder or a new path whose nearest existing parent is a folder."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == out_dir else f" in {str(out_dir)!r}"
                raise VgenError(f"output {str(path)!r}{where} is a file; give a folder path for the synthetic videos")
            return
