"""DiT denoiser attention layouts: forward FLOPs and time of windowed vs factorised vs full at 16 and 64 latent frames.

One fixed small config (hidden 64, depth 2, heads 4, patch 1, 16 × 16 latent tokens per frame, W.A.L.T. window 2)
is built per layout with random weights. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on the meta
device (there SDPA runs its bmm decomposition, which the counter sees; the CPU flash kernel is not counted), so
they are exact and cost nothing. Times are medians of ``--repeats`` forwards under ``torch.no_grad()`` after one
warm-up each, the repetitions interleaved over all (layout, frames) cases so load changes hit every case alike.
The 1/5/15-minute load average is recorded before and after; quote it with the times.

    python benchmarks/bench_dit_attention.py --out bench_dit_attention.json
    python benchmarks/bench_dit_attention.py --frames 4 8 --size 8 --repeats 2 --out /tmp/smoke.json   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vgen.families.dit.config import PRESETS, DiTConfig  # noqa: E402
from vgen.families.dit.denoiser import DiTDenoiser  # noqa: E402
from vgen.io.atomic import refuse_existing, write_text_atomic  # noqa: E402

LAYOUTS = ("windowed", "factorised", "full")


def config(layout: str, opts: argparse.Namespace) -> DiTConfig:
    base = PRESETS["dit-tiny"].model_dump()
    spatial = base["autoencoder"]["spatial_downsample"]
    denoiser = {**base["denoiser"], "layout": layout, "hidden": opts.hidden, "depth": opts.depth, "heads": opts.heads,
                "patch_size": 1, "window": opts.window, "max_frames": max(opts.frames)}
    return DiTConfig.model_validate({**base, "resolution": opts.size * spatial, "denoiser": denoiser})


def forward_flops(layout: str, frames: int, opts: argparse.Namespace) -> dict[str, int]:
    with torch.device("meta"):
        net = DiTDenoiser(config(layout, opts))
        x = torch.empty(opts.batch, net.latent_channels, frames, opts.size, opts.size)
        t = torch.zeros(opts.batch, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        net(x, t)
    counts = counter.get_flop_counts()["Global"]
    return {"total": counter.get_total_flops(), "attention": sum(v for op, v in counts.items() if "bmm" in str(op))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 64], help="latent frames")
    parser.add_argument("--size", type=int, default=16, help="latent rows = columns (tokens, patch 1)")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    opts = parser.parse_args()
    refusal = refuse_existing(opts.out, "--out")
    if refusal:
        parser.error(refusal)

    load_before = os.getloadavg()
    cases = [(layout, frames) for layout in opts.layouts for frames in opts.frames]
    flops = {case: forward_flops(*case, opts) for case in cases}

    torch.manual_seed(0)
    nets = {layout: DiTDenoiser(config(layout, opts)).eval() for layout in opts.layouts}
    inputs = {frames: torch.randn(opts.batch, 4, frames, opts.size, opts.size) for frames in opts.frames}
    t = torch.full((opts.batch,), 500, dtype=torch.long)
    times: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    with torch.no_grad():
        for layout, frames in cases:  # warm-up
            nets[layout](inputs[frames], t)
        for _ in range(opts.repeats):
            for layout, frames in cases:
                started = time.perf_counter()
                nets[layout](inputs[frames], t)
                times[(layout, frames)].append(time.perf_counter() - started)
    load_after = os.getloadavg()

    rows = [{"layout": layout, "frames": frames, "tokens": frames * opts.size ** 2,
             "gflops": flops[(layout, frames)]["total"] / 1e9,
             "attention_gflops": flops[(layout, frames)]["attention"] / 1e9,
             "median_s": statistics.median(times[(layout, frames)]), "times_s": times[(layout, frames)]}
            for layout, frames in cases]
    short, long = min(opts.frames), max(opts.frames)
    growth = {layout: {"flops": flops[(layout, long)]["total"] / flops[(layout, short)]["total"],
                       "time": statistics.median(times[(layout, long)]) / statistics.median(times[(layout, short)])}
              for layout in opts.layouts}
    result = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()},
              "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "torch": torch.__version__, "platform": platform.platform()},
              "load_average_before": load_before, "load_average_after": load_after,
              "rows": rows, f"growth_{long}_over_{short}_frames": growth}
    write_text_atomic(opts.out, json.dumps(result, indent=2) + "\n")

    print(f"{'layout':<11} {'frames':>6} {'tokens':>7} {'GFLOPs':>10} {'attn GFLOPs':>12} {'median s':>9}")
    for row in rows:
        print(f"{row['layout']:<11} {row['frames']:>6} {row['tokens']:>7} {row['gflops']:>10.3f} "
              f"{row['attention_gflops']:>12.3f} {row['median_s']:>9.4f}")
    for layout, g in growth.items():
        print(f"{layout:<11} {long}/{short} frames: FLOPs x{g['flops']:.2f}, time x{g['time']:.2f}")
    print(f"load average before {load_before}, after {load_after}; results in {opts.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
