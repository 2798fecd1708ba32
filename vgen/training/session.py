"""``vgen train`` end to end: resolve the model and options, run the stages, register the result.

Stages: the autoencoder first (PVDM, LVDM), then diffusion on the frozen autoencoder's latents. VDM
has no autoencoder, so its only stage is diffusion. Each stage runs ``options.steps`` optimisation
steps. After the LVDM autoencoder stage the latent scale/shift are fitted on training clips before
the stage's final checkpoint. The finished run's model is registered in the store under its name.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch
from torch import nn

from vgen.config import config_from_json, preset, PRESETS
from vgen.config.base import ModelConfigBase
from vgen.errors import VgenError
from vgen.training import distributed as ddp
from vgen.training import runfolder
from vgen.training.options import Stage, TrainOptions
from vgen.training.order import derive_seed

Progress = Callable[[str, int], ContextManager[Callable[[int, int, dict[str, Any]], None]]]


@dataclass
class TrainRequest:
    """What the user asked for. ``overrides`` are the training options given explicitly on the command line."""

    model: str | None
    overrides: dict[str, Any]
    name: str | None = None
    out: Path | None = None
    resume: bool = False
    device: str = "auto"
    batch_per_device: int | None = None
    runs_root: Path = Path("runs")


@dataclass
class Hooks:
    """How the session talks to the CLI: info lines, warnings, and a progress-bar factory."""

    log: Callable[[str], None] = lambda message: None
    warn: Callable[[str], None] = lambda message: None
    progress: Progress | None = None


@dataclass
class Plan:
    """The resolved run: model config, options, name, stages and where it is written."""

    config: ModelConfigBase
    options: TrainOptions
    name: str
    stages: list[Stage]
    info: ddp.DistInfo
    micro_batch: int
    source: str
    runs_root: Path = Path("runs")
    run_dir: Path | None = None
    checkpoint: Path | None = None
    init_weights: Path | None = None


@dataclass
class TrainResult:
    is_main: bool
    run_dir: Path
    model_dir: Path | None
    stored_as: Path | None
    steps_per_second: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------- resolution

def _stored_config(spec: str) -> tuple[ModelConfigBase, Path]:
    from vgen.io.store import model_config

    return model_config(spec)


def _stages(config: ModelConfigBase, choice: str, fine_tuning: bool) -> list[Stage]:
    family = getattr(config, "family")
    if family == "vdm":
        if choice == "ae":
            raise VgenError("VDM is a pixel-space model with no autoencoder; use --stage diffusion or --stage all")
        return ["diffusion"]
    if choice == "all":
        return ["ae", "diffusion"]
    if choice == "diffusion" and not fine_tuning:
        raise VgenError(
            f"--stage diffusion needs a trained autoencoder but preset {config.name!r} starts untrained; "
            "use --stage all, or --model <stored model> to train diffusion on its autoencoder"
        )
    return [choice]  # type: ignore[list-item]


def resolve(request: TrainRequest) -> Plan:
    """Work out config, options, stages, batch split and run folder (nothing is written)."""
    info = ddp.detect()
    saved: dict[str, Any] = {}
    run_dir: Path | None = None
    checkpoint: Path | None = None
    init_weights: Path | None = None
    if request.resume:
        if request.out is not None:
            run_dir = request.out
        else:
            run_dir = runfolder.latest_run_dir(request.runs_root, request.name or _default_name(request.model))
        checkpoint = runfolder.latest_checkpoint(run_dir)
        if checkpoint is None:
            raise VgenError(f"run folder {str(run_dir)!r} has no complete checkpoint to resume; start a new run without --resume")
        saved = json.loads((run_dir / "config.json").read_text())
        config = config_from_json(json.dumps(saved["model"]))
        source = saved.get("source", config.name)
        name = request.name or saved["name"]
    else:
        if request.model is None:
            raise VgenError(f"pass --model with a preset ({', '.join(sorted(PRESETS))}) or a stored model to fine-tune")
        if request.model in PRESETS:
            config = preset(request.model)
        else:
            config, init_weights = _stored_config(request.model)
        source = request.model
        name = request.name or (request.model if request.model in PRESETS else config.name)
        run_dir = request.out
    options = TrainOptions(**{**saved.get("training", {}), **request.overrides})
    if options.data is None and options.synthetic is None:
        raise VgenError("no training data: pass --data DIR (a folder of videos) or --synthetic bouncing|sky|mixed")
    if options.perceptual not in (None, "i3d") and not Path(options.perceptual).expanduser().is_file():
        raise VgenError(f"--perceptual {options.perceptual!r} does not exist; pass the LPIPS weights file (VGG16 + lpips heads) or --perceptual i3d")
    if options.data is not None and options.synthetic is not None:
        raise VgenError("pass either --data or --synthetic, not both")
    # A resumed run already holds an autoencoder trained by its earlier stage (or by the model it fine-tunes).
    fine_tuning = init_weights is not None or request.resume
    stages = _stages(config, options.stage, fine_tuning)
    if request.batch_per_device is not None:
        options = options.model_copy(update={"batch_size": request.batch_per_device * info.world_size * options.accumulate})
    per_step = options.accumulate * info.world_size
    if options.batch_size % per_step:
        raise VgenError(
            f"--batch-size {options.batch_size} does not split into {options.accumulate} accumulation step(s) × "
            f"{info.world_size} process(es); use a multiple of {per_step} or --batch-per-device"
        )
    return Plan(config=config, options=options, name=name, stages=stages, info=info,
                micro_batch=options.batch_size // per_step, source=source, runs_root=request.runs_root, run_dir=run_dir,
                checkpoint=checkpoint, init_weights=init_weights)


def _default_name(model: str | None) -> str:
    if model is None:
        raise VgenError("--resume needs the run: pass --out RUN_DIR, or --model/--name to find the latest run of that name")
    return model


def describe(plan: Plan) -> dict[str, Any]:
    """The resolved configuration: printed by ``--dry-run`` and saved as the run's ``config.json``."""
    return {
        "name": plan.name, "source": plan.source, "fine_tuning": plan.init_weights is not None,
        "model": json.loads(plan.config.model_dump_json()),
        "training": json.loads(plan.options.model_dump_json()),
        "stages": plan.stages,
        "batch": {"global": plan.options.batch_size, "per_device": plan.micro_batch,
                  "accumulate": plan.options.accumulate, "world_size": plan.info.world_size},
    }


