"""vgen's benchmark harness (issue #14): every speed figure of one machine, and the peers', from one run.

Sections (``--only`` picks some; the others are written as skipped):

- ``matmul``: the fp32 matmul peak of this machine now: best-of-N GFLOP/s of square ``torch.mm`` at the thread count
  in use (recorded), the yardstick for every other figure.
- ``forward``: per preset (``--smoke``: the ``-tiny`` ones) and the bundled model, one denoiser forward at batch 1 on
  the preset's native clip (latent shape from the networks on the meta device), as sampling calls it
  (``LoadedModel.denoise``). FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` on the meta device: there
  ``scaled_dot_product_attention`` runs its bmm decomposition, which the counter sees, while the fused CPU kernel is
  not counted. Achieved GFLOP/s and the share of the matmul peak follow. Every attention call of the warm-up forward
  is recorded: ``fused_eligible`` says whether all met the fused CPU kernel's input checks (4-D q/k/v, stride 1 in
  the last axis, one dtype, one head width), so a silent fallback to the slow math path shows in the results; and
  a profiled warm-up forward counts 3D convolutions on PyTorch's ``slow_conv3d`` fallback (``slow_conv3d``, 0 since
  ``vgen.models.layers.Conv3d``) and on oneDNN (``onednn_conv``). ``aten_ops`` counts the operators one forward
  dispatches; with the cheapest operator's cost from Python (``dispatch_floor_us``) that gives ``ceiling_share_of_peak``,
  an estimate of the best share an eager forward at batch 1 could reach with its arithmetic at the peak (an estimate:
  operators dispatched from C++ inside a composite cost less than one from Python, real layers more): where it is
  well under 70%, the target needs fused operators or more work per operator, not faster kernels.
- ``compile``: ``--compile`` (``LoadedModel.compile``) against eager for the bundled models (``--compile-models``;
  ``--smoke``: ``pvdm-tiny`` on dynamo's ``eager`` backend): the first compiled call, compilation included, then
  interleaved medians of both, the speed-up, the calls that repay the compilation and the largest output difference.
- ``conv3d``: ``vgen.models.layers.Conv3d`` (oneDNN for CPU fp32 inference) against PyTorch's own dispatch, which
  sends small-batch 3D convolutions on few threads to ``slow_conv3d``: batch-1 denoiser forward and, for latent models,
  one clip's decode, both ways interleaved in one process, per model (``--conv3d-models``; ``--smoke``: ``vdm-tiny``).
- ``sample``: wall time and peak RSS of a full sample of the bundled model at 16 and 128 frames (``--smoke``: 16 and
  32, 2 steps); each run is a child process (peak RSS from ``os.wait4``, as ``bench_sample_memory.py``).
- ``training``: optimisation steps/s per stage (ae, diffusion) of the tiny and mini presets (``--smoke``: tiny),
  through vgen's own training code (``stage_plan`` + ``Trainer``: the real objective, AdamW, clipping, EMA) on
  random videos in memory.
- ``peers``: video-diffusion-pytorch's ``Unet3D`` and diffusers' ``UNet3DConditionModel`` beside vgen's VDM UNet
  (preset ``vdm``; ``--smoke``: ``vdm-tiny``), each peer's width and one more knob (heads; depth) searched so its parameter
  count is within 10% of vgen's; params, FLOPs and forward time on the same pixel input (1x3x16x64² for ``vdm``) and
  a latent input (1x4x16x32², vgen's side being its latent UNet, LVDM's, with the VDM UNet's widths). A peer that is
  not installed is skipped with a note (install the ``bench`` extra, see benchmarks/README.md). Each peer row has
  ``vgen_time_ratio`` (vgen's time over the peer's) and ``vgen_ratio_at_peak``, the ratio vgen would reach with its
  FLOPs at 100% of the matmul peak: the best any kernel work could do for a target such as 0.4x.
- ``pvdm_vs_vdm``: the PVDM plane UNet against vgen's pixel-space VDM UNet (preset ``vdm`` at PVDM's resolution) for
  the same output, PVDM-S's 16x256² clip (``--smoke``: ``pvdm-mini`` and ``vdm-mini`` at 16x32²); the sample cost is
  computed as steps x (measured median denoiser forward) + (measured PVDM decode), DDIM without guidance (one
  denoiser call per step), beside the same ratio in FLOPs.
- ``dit_vs_unet``: the transformer against the UNet at a matched FLOP budget (issue #15): the DiT denoiser of preset
  ``dit-s`` (``--smoke``: ``dit-tiny``) on its own latent (1x8x5x16² for ``dit-s``), and vgen's latent 3D UNet (LVDM's)
  on the same latent with its width searched so one forward costs within 10% of the DiT's FLOPs; params, FLOPs,
  forward time and share of peak for both.

Times are medians of ``--repeats`` repetitions after ``--warmup`` warm-up runs, the repetitions interleaved over the
cases of a section (networks that do not fit ``--resident-params`` at once are measured in groups); the 1/5/15-minute
load average is recorded before and after each section (and each child run). JSON goes to ``--out``, the tables to
stdout, progress to stderr; the exit code is 1 when a section failed (its error is in the JSON).

    python benchmarks/harness.py --out results.json
    python benchmarks/harness.py --out results.json --skip-large --only matmul forward training
    python benchmarks/harness.py --out smoke.json --smoke          # tiny sizes, 1 repetition: checks the harness only
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import types
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import run_child as measured_child  # noqa: E402
from vgen.config import PRESETS, preset  # noqa: E402
from vgen.config.base import ModelConfigBase  # noqa: E402
from vgen.io.atomic import refuse_existing, write_text_atomic  # noqa: E402
from vgen.models import build_networks  # noqa: E402
from vgen.models.layers import count_parameters  # noqa: E402
from vgen.pipelines.model import LoadedModel  # noqa: E402

SECTIONS = ("cli", "matmul", "forward", "compile", "conv3d", "sample", "training", "peers", "pvdm_vs_vdm",
            "dit_vs_unet")
COMPILE_MODELS = ("pvdm-mini-bouncing", "vdm-mini-bouncing")  # the bundled models: what `--compile` would speed up
# the bundled 3D model and the small presets built on 3D convolutions (VDM and LVDM UNets, LVDM and DiT autoencoders)
CONV3D_MODELS = ("vdm-mini-bouncing", "vdm-tiny", "vdm-mini", "lvdm-tiny", "lvdm-mini", "dit-tiny", "dit-mini")
HELP_TARGET_S = 0.3  # issue #14: `vgen --help` answers in under 0.3 s
BUNDLED = "pvdm-mini-bouncing"
PEERS = {"video-diffusion-pytorch": ("video_diffusion_pytorch", "Unet3D"),
         "diffusers": ("diffusers", "UNet3DConditionModel")}
INSTALL_PEERS = "install the bench extra (benchmarks/README.md, 'Peers in the same run')"
PARAM_TOLERANCE = 0.10
SKIP_LARGE_PARAMS = 200e6
T_MID = 500  # the timestep of every timed denoiser call (cost does not depend on it)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def params_of(*modules: nn.Module) -> int:
    return sum(count_parameters(m) for m in modules)


def median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def interleaved(cases: dict[str, Callable[[], object]], repeats: int, warmup: int,
                cold: frozenset[str] = frozenset()) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls of every case, the repetitions interleaved over the cases, after ``warmup``
    untimed rounds (which skip the ``cold`` cases)."""
    for _ in range(warmup):
        for key, fn in cases.items():
            if key not in cold:
                fn()
    times: dict[str, list[float]] = {key: [] for key in cases}
    for _ in range(repeats):
        for key, fn in cases.items():
            started = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - started)
    return times


