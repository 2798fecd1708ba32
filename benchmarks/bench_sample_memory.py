"""Peak memory of ``vgen sample`` does not grow with ``--frames``: 16 vs 128 frames on tiny models.

Each run is a separate ``python -m vgen sample`` subprocess; its peak resident set size comes from
``os.wait4`` (the per-child ``ru_maxrss`` that ``/usr/bin/time -v`` reports). Tiny untrained models
(fixed seeds, built by ``tests/test_pipelines_model.py``) are saved to a temporary VGEN_HOME first.

    python benchmarks/bench_sample_memory.py                      # pvdm-tiny, vdm-tiny, lvdm-tiny
    python benchmarks/bench_sample_memory.py --models pvdm-tiny --steps 5 --long 256

Pass criterion (exit code 1 otherwise): peak(long) <= 1.2 x peak(short) for every model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

# The tiny-model builder of the pipeline tests (fixed seeds, perturbed zero-init heads).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _measure import run_child  # noqa: E402
from test_pipelines_model import save_tiny  # noqa: E402


def peak_rss_mib(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one ``python -m vgen`` run."""
    run = run_child([sys.executable, "-m", "vgen", *args], env=env, cwd=cwd, capture_stdout=False)
    if run.returncode != 0:
        raise SystemExit(f"vgen {' '.join(args)} failed:\n{run.stderr}")
    return run.peak_rss_mib, run.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["pvdm-tiny", "vdm-tiny", "lvdm-tiny"])
    parser.add_argument("--short", type=int, default=16)
    parser.add_argument("--long", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--limit", type=float, default=1.2)
    opts = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {**os.environ, "VGEN_HOME": str(home)}
        print(f"{'model':<10} {'frames':>6} {'peak MiB':>9} {'seconds':>8}")
        for name in opts.models:
            save_tiny(name, home / "models" / name)
            peaks = []
            for frames in (opts.short, opts.long):
                peak, seconds = peak_rss_mib(["sample", "--model", name, "--frames", str(frames), "--steps",
                                              str(opts.steps), "-o", f"{name}-{frames}.mp4", "--device", "cpu"],
                                             env, home)
                peaks.append(peak)
                print(f"{name:<10} {frames:>6} {peak:>9.1f} {seconds:>8.1f}")
            ratio = peaks[1] / peaks[0]
            ok &= ratio <= opts.limit
            print(f"{name:<10} ratio {opts.long}/{opts.short} frames: {ratio:.3f} (limit {opts.limit})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