def dry_run(plan: Plan) -> dict[str, Any]:
    """Config, parameter counts per network and a memory estimate per stage, computing nothing real."""
    from vgen.models import build_networks
    from vgen.training.memory import estimate

    with torch.device("meta"):
        networks = build_networks(plan.config)
    report = describe(plan)
    report["parameters"] = {role: sum(p.numel() for p in net.parameters()) for role, net in networks.items()}
    report["memory_per_device"] = {stage: estimate(plan.config, stage, plan.micro_batch) for stage in plan.stages}
    return report


# ---------------------------------------------------------------------------------- data

def build_dataset(plan: Plan, frames: int) -> torch.utils.data.Dataset:
    """The training clips: synthetic videos or a folder of videos, ``frames`` frames each."""
    opts, config = plan.options, plan.config
    if opts.synthetic is not None:
        from vgen.data.synthetic_dataset import SyntheticVideoDataset

        classes = config.num_classes or None
        if opts.synthetic == "mixed" and classes not in (None, 2):
            classes = None
        return SyntheticVideoDataset(opts.synthetic, opts.synthetic_videos, frames, config.resolution,
                                     seed=opts.seed, num_classes=classes)
    from vgen.data.video_folder import VideoFolderDataset
    from vgen.data.config import VideoDataConfig

    return VideoFolderDataset(opts.data, VideoDataConfig(frames=frames, resolution=config.resolution,
                                                          fps=float(config.fps), seed=opts.seed,
                                                          cache_dir=opts.cache))


