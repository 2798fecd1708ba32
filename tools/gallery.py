"""Draw the README gallery: real clips beside samples, and a 128-frame video across its clip seams.

    python tools/gallery.py --model pvdm-mini-bouncing -o docs/gallery.png

Rows, each frame scaled up 2x (nearest neighbour) so 32-pixel frames stay crisp:
- ``real``: held-out clips of the synthetic generator the model was trained on (dataset seed 1000);
- ``sample``: one video per seed, the same frame indices;
- ``long``: every 4th frame of one 128-frame video, as two rows; a thin white bar precedes the first
  frame of every new clip (for clips cross-faded over k frames, the first frame of the fade), so a seam that
  resets the scene shows right after a bar.

The PNG is written with the standard library (zlib), so the script needs nothing beyond vgen.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import torch

from vgen.data.synthetic_dataset import SyntheticVideoDataset
from vgen.metrics.generated import generation_boundaries
from vgen.metrics.seams import boundaries
from vgen.pipelines.generate import sample_video
from vgen.pipelines.settings import SamplerSettings
from vgen.pipelines.model import load_model

SCALE = 2
GAP = 2


def write_png(path: Path, image: np.ndarray) -> None:
    """Write uint8 (H, W, 3) RGB as an 8-bit PNG (filter type 0 on every row)."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9))
                     + chunk(b"IEND", b""))


def strip(frames: np.ndarray, marks: set[int] = frozenset()) -> np.ndarray:
    """(n, h, w, 3) frames side by side with gaps; a white gap before each index in ``marks``."""
    n, h, w, _ = frames.shape
    big = frames.repeat(SCALE, axis=1).repeat(SCALE, axis=2)
    out = np.full((h * SCALE, n * (w * SCALE + GAP), 3), 24, dtype=np.uint8)
    for i in range(n):
        x = i * (w * SCALE + GAP) + GAP
        out[:, x:x + w * SCALE] = big[i]
        if i in marks:
            out[:, x - GAP:x] = 255
    return out


def stack(rows: list[np.ndarray]) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, GAP), (0, width - r.shape[1]), (0, 0)), constant_values=24) for r in rows]
    return np.concatenate(padded, axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=4, help="real clips and samples (default 4 each)")
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    model = load_model(args.model, device="cpu")
    clip = model.clip_frames
    picks = list(range(0, clip, max(1, clip // 8)))[:8]
    real = SyntheticVideoDataset("bouncing", args.rows, clip, model.resolution, seed=1000)
    rows = []
    for i in range(args.rows):
        video = ((real[i]["video"].permute(1, 2, 3, 0).numpy() + 1) * 127.5).round().astype(np.uint8)
        rows.append(strip(video[picks]))
    for seed in range(args.rows):
        video = np.concatenate(list(sample_video(model, SamplerSettings(steps=args.steps), frames=clip, seed=seed).chunks(None)))
        rows.append(strip(video[picks]))
    print(f"sampling one 128-frame video of {args.model} ...", file=sys.stderr)
    long = np.concatenate(list(sample_video(model, SamplerSettings(steps=args.steps), frames=128, seed=0).chunks(None)))
    every = list(range(0, 128, 4))
    first, step, _ = generation_boundaries(model, 128)  # a cross-fading model's bar marks where its fade starts
    starts = set(boundaries(128, first, step))
    seams = {j for j, f in enumerate(every) if j and any(every[j - 1] < b <= f for b in starts)}
    half = len(every) // 2
    rows.append(strip(long[every[:half]], {j for j in seams if j < half}))
    rows.append(strip(long[every[half:]], {j - half for j in seams if j >= half}))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_png(args.output, stack(rows))
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