def budget_groups(sizes: dict[str, int], budget: float) -> list[list[str]]:
    """Keys packed (smallest first) into groups whose parameters fit ``budget`` together; a larger one is alone."""
    groups: list[list[str]] = []
    total = math.inf
    for key in sorted(sizes, key=sizes.get):
        if total + sizes[key] > budget:
            groups.append([])
            total = 0
        groups[-1].append(key)
        total += sizes[key]
    return groups


def meta_flops(run: Callable[[], object]) -> int:
    """FLOPs of ``run()`` (which must work on meta tensors): the flop counter sees SDPA's bmm decomposition there."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def rate(flops: Optional[int], seconds: Optional[float], peak: Optional[float]) -> dict[str, Optional[float]]:
    """Achieved GFLOP/s of ``flops`` in ``seconds`` and its share of the matmul ``peak``."""
    if not flops or not seconds:
        return {"achieved_gflops_s": None, "share_of_peak": None}
    achieved = flops / seconds / 1e9
    return {"achieved_gflops_s": round(achieved, 3), "share_of_peak": round(achieved / peak, 4) if peak else None}


# ----------------------------------------------------------------------------- attention inputs

def attention_inputs(run: Callable[[], object]) -> list[dict[str, Any]]:
    """Every ``torch.nn.functional.scaled_dot_product_attention`` call made by ``run()``: its q/k/v dims, strides of
    the last axis, dtypes and head widths, and whether the fused CPU (flash) kernel accepts them. Torch checks the
    same things (``use_flash_attention_cpp``) and silently runs the slow math path when one fails."""
    calls: list[dict[str, Any]] = []
    original = F.scaled_dot_product_attention

    def recording(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        qkv = (q, k, v)
        call = {"dims": [x.dim() for x in qkv], "last_stride": [x.stride(-1) for x in qkv],
                "dtypes": [str(x.dtype) for x in qkv], "head_widths": [x.shape[-1] for x in qkv],
                "shape": list(q.shape), "mask": (args[0] if args else kwargs.get("attn_mask")) is not None}
        call["fused_eligible"] = (call["dims"] == [4, 4, 4] and call["last_stride"] == [1, 1, 1]
                                  and len(set(call["dtypes"])) == 1 and len(set(call["head_widths"])) == 1)
        calls.append(call)
        return original(q, k, v, *args, **kwargs)

    F.scaled_dot_product_attention = recording
    try:
        run()
    finally:
        F.scaled_dot_product_attention = original
    return calls


def fused_summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"attention_calls": len(calls),
            "fused_eligible": all(c["fused_eligible"] for c in calls) if calls else None}


def aten_ops(run: Callable[[], object]) -> int:
    """How many ATen operators ``run()`` dispatches (every kernel call, views and copies included)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Counter(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            Counter.count += 1
            return func(*args, **(kwargs or {}))

    with Counter():
        run()
    return Counter.count


def dispatch_floor_s(calls: int = 2000, rounds: int = 7) -> float:
    """Seconds per call of the cheapest ATen operator from Python (an in-place add on 16 floats): a lower bound on
    what each operator of a forward costs beyond its arithmetic (real layers add module calls, shape checks and
    allocation). The median of ``rounds`` timings of ``calls`` calls."""
    x = torch.zeros(16)
    with torch.inference_mode():
        for _ in range(calls):
            x.add_(1.0)
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                x.add_(1.0)
            times.append((time.perf_counter() - started) / calls)
    return median(times)


def overhead_ceiling(flops: int, ops: int, floor_s: float, peak: Optional[float]) -> Optional[float]:
    """An estimate of the best share of the matmul peak a forward of ``flops`` in ``ops`` operators can reach in eager
    mode: its arithmetic at the peak plus ``floor_s`` per operator. Well under 0.7, the 70% target is out of reach at
    this batch without fusing operators (``--compile``) or giving each more work (a larger batch)."""
    if not peak or not flops:
        return None
    compute_s = flops / (peak * 1e9)
    return round(compute_s / (compute_s + ops * floor_s), 4)


def conv3d_paths(run: Callable[[], object]) -> dict[str, int]:
    """How the convolutions of one ``run()`` were computed: ``onednn_conv`` calls went to oneDNN; ``slow_conv3d``
    counts 3D convolutions with a kernel larger than 1x1x1 on PyTorch's unfold + matmul fallback, which its CPU
    dispatch picks for small batches on few threads and which is 2-6x slower on vgen's shapes
    (``vgen.models.layers.Conv3d`` avoids it in inference; 1x1x1 kernels are as fast there and stay)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        run()
    slow = [event for event in prof.events() if event.name == "aten::slow_conv3d_forward"]
    return {"slow_conv3d": sum(1 for event in slow if math.prod(event.input_shapes[1][2:]) > 1),
            "onednn_conv": sum(1 for event in prof.events() if event.name == "aten::mkldnn_convolution")}


# ----------------------------------------------------------------------------- models

def meta_model(config: ModelConfigBase) -> LoadedModel:
    with torch.device("meta"):
        networks = build_networks(config)
    return LoadedModel(config, networks, "meta")


def cpu_model(config: ModelConfigBase, seed: int = 0) -> LoadedModel:
    torch.manual_seed(seed)
    return LoadedModel(config, build_networks(config), "cpu")


def denoise_call(model: LoadedModel, x: torch.Tensor) -> Callable[[], torch.Tensor]:
    """One denoiser forward at ``T_MID``. A model that only works on a given video (an upscaling or frame-filling
    stage) gets the condition its family trains with (``Family.example_inputs``: the low-resolution clip, known
    frames and mask); the others their null condition, through ``LoadedModel.denoise``."""
    if model.supports.long:
        return lambda: model.denoise(x, T_MID)
    network, _, extra = model.family.example_inputs(model.config, "diffusion", model.networks, x.device)
    t = torch.full((x.shape[0],), T_MID, dtype=torch.long, device=x.device)

    def call() -> torch.Tensor:
        with torch.no_grad():
            return network(x, t, **extra)

    return call


def training_stages(config: ModelConfigBase) -> list[str]:
    """The stages ``vgen train`` runs for a preset; a family trained in separate runs (inflated: ``--stage image``,
    then ``--stage temporal --from`` the trained image model) contributes its first run's stage."""
    from vgen.errors import VgenError
    from vgen.families import family_of

    family = family_of(config)
    try:
        return family.stages(config, "all", fine_tuning=False)
    except VgenError:
        return family.stages(config, "image", fine_tuning=False)


def denoise_flops(config: ModelConfigBase) -> tuple[int, tuple[int, ...], int, int]:
    """(FLOPs of one batch-1 denoiser forward on the native clip, latent shape, denoiser parameters, parameters of
    all the model's networks), on the meta device."""
    model = meta_model(config)
    shape = model.latent_shape()
    x = torch.empty(1, *shape, device="meta")
    return (meta_flops(denoise_call(model, x)), tuple(shape), count_parameters(model.unet),
            params_of(*model.networks.values()))


# ----------------------------------------------------------------------------- 1. matmul peak

def section_matmul(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for n in opts.matmul_sizes:
        log(f"matmul {n}x{n}")
        a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        before = load_average()
        times = interleaved({"mm": lambda: torch.mm(a, b, out=out)}, max(opts.repeats, 3), max(opts.warmup, 1))["mm"]
        best = min(times)
        rows.append({"n": n, "best_s": best, "gflops_s": round(2 * n ** 3 / best / 1e9, 3), "times_s": times,
                     "load_average_before": before, "load_average_after": load_average()})
    return {"threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "dtype": "float32", "rows": rows, "peak_gflops_s": max(r["gflops_s"] for r in rows)}


def peak_of(results: dict[str, Any]) -> Optional[float]:
    return results.get("matmul", {}).get("peak_gflops_s")


# ----------------------------------------------------------------------------- 2. denoiser forward per preset

def forward_presets(opts: argparse.Namespace) -> list[str]:
    if opts.presets:
        return list(opts.presets)
    return [name for name in PRESETS if name.endswith("-tiny")] if opts.smoke else list(PRESETS)


def section_forward(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    import vgen

    peak = peak_of(results)
    rows: dict[str, dict[str, Any]] = {}
    builders: dict[str, Callable[[], LoadedModel]] = {}
    sizes: dict[str, int] = {}
    bundled = f"bundled:{BUNDLED}"
    for name in [*forward_presets(opts), bundled]:
        if name == bundled:
            loaded = vgen.load_model(BUNDLED, device="cpu")
            config = loaded.config
            builders[name] = lambda loaded=loaded: loaded
        else:
            config = preset(name)
            builders[name] = lambda config=config: cpu_model(config)
        flops, shape, params, sizes[name] = denoise_flops(config)
        rows[name] = {"model": name, "family": config.family, "clip": [config.frames, config.resolution],
                      "latent_shape": [1, *shape], "denoiser_params": params, "gflops": round(flops / 1e9, 4)}
        if opts.max_params is not None and params > opts.max_params:
            rows[name]["skipped"] = (f"denoiser has {params / 1e6:.0f}M parameters, over --max-params "
                                     f"{opts.max_params / 1e6:.0f}M")
            del sizes[name]

    for group in budget_groups(sizes, opts.resident_params):
        log(f"forward: {', '.join(group)}")
        models = {name: builders[name]() for name in group}
        inputs = {name: torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
                  for name, model in models.items()}
        cases = {name: denoise_call(models[name], inputs[name]) for name in group}
        for name in group:  # the first warm-up forwards record the attention calls, operators and convolution paths
            calls: list[dict[str, Any]] = []
            rows[name]["aten_ops"] = aten_ops(lambda: calls.extend(attention_inputs(cases[name])))
            rows[name].update(fused_summary(calls))
            rows[name].update(conv3d_paths(cases[name]))
        times = interleaved(cases, opts.repeats, max(opts.warmup - 1, 0))
        floor = dispatch_floor_s()
        for name in group:
            seconds = median(times[name])
            flops, ops = int(rows[name]["gflops"] * 1e9), rows[name]["aten_ops"]
            rows[name].update({"median_s": seconds, "times_s": times[name], **rate(flops, seconds, peak),
                               "dispatch_floor_us": round(floor * 1e6, 3), "overhead_floor_s": round(ops * floor, 6),
                               "ceiling_share_of_peak": overhead_ceiling(flops, ops, floor, peak)})
        del models, inputs, cases
    return {"batch": 1, "timestep": T_MID, "rows": list(rows.values())}


# ----------------------------------------------------------------------------- 2b. --compile: gain and its price

def compile_builder(name: str) -> Callable[[], LoadedModel]:
    """A fresh CPU model for a bundled/stored model name or a preset (random weights)."""
    import vgen

    if name in PRESETS:
        return lambda: cpu_model(preset(name))
    return lambda: vgen.load_model(name, device="cpu")


def section_compile(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """``--compile`` (``LoadedModel.compile``) against eager, per model: the first compiled call (compilation
    included), then interleaved medians of eager and compiled forwards, the speed-up, how many denoiser calls
    repay the compilation, and the largest output difference."""
    peak = peak_of(results)
    names = opts.compile_models or (["pvdm-tiny"] if opts.smoke else list(COMPILE_MODELS))
    backend = opts.compile_backend or ("eager" if opts.smoke else "inductor")
    rows = []
    for name in names:
        log(f"compile: {name} ({backend})")
        eager, compiled = compile_builder(name)(), compile_builder(name)()
        compiled.compile(backend)
        x = torch.randn(1, *eager.latent_shape(), generator=torch.Generator().manual_seed(0))
        cases = {"eager": denoise_call(eager, x), "compiled": denoise_call(compiled, x)}
        first = cases["compiled"]()  # compiles
        difference = float((first.float() - cases["eager"]().float()).abs().max())
        times = interleaved(cases, opts.repeats, opts.warmup)
        eager_s, compiled_s = median(times["eager"]), median(times["compiled"])
        flops, _, params, _ = denoise_flops(eager.config)
        saved = eager_s - compiled_s
        rows.append({"model": name, "denoiser_params": params, "gflops": round(flops / 1e9, 4),
                     "compile_s": compiled.compile_seconds, "eager_median_s": eager_s, "compiled_median_s": compiled_s,
                     "speedup": eager_s / compiled_s, "calls_to_repay": compiled.compile_seconds / saved if saved > 0 else None,
                     "max_abs_difference": difference, "eager_share_of_peak": rate(flops, eager_s, peak)["share_of_peak"],
                     "compiled_share_of_peak": rate(flops, compiled_s, peak)["share_of_peak"],
                     "times_s": times})
        del eager, compiled, cases
    return {"backend": backend, "batch": 1, "timestep": T_MID, "threads": torch.get_num_threads(), "rows": rows}


# ----------------------------------------------------------------------------- 2c. oneDNN 3D convolutions: the gain

def section_conv3d(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """``vgen.models.layers.Conv3d`` against PyTorch's own dispatch (which picks ``slow_conv3d`` for small batches on
    few threads), in the same process: per model, the batch-1 denoiser forward and, for latent models, one clip's
    decode, timed both ways (interleaved medians), the speed-up and the largest output difference."""
    from vgen.models.layers import onednn_conv3d

    peak = peak_of(results)
    names = opts.conv3d_models or (["vdm-tiny"] if opts.smoke else list(CONV3D_MODELS))
    rows = []
    for name in names:
        log(f"conv3d: {name}")
        model = compile_builder(name)()
        x = torch.randn(1, *model.latent_shape(), generator=torch.Generator().manual_seed(0))
        parts = {"denoise": denoise_call(model, x)}
        if "autoencoder" in model.networks:
            parts["decode"] = lambda model=model, x=x: model.decode(x)
        flops, _, params, _ = denoise_flops(model.config)
        for part, call in parts.items():
            def default(call: Callable[[], torch.Tensor] = call) -> torch.Tensor:
                with onednn_conv3d(False):
                    return call()

            cases = {"default": default, "onednn": call}
            difference = float((cases["default"]().float() - cases["onednn"]().float()).abs().max())
            paths = {key: conv3d_paths(fn) for key, fn in cases.items()}
            times = interleaved(cases, opts.repeats, opts.warmup)
            default_s, onednn_s = median(times["default"]), median(times["onednn"])
            row = {"model": name, "part": part, "default_median_s": default_s, "onednn_median_s": onednn_s,
                   "speedup": default_s / onednn_s, "max_abs_difference": difference,
                   "slow_conv3d_default": paths["default"]["slow_conv3d"],
                   "slow_conv3d_onednn": paths["onednn"]["slow_conv3d"], "times_s": times}
            if part == "denoise":
                row.update({"denoiser_params": params, "gflops": round(flops / 1e9, 4),
                            "default_share_of_peak": rate(flops, default_s, peak)["share_of_peak"],
                            "onednn_share_of_peak": rate(flops, onednn_s, peak)["share_of_peak"]})
            rows.append(row)
        del model, parts
    return {"batch": 1, "timestep": T_MID, "threads": torch.get_num_threads(), "rows": rows}


# ----------------------------------------------------------------------------- 3. full sample: time and peak RSS

def child_sample(opts: argparse.Namespace) -> int:
    """Child mode: load the bundled model, sample ``--frames``, print one JSON line (load and sample seconds)."""
    import vgen

    started = time.perf_counter()
    model = vgen.load_model(opts.model, device="cpu")
    loaded = time.perf_counter()
    generation = vgen.sample_video(model, vgen.SamplerSettings(steps=opts.steps), frames=opts.frames, seed=0)
    made = sum(chunk.shape[0] for chunk in generation.chunks(None))
    done = time.perf_counter()
    print(json.dumps({"frames": made, "load_s": loaded - started, "sample_s": done - loaded,
                      "method": generation.method, "windows": generation.windows}))
    return 0


def run_child(frames: int, steps: int) -> dict[str, Any]:
    args = [sys.executable, str(Path(__file__).resolve()), "--child-sample", "--model", BUNDLED,
            "--frames", str(frames), "--steps", str(steps), "--out", os.devnull]
    before = load_average()
    run = measured_child(args)
    if run.returncode != 0:
        raise RuntimeError(f"sample child ({frames} frames) failed:\n{run.stderr[-2000:]}")
    return {**json.loads(run.stdout.strip().splitlines()[-1]), "peak_rss_mib": run.peak_rss_mib,
            "process_s": run.seconds, "load_average_before": before, "load_average_after": load_average()}


def section_sample(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    frames = opts.sample_frames or ([16, 32] if opts.smoke else [16, 128])
    steps = opts.sample_steps or (2 if opts.smoke else 50)
    for _ in range(opts.warmup):
        log(f"sample warm-up: {frames[0]} frames")
        run_child(frames[0], steps)
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in frames}
    for r in range(opts.repeats):
        for n in frames:
            log(f"sample {n} frames, {steps} steps (repetition {r + 1}/{opts.repeats})")
            runs[n].append(run_child(n, steps))
    rows = [{"frames": n, "sample_median_s": median([x["sample_s"] for x in runs[n]]),
             "peak_rss_mib": max(x["peak_rss_mib"] for x in runs[n]), "method": runs[n][0]["method"],
             "windows": runs[n][0]["windows"], "runs": runs[n]} for n in frames]
    short, long = rows[0], rows[-1]
    return {"model": BUNDLED, "steps": steps, "sampler": "ddim", "rows": rows,
            f"peak_rss_ratio_{long['frames']}_over_{short['frames']}": long["peak_rss_mib"] / short["peak_rss_mib"]}


# ----------------------------------------------------------------------------- 4. training steps/s

class RandomVideos(torch.utils.data.Dataset):
    """Fixed random videos in [-1, 1], one per index, whatever the epoch (the trainer asks for (epoch, index))."""

    def __init__(self, size: int, shape: tuple[int, ...]) -> None:
        self.size, self.shape = size, shape

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, key: Any) -> torch.Tensor:
        index = key[1] if isinstance(key, tuple) else key
        return torch.rand(self.shape, generator=torch.Generator().manual_seed(int(index))) * 2 - 1


def trainer_for(name: str, stage: str, batch: int) -> tuple[Any, Callable[[], None]]:
    """vgen's Trainer for ``stage`` of preset ``name`` on random videos, and a function running one more step."""
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.training.distributed import DistInfo
    from vgen.training.options import TrainOptions
    from vgen.training.stages import stage_plan
    from vgen.training.trainer import Trainer

    config = preset(name)
    torch.manual_seed(0)
    networks = build_networks(config)
    opts = TrainOptions(synthetic="bouncing", batch_size=batch, steps=1, seed=0)
    plan = stage_plan(stage, config, networks, opts, schedule_from_config(config.diffusion), torch.device("cpu"),
                      lambda _: None)
    plan.finish = None  # end-of-stage work (e.g. latent statistics over the data set) is not a training step
    dataset = RandomVideos(4 * batch, (3, plan.clip_frames, config.resolution, config.resolution))
    trainer = Trainer(plan, config, opts, dataset, torch.device("cpu"), DistInfo(), None)

    def step() -> None:
        trainer.opts = trainer.opts.model_copy(update={"steps": trainer.step + 1})
        trainer.run()

    return plan, step


def section_training(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    names = opts.train_presets or [n for n in PRESETS if n.endswith("-tiny") or (not opts.smoke and n.endswith("-mini"))]
    batch = opts.train_batch or (1 if opts.smoke else 4)
    cases: dict[str, Callable[[], None]] = {}
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        config = preset(name)
        for stage in training_stages(config):
            key = f"{name}/{stage}"
            plan, cases[key] = trainer_for(name, stage, batch)
            rows[key] = {"model": name, "stage": stage, "batch": batch, "clip_frames": plan.clip_frames,
                         "trainable_params": params_of(*plan.trainable.values())}
    log(f"training: {', '.join(cases)}")
    times = interleaved(cases, opts.repeats, opts.warmup)
    for key, row in rows.items():
        seconds = median(times[key])
        row.update({"median_step_s": seconds, "steps_s": 1 / seconds, "samples_s": batch / seconds,
                    "times_s": times[key]})
    return {"how": "vgen.training.stages.stage_plan + Trainer, one optimisation step per timed call (real objective, "
                   "AdamW, gradient clipping, EMA; no perceptual or GAN loss), random videos in memory, "
                   "end-of-stage hooks off", "rows": list(rows.values())}


# ----------------------------------------------------------------------------- 6. peers

@contextmanager
def inert_torchvision() -> Iterator[None]:
    """video-diffusion-pytorch imports ``torchvision.transforms``/``utils`` at module level for its GIF and data
    helpers (``T.ToTensor()`` is even evaluated as a default argument); its ``Unet3D`` never uses them. torchvision does
    not import beside the CPU torch wheel vgen pins, so while the peer is imported, stand-in modules answer every name
    with an inert class, and they are removed afterwards. An already imported torchvision is left as it is."""
    if "torchvision" in sys.modules:
        yield
        return

    class Inert:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("torchvision stand-in of benchmarks/harness.py: not available here")

    def stand_in(name: str) -> types.ModuleType:
        module = types.ModuleType(name)

        def attribute(attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)
            return Inert

        module.__getattr__ = attribute  # type: ignore[method-assign]
        return module

    names = ("torchvision", "torchvision.transforms", "torchvision.utils")
    modules = {name: stand_in(name) for name in names}
    modules["torchvision"].transforms = modules["torchvision.transforms"]  # type: ignore[attr-defined]
    modules["torchvision"].utils = modules["torchvision.utils"]  # type: ignore[attr-defined]
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name in names:
            if sys.modules.get(name) is modules[name]:
                del sys.modules[name]


def load_peer(dist: str) -> tuple[Optional[type], str]:
    """(the peer's network class, its version), or (None, why it is skipped)."""
    module_name, class_name = PEERS[dist]
    if importlib.util.find_spec(module_name) is None:
        return None, f"{dist} is not installed: {INSTALL_PEERS}"
    try:
        with inert_torchvision() if dist == "video-diffusion-pytorch" else nullcontext():
            module = importlib.import_module(module_name)
        return getattr(module, class_name), importlib.metadata.version(dist)
    except Exception as exc:  # noqa: BLE001 - any import failure of an optional peer is reported, not raised
        return None, f"{dist} is installed but does not import ({type(exc).__name__}: {str(exc).splitlines()[0]})"


def closest_width(params: Callable[[int], int], widths: list[int], target: int) -> tuple[int, int]:
    """(width, parameters) of the width whose count is nearest ``target`` (in ratio); counts grow with width, so
    a bisection over ``widths`` builds only a few networks (on the meta device)."""
    cache: dict[int, int] = {}

    def count(i: int) -> int:
        if i not in cache:
            cache[i] = params(widths[i])
        return cache[i]

    lo, hi = 0, len(widths) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if count(mid) < target:
            lo = mid + 1
        else:
            hi = mid
    best = min((i for i in (lo - 1, lo) if i >= 0), key=lambda i: abs(math.log(count(i) / target)))
    return widths[best], count(best)


def meta_count(build: Callable[[], nn.Module]) -> int:
    with torch.device("meta"):
        return count_parameters(build())


class VDPeer:
    """video-diffusion-pytorch ``Unet3D``: width ``dim`` (a multiple of its 8 norm groups) and its attention heads
    (the peer's default 8 first, then fewer) searched; its depth is fixed (two ResNet blocks per level, spatial linear
    attention and temporal attention at every level); levels = vgen's ``channel_mult``, attention head width = vgen's
    ``head_dim``."""

    dist = "video-diffusion-pytorch"
    width_step = 8

    def __init__(self, cls: type, unet: Any) -> None:
        self.cls, self.unet = cls, unet

    def knobs(self, width: int, heads: int) -> dict[str, Any]:
        return {"dim": width, "dim_mults": tuple(self.unet.channel_mult), "attn_heads": heads,
                "attn_dim_head": self.unet.head_dim}

    def variants(self) -> list[int]:
        return [8, 4, 2, 1]

    def build(self, knobs: dict[str, Any], channels: int) -> nn.Module:
        return self.cls(channels=channels, **knobs)

    def call(self, net: nn.Module, x: torch.Tensor) -> Callable[[], object]:
        t = torch.full((x.shape[0],), float(T_MID), device=x.device)
        # An explicit (CPU) focus mask keeps its data-dependent `.all()` checks off the meta device.
        focus = torch.zeros(x.shape[0], dtype=torch.bool)
        return lambda: net(x, t, focus_present_mask=focus)


class DiffusersPeer:
    """diffusers ``UNet3DConditionModel``: base width (a multiple of 4) and ``layers_per_block`` searched (vgen's
    ``num_res_blocks`` first); ``block_out_channels`` = width x vgen's ``channel_mult``; cross-attention blocks at
    vgen's attention levels (plain blocks elsewhere), fed one zero text token of ``cross_attention_dim`` = width;
    norm groups: the largest of 32, 16, 8, 4 dividing the width."""

    dist = "diffusers"
    width_step = 4

    def __init__(self, cls: type, unet: Any) -> None:
        self.cls, self.unet = cls, unet

    def knobs(self, width: int, layers: int) -> dict[str, Any]:
        mult, levels = tuple(self.unet.channel_mult), set(self.unet.attention_levels)
        groups = next(g for g in (32, 16, 8, 4) if width % g == 0)
        first = min(levels, default=0)
        heads = max(1, width * mult[first] // self.unet.head_dim)
        while any((width * m) % heads for m in mult):
            heads -= 1
        return {"block_out_channels": tuple(width * m for m in mult), "layers_per_block": layers,
                "down_block_types": tuple("CrossAttnDownBlock3D" if i in levels else "DownBlock3D"
                                          for i in range(len(mult))),
                "up_block_types": tuple("CrossAttnUpBlock3D" if i in levels else "UpBlock3D"
                                        for i in reversed(range(len(mult)))),
                "norm_num_groups": groups, "attention_head_dim": heads, "cross_attention_dim": width}

    def variants(self) -> list[int]:
        n = self.unet.num_res_blocks
        return [n, *(d for d in (n - 1, n + 1) if d >= 1)]

    def build(self, knobs: dict[str, Any], channels: int) -> nn.Module:
        return self.cls(in_channels=channels, out_channels=channels, **knobs)

    def call(self, net: nn.Module, x: torch.Tensor) -> Callable[[], object]:
        t = torch.full((x.shape[0],), T_MID, dtype=torch.long, device=x.device)
        text = torch.zeros(x.shape[0], 1, net.config.cross_attention_dim, device=x.device)
        return lambda: net(x, t, encoder_hidden_states=text).sample


def match_peer(peer: Any, target: int, max_width: int) -> dict[str, Any]:
    """The peer's knobs whose parameter count is nearest ``target``: per variant of its second knob (in the peer's
    order of preference), the closest width; the first variant within tolerance wins, else the closest overall."""
    widths = list(range(peer.width_step, max_width + 1, peer.width_step))
    found = []
    for variant in peer.variants():
        width, count = closest_width(lambda w: meta_count(lambda: peer.build(peer.knobs(w, variant), 3)), widths,
                                     target)
        found.append({"knobs": peer.knobs(width, variant), "params": count})
        if abs(count / target - 1) <= PARAM_TOLERANCE:
            break
    within = [f for f in found if abs(f["params"] / target - 1) <= PARAM_TOLERANCE]
    return within[0] if within else min(found, key=lambda f: abs(math.log(f["params"] / target)))


def vgen_networks(name: str) -> tuple[Any, dict[str, Callable[[], nn.Module]]]:
    """vgen's VDM UNet config of preset ``name``, and builders of its pixel network (VDMUNet) and of the latent UNet
    (LVDMUNet with the same widths, depth, attention levels and relative-position range; 4 latent channels)."""
    from vgen.families.lvdm.config import LVDMConfig, LVDMUNetConfig
    from vgen.families.lvdm.unet import LVDMUNet
    from vgen.families.vdm.unet import VDMUNet

    config = preset(name)
    u = config.unet
    first = min(u.attention_levels, default=0)
    heads = max(1, u.model_channels * u.channel_mult[first] // u.head_dim)
    while any((u.model_channels * m) % heads for m in u.channel_mult):
        heads -= 1
    latent = LVDMConfig(name=f"{name}-latent", frames=config.frames, resolution=config.resolution,
                        unet=LVDMUNetConfig(model_channels=u.model_channels, channel_mult=u.channel_mult,
                                            num_res_blocks=u.num_res_blocks, attention_levels=u.attention_levels,
                                            num_heads=heads, temporal_length=u.max_relative_position))
    return config, {"pixel": lambda: VDMUNet(config), "latent": lambda: LVDMUNet(latent)}


def section_peers(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    peak = peak_of(results)
    target = opts.peer_target or ("vdm-tiny" if opts.smoke else "vdm")
    config, vgen_builders = vgen_networks(target)
    frames, res = config.frames, config.resolution
    inputs = {"pixel": (1, 3, frames, res, res), "latent": (1, 4, frames, res // 2, res // 2)}
    peers: dict[str, Any] = {}
    matched: dict[str, dict[str, Any]] = {}
    for dist, kind in (("video-diffusion-pytorch", VDPeer), ("diffusers", DiffusersPeer)):
        cls, note = load_peer(dist)
        if cls is None:
            matched[dist] = {"skipped": note}
            log(f"peers: {note}")
        else:
            peers[dist] = kind(cls, config.unet)
            matched[dist] = {"version": note}
    if not peers:
        return {"skipped": "; ".join(m["skipped"] for m in matched.values()), "peers": matched}
    target_params = meta_count(vgen_builders["pixel"])
    for dist, peer in peers.items():
        log(f"peers: matching {dist} {matched[dist]['version']} to {target} ({target_params / 1e6:.2f}M parameters)")
        matched[dist].update(match_peer(peer, target_params, 8 * config.unet.model_channels))

    # Every network of the section: (input kind, network name) -> builder and forward on a given input.
    nets: dict[str, tuple[str, Callable[[], nn.Module], Callable[[nn.Module, torch.Tensor], Callable[[], object]]]] = {}
    for kind in inputs:
        nets[f"{kind}/vgen"] = (kind, vgen_builders[kind], vgen_call)
        for dist, peer in peers.items():
            channels = inputs[kind][1]
            nets[f"{kind}/{dist}"] = (kind, lambda p=peer, c=channels, d=dist: p.build(matched[d]["knobs"], c), peer.call)
    rows: dict[str, dict[str, Any]] = {}
    sizes = {}
    for key, (kind, build, call) in nets.items():
        with torch.device("meta"):
            net = build()
            x = torch.empty(inputs[kind])
        sizes[key] = count_parameters(net)
        label = {"pixel": "vgen VDMUNet", "latent": "vgen LVDMUNet"}[kind] if key.endswith("/vgen") else key.split("/")[1]
        rows[key] = {"input": "x".join(map(str, inputs[kind])), "network": label,
                     "params": sizes[key], "gflops": round(meta_flops(call(net, x)) / 1e9, 4)}
    for kind in inputs:
        base = rows[f"{kind}/vgen"]["params"]
        for key, row in rows.items():
            if key.startswith(f"{kind}/"):
                row["params_ratio_to_vgen"] = round(row["params"] / base, 4)
                row["within_tolerance"] = abs(row["params"] / base - 1) <= PARAM_TOLERANCE
    for group in budget_groups(sizes, opts.resident_params):
        log(f"peers: timing {', '.join(group)}")
        torch.manual_seed(0)
        built = {key: nets[key][1]().eval() for key in group}
        with torch.no_grad():
            cases = {key: nets[key][2](built[key], torch.randn(inputs[nets[key][0]])) for key in group}
            times = interleaved(cases, opts.repeats, opts.warmup)
        for key in group:
            seconds = median(times[key])
            rows[key].update({"median_s": seconds, "times_s": times[key],
                              **rate(int(rows[key]["gflops"] * 1e9), seconds, peak)})
        del built, cases
    for key, row in rows.items():  # vgen's time over each peer's, and the best that ratio could be on this machine
        kind = nets[key][0]
        ours = rows[f"{kind}/vgen"]
        if key.endswith("/vgen") or row.get("median_s") is None or ours.get("median_s") is None:
            continue
        row["vgen_time_ratio"] = round(ours["median_s"] / row["median_s"], 4)
        row["vgen_ratio_at_peak"] = (round(ours["gflops"] / peak / row["median_s"], 4) if peak else None)
    return {"vgen_target": target, "vgen_unet": config.unet.model_dump(), "peers": matched,
            "tolerance": PARAM_TOLERANCE, "inputs": {k: list(v) for k, v in inputs.items()},
            "notes": ["vgen latent network: LVDMUNet with the VDM UNet's widths (vgen's VDM UNet is pixel-only)",
                      "the VDM UNet takes known-frame channels (conditional_frames); here they are zero",
                      "diffusers is given one zero text token; video-diffusion-pytorch runs unconditionally"],
            "rows": list(rows.values())}


def vgen_call(net: nn.Module, x: torch.Tensor) -> Callable[[], object]:
    t = torch.full((x.shape[0],), T_MID, dtype=torch.long, device=x.device)
    return lambda: net(x, t)


# ----------------------------------------------------------------------------- 6b. PVDM against pixel-space VDM

def section_pvdm_vs_vdm(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    from vgen.families.vdm.config import VDMConfig

    peak = peak_of(results)
    pvdm_name, vdm_name = ("pvdm-mini", "vdm-mini") if opts.smoke else ("pvdm-s", "vdm")
    pvdm_config = preset(pvdm_name)
    if opts.compare_resolution:
        pvdm_config = type(pvdm_config).model_validate({**pvdm_config.model_dump(), "resolution": opts.compare_resolution})
    frames, res = pvdm_config.frames, pvdm_config.resolution
    vdm_config = VDMConfig.model_validate({**preset(vdm_name).model_dump(), "name": f"{vdm_name}@{frames}x{res}",
                                           "frames": frames, "resolution": res})
    steps = opts.compare_steps or (2 if opts.smoke else 50)

    meta_pvdm, meta_vdm = meta_model(pvdm_config), meta_model(vdm_config)
    z_meta = torch.empty(1, *meta_pvdm.latent_shape(), device="meta")
    x_meta = torch.empty(1, *meta_vdm.latent_shape(), device="meta")
    flops = {"pvdm_step": meta_flops(lambda: meta_pvdm.denoise(z_meta, T_MID)),
             "pvdm_decode": meta_flops(lambda: meta_pvdm.decode(z_meta)),
             "vdm_step": meta_flops(lambda: meta_vdm.denoise(x_meta, T_MID))}
    params = {"pvdm_unet": count_parameters(meta_pvdm.unet),
              "pvdm_autoencoder": count_parameters(meta_pvdm.networks["autoencoder"]),
              "vdm_unet": count_parameters(meta_vdm.unet)}

    log(f"pvdm_vs_vdm: {pvdm_name} against {vdm_config.name}, {frames}x{res}x{res}")
    pvdm, vdm = cpu_model(pvdm_config), cpu_model(vdm_config)
    g = torch.Generator().manual_seed(0)
    z, x = torch.randn(1, *pvdm.latent_shape(), generator=g), torch.randn(1, *vdm.latent_shape(), generator=g)
    with torch.no_grad():
        cases = {"pvdm_step": lambda: pvdm.denoise(z, T_MID), "pvdm_decode": lambda: pvdm.decode(z),
                 "vdm_step": lambda: vdm.denoise(x, T_MID)}
        # A forward of over a TFLOP is not warmed up: first-call overhead is noise beside minutes of compute.
        cold = frozenset(key for key in cases if flops[key] > 1e12)
        times = interleaved(cases, opts.compare_repeats, opts.warmup, cold)
    t = {key: median(v) for key, v in times.items()}
    pvdm_cost = steps * t["pvdm_step"] + t["pvdm_decode"]
    vdm_cost = steps * t["vdm_step"]
    pvdm_flops = steps * flops["pvdm_step"] + flops["pvdm_decode"]
    vdm_flops = steps * flops["vdm_step"]
    rows = [{"part": key, "gflops": round(flops[key] / 1e9, 4), "median_s": t[key], "times_s": times[key],
             **rate(flops[key], t[key], peak)} for key in cases]
    return {"pvdm": pvdm_name, "vdm": vdm_config.name, "output": [frames, res, res], "sampler": "ddim",
            "guidance": None, "steps": steps, "params": params,
            "how": "sample cost = steps x median denoiser forward (+ median PVDM decode); not a full sample run",
            "not_warmed_up": sorted(cold),
            "rows": rows, "pvdm_sample_s": pvdm_cost, "vdm_sample_s": vdm_cost,
            "vdm_over_pvdm_time": vdm_cost / pvdm_cost, "vdm_over_pvdm_flops": vdm_flops / pvdm_flops,
            "pvdm_sample_gflops": pvdm_flops / 1e9, "vdm_sample_gflops": vdm_flops / 1e9}


# ----------------------------------------------------------------------------- 6c. DiT against a UNet, matched FLOPs

FLOP_TOLERANCE = 0.10


def unet_on_latent(latent: tuple[int, ...], width: int, frames: int) -> nn.Module:
    """vgen's latent 3D UNet (LVDM's) for a latent of ``latent`` = (C, T, h, w): channel_mult (1, 2, 4), two res
    blocks per level, space-time attention at the two lower levels (an LDM UNet for 16² latents)."""
    from vgen.families.lvdm.config import LVDMConfig, LVDMUNetConfig
    from vgen.families.lvdm.unet import LVDMUNet

    base = preset("lvdm")
    config = LVDMConfig.model_validate({
        **base.model_dump(), "name": f"unet-{width}", "frames": frames,
        "autoencoder": {**base.autoencoder.model_dump(), "latent_channels": latent[0]},
        "unet": LVDMUNetConfig(model_channels=width, channel_mult=(1, 2, 4), num_res_blocks=2,
                               attention_levels=(1, 2), num_heads=4, temporal_length=latent[1],
                               ).model_dump()})
    return LVDMUNet(config)


def section_dit_vs_unet(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    peak = peak_of(results)
    name = "dit-tiny" if opts.smoke else "dit-s"
    config = preset(name)
    dit_flops, latent, dit_params, _ = denoise_flops(config)
    widths = list(range(8, 1025, 4))  # model_channels >= 8, a multiple of the 4 heads

    def unet_flops(width: int) -> int:
        with torch.device("meta"):
            net = unet_on_latent(latent, width, config.frames)
            x = torch.empty(1, *latent)
        return meta_flops(vgen_call(net, x))

    width, flops = closest_width(unet_flops, widths, dit_flops)
    log(f"dit_vs_unet: {name} denoiser {dit_flops / 1e9:.2f} GFLOPs on {latent}; UNet width {width}: "
        f"{flops / 1e9:.2f} GFLOPs")
    torch.manual_seed(0)
    dit = cpu_model(config)
    unet = unet_on_latent(latent, width, config.frames).eval()
    x = torch.randn(1, *latent, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        times = interleaved({"dit": lambda: dit.denoise(x, T_MID), "unet": vgen_call(unet, x)}, opts.repeats,
                            opts.warmup)
    rows = []
    for key, network, f, params in (("dit", f"{name} denoiser ({config.denoiser.layout})", dit_flops, dit_params),
                                    ("unet", f"latent 3D UNet, width {width}", flops, count_parameters(unet))):
        seconds = median(times[key])
        rows.append({"network": network, "params": params, "gflops": round(f / 1e9, 4), "median_s": seconds,
                     "times_s": times[key], **rate(f, seconds, peak)})
    return {"dit": name, "latent": list(latent), "unet_width": width, "flop_tolerance": FLOP_TOLERANCE,
            "flops_ratio_unet_to_dit": round(flops / dit_flops, 4),
            "within_tolerance": abs(flops / dit_flops - 1) <= FLOP_TOLERANCE,
            "unet_layout": "LVDMUNet: channel_mult (1, 2, 4), 2 res blocks, attention at levels 1 and 2, 4 heads, "
                           "its mask channel zero (as unconditional sampling calls it)",
            "time_ratio_unet_to_dit": rows[1]["median_s"] / rows[0]["median_s"], "rows": rows}


# ----------------------------------------------------------------------------- 0. start-up of the command line

def section_cli(opts: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Wall time of whole `python -m vgen --help` processes and of `import vgen.cli` alone (fresh interpreters,
    interleaved, after a warm-up that fills the page cache), and which heavy modules that import pulls in."""
    repeats = 5 if opts.repeats is None else max(opts.repeats, 1)
    commands = {"vgen --help": [sys.executable, "-m", "vgen", "--help"],
                "import vgen.cli": [sys.executable, "-c", "import vgen.cli"]}
    cases = {key: (lambda cmd=cmd: subprocess.run(cmd, capture_output=True, check=True)) for key, cmd in commands.items()}
    times = interleaved(cases, repeats, opts.warmup)
    probe = "import sys, vgen.cli; print(' '.join(m for m in ('torch', 'numpy', 'pydantic', 'vgen.config') if m in sys.modules))"
    heavy = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    rows = [{"command": key, "median_s": median(v), "times_s": v} for key, v in times.items()]
    help_s = median(times["vgen --help"])
    return {"rows": rows, "heavy_modules_imported": heavy, "target_s": HELP_TARGET_S,
            "help_meets_target": help_s is not None and help_s < HELP_TARGET_S}


# ----------------------------------------------------------------------------- the run

RUNNERS: dict[str, Callable[[argparse.Namespace, dict[str, Any]], dict[str, Any]]] = {
    "cli": section_cli, "matmul": section_matmul, "forward": section_forward, "compile": section_compile,
    "conv3d": section_conv3d, "sample": section_sample, "training": section_training,
    "peers": section_peers, "pvdm_vs_vdm": section_pvdm_vs_vdm, "dit_vs_unet": section_dit_vs_unet,
}


def cpu_model_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def fmt(value: Any, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_tables(results: dict[str, Any]) -> None:
    """One plain table per section on stdout."""
    for name in SECTIONS:
        section = results[name]
        load = section.get("load_average_before")
        print(f"\n== {name}" + (f" (load {load} -> {section['load_average_after']})" if load else ""))
        if section.get("skipped") or section.get("error"):
            print(f"   skipped: {section['skipped']}" if section.get("skipped") else f"   ERROR: {section['error']}")
            continue
        if name == "cli":
            for r in section["rows"]:
                print(f"{r['command']:<16} {r['median_s']:>7.3f} s")
            print(f"--help under {section['target_s']} s: {'yes' if section['help_meets_target'] else 'NO'}; heavy "
                  f"modules imported by vgen.cli: {', '.join(section['heavy_modules_imported']) or 'none'}")
        elif name == "matmul":
            print(f"{'n':>6} {'GFLOP/s':>9}   threads {section['threads']}")
            for r in section["rows"]:
                print(f"{r['n']:>6} {r['gflops_s']:>9.2f}")
            print(f"peak {section['peak_gflops_s']:.2f} GFLOP/s")
        elif name == "forward":
            print(f"{'model':<28} {'params M':>9} {'GFLOPs':>9} {'median s':>9} {'GFLOP/s':>8} {'of peak':>7} fused "
                  f"slow3d {'ops':>6} {'ceiling':>7}")
            for r in section["rows"]:
                if r.get("skipped"):
                    print(f"{r['model']:<28} {r['denoiser_params'] / 1e6:>9.2f} {r['gflops']:>9.3f}   skipped: {r['skipped']}")
                    continue
                print(f"{r['model']:<28} {r['denoiser_params'] / 1e6:>9.2f} {r['gflops']:>9.3f} {fmt(r['median_s'], '.4f'):>9} "
                      f"{fmt(r['achieved_gflops_s'], '.2f'):>8} {fmt(r['share_of_peak'], '.1%'):>7} "
                      f"{r['fused_eligible']!s:>5} "
                      f"{r['slow_conv3d']:>6} {r['aten_ops']:>6} {fmt(r['ceiling_share_of_peak'], '.1%'):>7}")
        elif name == "compile":
            print(f"{'model':<22} {'compile s':>9} {'eager s':>9} {'compiled s':>10} {'speed-up':>8} {'repaid after':>12} "
                  f"{'max diff':>9}   backend {section['backend']}")
            for r in section["rows"]:
                repay = "never" if r["calls_to_repay"] is None else f"{r['calls_to_repay']:.0f} calls"
                print(f"{r['model']:<22} {fmt(r['compile_s'], '.2f'):>9} {r['eager_median_s']:>9.4f} "
                      f"{r['compiled_median_s']:>10.4f} {r['speedup']:>7.2f}x {repay:>12} {r['max_abs_difference']:>9.2e}")
        elif name == "conv3d":
            print(f"{'model':<22} {'part':<8} {'default s':>9} {'oneDNN s':>9} {'speed-up':>8} {'max diff':>9} "
                  f"{'slow3d before/after':>19}   threads {section['threads']}")
            for r in section["rows"]:
                print(f"{r['model']:<22} {r['part']:<8} {r['default_median_s']:>9.4f} {r['onednn_median_s']:>9.4f} "
                      f"{r['speedup']:>7.2f}x {r['max_abs_difference']:>9.2e} "
                      f"{r['slow_conv3d_default']:>9}/{r['slow_conv3d_onednn']}")
        elif name == "sample":
            print(f"{'frames':>6} {'sample s':>9} {'peak MiB':>9}   {section['model']}, {section['steps']} steps")
            for r in section["rows"]:
                print(f"{r['frames']:>6} {r['sample_median_s']:>9.2f} {r['peak_rss_mib']:>9.1f}")
        elif name == "training":
            print(f"{'model/stage':<20} {'batch':>5} {'step s':>8} {'steps/s':>8}")
            for r in section["rows"]:
                print(f"{r['model'] + '/' + r['stage']:<20} {r['batch']:>5} {r['median_step_s']:>8.3f} {r['steps_s']:>8.2f}")
        elif name == "peers":
            for dist, peer in section["peers"].items():
                print(f"   {dist}: " + (f"skipped ({peer['skipped']})" if "skipped" in peer else
                                        f"{peer['version']}, {peer['knobs']}"))
            print(f"{'input':<16} {'network':<24} {'params M':>9} {'x vgen':>7} {'GFLOPs':>10} {'median s':>9} {'GFLOP/s':>8} "
                  f"{'of peak':>7} {'vgen/it':>7} {'at peak':>7}")
            for r in section["rows"]:
                print(f"{r['input']:<16} {r['network']:<24} {r['params'] / 1e6:>9.3f} {r['params_ratio_to_vgen']:>7.3f} "
                      f"{r['gflops']:>10.3f} {fmt(r.get('median_s'), '.4f'):>9} {fmt(r.get('achieved_gflops_s'), '.2f'):>8} "
                      f"{fmt(r.get('share_of_peak'), '.1%'):>7} {fmt(r.get('vgen_time_ratio'), '.3f'):>7} "
                      f"{fmt(r.get('vgen_ratio_at_peak'), '.3f'):>7}")
            print("vgen/it: vgen's time over the peer's; at peak: that ratio if vgen ran at 100% of the matmul peak")
        elif name == "pvdm_vs_vdm":
            print(f"{'part':<12} {'GFLOPs':>10} {'median s':>9}   {section['pvdm']} vs {section['vdm']}, "
                  f"{'x'.join(map(str, section['output']))}, {section['steps']} DDIM steps")
            for r in section["rows"]:
                print(f"{r['part']:<12} {r['gflops']:>10.3f} {r['median_s']:>9.4f}")
            print(f"sample cost VDM / PVDM: time x{section['vdm_over_pvdm_time']:.2f}, "
                  f"FLOPs x{section['vdm_over_pvdm_flops']:.2f}")
        elif name == "dit_vs_unet":
            print(f"{'network':<36} {'params M':>9} {'GFLOPs':>9} {'median s':>9} {'GFLOP/s':>8} {'of peak':>7}   "
                  f"latent {'x'.join(map(str, section['latent']))}")
            for r in section["rows"]:
                print(f"{r['network']:<36} {r['params'] / 1e6:>9.2f} {r['gflops']:>9.3f} {fmt(r['median_s'], '.4f'):>9} "
                      f"{fmt(r['achieved_gflops_s'], '.2f'):>8} {fmt(r['share_of_peak'], '.1%'):>7}")
            print(f"UNet / DiT: FLOPs x{section['flops_ratio_unet_to_dit']:.3f}, time x{section['time_ratio_unet_to_dit']:.2f}")


def parse(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and 1 repetition: checks the harness")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--repeats", type=int, help="timed repetitions per case (default 3; smoke 1)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds before the repetitions")
    parser.add_argument("--resident-params", type=float, default=1.5e9,
                        help="most parameters held at once; cases beyond are timed in separate groups")
    parser.add_argument("--max-params", type=float, help="skip forward timing of presets with a bigger denoiser")
    parser.add_argument("--skip-large", action="store_true", help=f"--max-params {SKIP_LARGE_PARAMS:.0e}")
    parser.add_argument("--matmul-sizes", type=int, nargs="+", help="square matmul sizes (default 2048 4096; smoke 256)")
    parser.add_argument("--presets", nargs="+", help="forward section presets (default: all; smoke: the -tiny ones)")
    parser.add_argument("--compile-models", nargs="+",
                        help=f"compile section: bundled/stored models or presets (default {' '.join(COMPILE_MODELS)}; "
                             "smoke pvdm-tiny)")
    parser.add_argument("--compile-backend", help="torch.compile backend (default inductor; smoke eager)")
    parser.add_argument("--conv3d-models", nargs="+",
                        help=f"conv3d section: bundled/stored models or presets (default {' '.join(CONV3D_MODELS)}; "
                             "smoke vdm-tiny)")
    parser.add_argument("--sample-frames", type=int, nargs="+", help="sample section lengths (default 16 128)")
    parser.add_argument("--sample-steps", type=int, help="sampler steps of the sample section (default 50; smoke 2)")
    parser.add_argument("--train-presets", nargs="+", help="training section presets (default: tiny and mini)")
    parser.add_argument("--train-batch", type=int, help="training batch (default 4; smoke 1)")
    parser.add_argument("--peer-target", help="vgen VDM preset the peers are matched to (default vdm; smoke vdm-tiny)")
    parser.add_argument("--compare-steps", type=int, help="sampler steps of the PVDM/VDM cost (default 50)")
    parser.add_argument("--compare-repeats", type=int, default=1,
                        help="repetitions of the PVDM/VDM section (default 1: one VDM forward at 16x256² is 52 "
                             "TFLOPs, many minutes on a CPU, and is not warmed up)")
    parser.add_argument("--compare-resolution", type=int,
                        help="output resolution of the PVDM/VDM section (default: the PVDM preset's, 256; smoke 32)")
    # Child mode of the sample section (one sample run in its own process).
    parser.add_argument("--child-sample", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", default=BUNDLED, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    opts = parser.parse_args(argv)
    refusal = None if opts.child_sample else refuse_existing(opts.out, "--out")  # a child's --out is /dev/null
    if refusal:
        parser.error(refusal)
    if opts.repeats is None:
        opts.repeats = 1 if opts.smoke else 3
    if opts.matmul_sizes is None:
        opts.matmul_sizes = [256] if opts.smoke else [2048, 4096]
    if opts.skip_large and opts.max_params is None:
        opts.max_params = SKIP_LARGE_PARAMS
    return opts


def main(argv: Optional[list[str]] = None) -> int:
    opts = parse(argv)
    if opts.child_sample:
        return child_sample(opts)
    chosen = opts.only or list(SECTIONS)
    results: dict[str, Any] = {}
    failed = False
    for name in SECTIONS:
        if name not in chosen:
            results[name] = {"skipped": "not selected (--only)"}
            continue
        log(f"[{name}]")
        before, started = load_average(), time.perf_counter()
        try:
            body = RUNNERS[name](opts, results)
        except Exception as exc:  # noqa: BLE001 - one failed section must not lose the others' figures
            failed = True
            body = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"[{name}] failed: {body['error']}")
        results[name] = {**body, "seconds": round(time.perf_counter() - started, 2),
                         "load_average_before": before, "load_average_after": load_average()}
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(opts).items()
                if k not in ("child_sample", "model", "frames", "steps")}
    peers_installed = {}
    for dist in PEERS:
        try:
            peers_installed[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            peers_installed[dist] = None
    report = {"command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
              "settings": settings,
              "machine": {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
                          "python": platform.python_version(), "platform": platform.platform(),
                          "processor": cpu_model_name(), "peers_installed": peers_installed},
              **results}
    write_text_atomic(opts.out, json.dumps(report, indent=2, default=str) + "\n")
    print_tables(results)
    print(f"\nresults in {opts.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