def _check_labels(dataset: Any, config: ModelConfigBase) -> None:
    num = getattr(dataset, "num_classes", 0)
    if config.num_classes and num and num != config.num_classes:
        raise VgenError(f"the data has {num} classes but the model expects {config.num_classes}; "
                        "arrange the videos in that many class folders or train an unconditional model")
    if config.num_classes and not num:
        raise VgenError("this model is class-conditional but the data has no class labels; "
                        "put each class's videos in its own sub-folder")


# ---------------------------------------------------------------------------------- networks

def build_networks_seeded(config: ModelConfigBase, seed: int, device: torch.device) -> dict[str, nn.Module]:
    """Initial weights as a function of the seed alone (every rank and every resume builds the same)."""
    from vgen.models import build_networks

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        networks = build_networks(config)
    return {role: net.to(device) for role, net in networks.items()}


def load_model_dir(networks: dict[str, nn.Module], directory: Path) -> None:
    from vgen.io.checkpoint import load_into

    for role, net in networks.items():
        path = directory / f"{role}.safetensors"
        if not path.is_file():
            raise VgenError(f"model folder {str(directory)!r} lacks {path.name}")
        load_into(net, path, role=role)


# ---------------------------------------------------------------------------------- the run

def train(request: TrainRequest, hooks: Hooks) -> TrainResult:
    """Run every stage of ``request`` (resuming if asked); only rank 0 writes files."""
    plan = resolve(request)
    from vgen.devices import pick_device

    info = plan.info
    if not info.is_main:
        hooks = Hooks()  # rank 0 speaks for the whole job
    device = ddp.device_for(info, pick_device(request.device))
    ddp.init(info, device)
    try:
        return _train(plan, device, hooks)
    finally:
        ddp.shutdown()


def _prepare_run_dir(plan: Plan) -> Path:
    if plan.checkpoint is not None:
        assert plan.run_dir is not None
        return plan.run_dir
    run_dir = plan.run_dir if plan.run_dir is not None else runfolder.new_run_dir(plan.runs_root, plan.name)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise VgenError(f"run folder {str(run_dir)!r} is not empty; choose another --out, or add --resume to continue it")
    (run_dir / "previews").mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    runfolder.write_json(run_dir / "config.json", describe(plan))
    return run_dir


def _train(plan: Plan, device: torch.device, hooks: Hooks) -> TrainResult:
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.io.checkpoint import load_training_state
    from vgen.training.stages import clip_frames, make_plan
    from vgen.training.trainer import Trainer

    info, opts, config = plan.info, plan.options, plan.config
    datasets: dict[int, torch.utils.data.Dataset] = {}

    def dataset_for(stage: Stage) -> torch.utils.data.Dataset:
        frames = clip_frames(config, stage)
        if frames not in datasets:
            datasets[frames] = build_dataset(plan, frames)
            report = getattr(datasets[frames], "report", None)
            if report is not None and info.is_main:
                hooks.log(report.summary())
                if report.warning():
                    hooks.warn(report.warning())
            _check_labels(datasets[frames], config)
        return datasets[frames]

    # Bad data fails here, before the run folder exists.
    dataset_for(plan.stages[0])
    run_dir = _prepare_run_dir(plan) if info.is_main else None
    run_dir = Path(ddp.broadcast_object(str(run_dir) if run_dir else None, info))
    writer_dir = run_dir if info.is_main else None
    hooks.log(f"run folder {run_dir}; global batch {opts.batch_size} = {plan.micro_batch} per device × "
              f"{info.world_size} process(es) × {opts.accumulate} accumulation step(s)")

    networks = build_networks_seeded(config, opts.seed, device)
    state: tuple[dict[str, Any], dict[str, Any]] | None = None
    if plan.checkpoint is not None:
        load_model_dir(networks, plan.checkpoint / "model")
        state = load_training_state(plan.checkpoint / "train_state.safetensors")
        meta = state[1]
        if info.is_main:
            runfolder.truncate_metrics(run_dir, meta["stage"], meta["step"])
        hooks.log(f"resumed {run_dir} at {meta['stage']} step {meta['step']}" + (" (stage done)" if meta.get("done") else ""))
    elif plan.init_weights is not None:
        load_model_dir(networks, plan.init_weights)
        hooks.log(f"fine-tuning from {plan.init_weights}")

    schedule = schedule_from_config(config.diffusion)
    speeds: dict[str, float] = {}
    for stage in plan.stages:
        stage_state = None
        if state is not None and state[1]["stage"] in plan.stages:
            meta = state[1]
            done_before = plan.stages.index(stage) < plan.stages.index(meta["stage"])
            if done_before or (meta["stage"] == stage and meta.get("done") and meta["step"] >= opts.steps):
                continue
            if meta["stage"] == stage:
                stage_state = state
        stage_plan = make_plan(stage, config, networks, opts, schedule, device, hooks.log)
        dataset = dataset_for(stage)
        trainer = Trainer(
            stage_plan, config, opts, dataset, device, info, writer_dir,
            on_warning=hooks.warn if info.is_main else (lambda message: None),
            on_preview=_previewer(config, opts, device, writer_dir) if stage == "diffusion" else None,
        )
        if stage_state is not None:
            trainer.restore(*stage_state)
        first = trainer.step
        started = time.perf_counter()
        try:
            if hooks.progress is not None and info.is_main:
                with hooks.progress(f"train {stage}", opts.steps) as bar:
                    trainer.callback = bar
                    bar(trainer.step, opts.steps, {})
                    trainer.run()
            else:
                trainer.run()
        except KeyboardInterrupt as exc:
            if exc.args and exc.args[0]:
                hooks.log(f"saved checkpoint {exc.args[0]} at {stage} step {trainer.step}; "
                          f"continue with: vgen train --out {run_dir} --resume")
            raise
        if trainer.step > first:
            speeds[stage] = (trainer.step - first) / (time.perf_counter() - started)
        if info.is_main:
            trainer.save_checkpoint(done=True)
        ddp.barrier(info)
    stored = None
    model_dir = None
    if info.is_main:
        final = runfolder.latest_checkpoint(run_dir)
        model_dir = final / "model" if final is not None else None
        if model_dir is not None:
            from vgen.io.store import register_model

            stored = register_model(plan.name, model_dir)
            hooks.log(f"registered model {plan.name!r} ({stored}); sample it with: vgen sample --model {plan.name}")
    return TrainResult(is_main=info.is_main, run_dir=run_dir, model_dir=model_dir, stored_as=stored, steps_per_second=speeds)


def _previewer(config: ModelConfigBase, opts: TrainOptions, device: torch.device, run_dir: Path | None
               ) -> Callable[[int, dict[str, nn.Module]], None] | None:
    """Write ``previews/diffusion-<step>.gif``: one clip from the EMA weights with few DDIM steps."""
    if run_dir is None or not opts.preview_every:
        return None

    def preview(step: int, networks: dict[str, nn.Module]) -> None:
        import copy

        from vgen.io.video import VideoWriter
        from vgen.pipelines.generate import generate_video
        from vgen.pipelines.model import LoadedModel

        model = LoadedModel(config, {role: copy.deepcopy(net) for role, net in networks.items()}, device)
        path = run_dir / "previews" / f"diffusion-{step:07d}.gif"
        with VideoWriter(path, fps=config.fps) as writer:
            for chunk in generate_video(model, frames=config.frames, seed=opts.seed, steps=opts.preview_steps):
                writer.write(chunk)

    return preview
