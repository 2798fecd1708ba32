"""``vgen train`` end to end: resolve the model and options, run the stages, register the result.

Stages: the autoencoder first (PVDM, LVDM), then diffusion on the frozen autoencoder's latents. VDM
has no autoencoder, so its only stage is diffusion. Each stage runs ``options.steps`` optimisation
steps. After the LVDM autoencoder stage the latent scale/shift are fitted on training clips before
the stage's final checkpoint. The finished run's model is registered in the store under its name.
A run stopped by Ctrl-C or SIGTERM saves a checkpoint and says how to continue it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.errors import VgenError
from vgen.families import capabilities
from vgen.training import distributed as ddp
from vgen.training import runfolder
from vgen.training.options import Stage, TrainOptions
from vgen.training.order import derive_seed
from vgen.training.plan import MODEL_OPTIONS, Hooks, RunPlan, TrainRequest, describe, resolve

if TYPE_CHECKING:
    from vgen.training.resume import State
    from vgen.training.trainer import StagePlan, Trainer


@dataclass
class TrainResult:
    is_main: bool
    run_dir: Path
    model_dir: Path | None
    stored_as: Path | None
    steps_per_second: dict[str, float] = field(default_factory=dict)

    def speed_line(self) -> str | None:
        """``speed: ae 3.10 steps/s, diffusion 2.05 steps/s``; None when no stage ran."""
        if not self.steps_per_second:
            return None
        return "speed: " + ", ".join(f"{stage} {rate:.2f} steps/s" for stage, rate in self.steps_per_second.items())

    def summary(self) -> dict[str, Any]:
        """What ``vgen train --json`` prints."""
        return {"run_dir": str(self.run_dir), "model_dir": str(self.model_dir),
                "stored_as": str(self.stored_as) if self.stored_as else None,
                "steps_per_second": self.steps_per_second}


# ---------------------------------------------------------------------------------- data

def build_dataset(plan: RunPlan, frames: int) -> torch.utils.data.Dataset:
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


def _starting_point(plan: RunPlan, device: torch.device) -> tuple[dict[str, nn.Module], State | None]:
    """The networks a run starts from (untrained, fine-tuned or resumed) and the resumed training state.

    The weights' shapes are checked against their config on the meta device before the real networks
    are built, and the training state's record is checked before anything reads it. A stored model to
    start from is loaded by the family, since the run may train another architecture (an inflated one).
    """
    from vgen.families import family_of
    from vgen.io.checkpoint import load_training_state
    from vgen.pipelines.model import check_model_dir, load_weights
    from vgen.training.resume import check_state_meta

    state = None
    if plan.checkpoint is not None:
        check_model_dir(plan.config, plan.checkpoint / "model")
        path = plan.checkpoint / "train_state.safetensors"
        state = load_training_state(path)
        check_state_meta(state[1], path)
    elif plan.init_weights is not None:
        check_model_dir(plan.init_config or plan.config, plan.init_weights)
    networks = build_networks_seeded(plan.config, plan.options.seed, device)
    if plan.checkpoint is not None:
        load_weights(networks, plan.checkpoint / "model", plan.config, mismatch="the run it belongs to (config.json)")
    elif plan.init_weights is not None:
        family_of(plan.config).load_start(networks, plan.init_weights, plan.init_config or plan.config, plan.config)
    return networks, state


# ---------------------------------------------------------------------------------- the run

def train(request: TrainRequest, hooks: Hooks) -> TrainResult:
    """Run every stage of ``request`` (resuming if asked); only rank 0 writes files."""
    from vgen.devices import pick_device

    if not ddp.detect().is_main:
        hooks = Hooks()  # rank 0 speaks for the whole job
    plan = resolve(request, hooks)
    info = plan.info
    device = ddp.device_for(info, pick_device(request.device))
    ddp.init(info, device)
    try:
        return _train(plan, device, hooks)
    finally:
        ddp.shutdown()


def _prepare_run_dir(plan: RunPlan, hooks: Hooks) -> Path:
    """The run folder, created with its config unless a checkpoint is resumed. A folder holding a run
    stopped before its first checkpoint is emptied and used again; any other non-empty folder is refused."""
    if plan.checkpoint is not None:
        assert plan.run_dir is not None
        return plan.run_dir
    run_dir = plan.run_dir if plan.run_dir is not None else runfolder.new_run_dir(plan.runs_root, plan.name)
    if run_dir.exists() and any(run_dir.iterdir()):
        kept = runfolder.kept_entry(run_dir)
        if kept is not None:
            raise VgenError(f"run folder {str(run_dir)!r} is not empty (it holds {kept.name!r}); choose another --out, "
                            "or add --resume to continue the run saved there")
        hooks.log(f"run folder {run_dir} holds no checkpoint (stopped before its first save): starting it from step 0")
        runfolder.clear_unsaved(run_dir)
    (run_dir / "previews").mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(exist_ok=True)
    runfolder.write_json(run_dir / "config.json", describe(plan))
    return run_dir


def _train(plan: RunPlan, device: torch.device, hooks: Hooks) -> TrainResult:
    from vgen.diffusion.schedules import schedule_from_config
    from vgen.training.resume import restore, stages_to_run
    from vgen.training import stages
    from vgen.training.trainer import Trainer

    info, opts, config = plan.info, plan.options, plan.config
    datasets: dict[int, torch.utils.data.Dataset] = {}

    def dataset_for(stage: Stage) -> torch.utils.data.Dataset:
        frames = stages.clip_frames(config, stage)
        if frames not in datasets:
            datasets[frames] = build_dataset(plan, frames)
            report = getattr(datasets[frames], "report", None)
            if report is not None and info.is_main:
                hooks.log(report.summary())
                if report.warning():
                    hooks.warn(report.warning())
            _check_labels(datasets[frames], config)
        return datasets[frames]

    # Bad data, weights that do not fit and unreadable perceptual weights all fail before the run folder exists.
    dataset_for(plan.stages[0])
    networks, state = _starting_point(plan, device)
    todo = stages_to_run(plan.stages, state[1] if state is not None else None, opts.steps)
    schedule = schedule_from_config(config.diffusion)

    def stage_plan(stage: Stage) -> StagePlan:
        return stages.stage_plan(stage, config, networks, opts, schedule, device, hooks.log)

    first_plan = stage_plan(todo[0][0]) if todo else None
    run_dir = _prepare_run_dir(plan, hooks) if info.is_main else None
    run_dir = Path(ddp.broadcast_object(str(run_dir) if run_dir else None, info))
    writer_dir = run_dir if info.is_main else None
    hooks.log(f"run folder {run_dir}; global batch {opts.batch_size} = {plan.micro_batch} per device × "
              f"{info.world_size} process(es) × {opts.accumulate} accumulation step(s)")
    if state is not None:
        meta = state[1]
        if info.is_main:
            runfolder.truncate_metrics(run_dir, meta["stage"], meta["step"])
        hooks.log(f"resumed {run_dir} at {meta['stage']} step {meta['step']}" + (" (stage done)" if meta.get("done") else ""))
    elif plan.init_weights is not None and plan.init_config not in (None, plan.config):
        changed = sorted(k for k, v in plan.config.model_dump().items() if plan.init_config.model_dump().get(k) != v)
        if set(changed) <= set(MODEL_OPTIONS):
            hooks.log(f"fine-tuning from {plan.init_weights} with {', '.join(changed)} changed")
        else:
            hooks.log(f"starting from {plan.init_weights}, rebuilt for the {plan.stages[0]} stage's architecture")
    elif plan.init_weights is not None:
        hooks.log(f"fine-tuning from {plan.init_weights}")

    speeds: dict[str, float] = {}
    trainer: Trainer | None = None
    try:
        for index, (stage, resumed) in enumerate(todo):
            trainer = Trainer(
                first_plan if index == 0 else stage_plan(stage), config, opts, dataset_for(stage), device, info,
                writer_dir, on_warning=hooks.warn if info.is_main else (lambda message: None),
                on_preview=_previewer(config, opts, device, writer_dir) if stage != "ae" else None,
            )
            trained, frozen = trainer.parameter_counts()
            hooks.log(f"{stage} stage: {trained:,} parameters trained, {frozen:,} frozen")
            if resumed:
                assert state is not None and plan.checkpoint is not None
                restore(trainer, state, plan.checkpoint / "train_state.safetensors")
            first = trainer.step
            started = time.perf_counter()
            if hooks.progress is not None and info.is_main:
                with hooks.progress(f"train {stage}", opts.steps) as bar:
                    trainer.callback = bar
                    bar(trainer.step, opts.steps, {})
                    trainer.run()
            else:
                trainer.run()
            if trainer.step > first:
                speeds[stage] = (trainer.step - first) / (time.perf_counter() - started)
            if info.is_main:
                trainer.save_checkpoint(done=True)
            ddp.barrier(info)
    except KeyboardInterrupt:
        if info.is_main:
            hooks.log(_stopped_message(run_dir, trainer))
        raise
    stored = None
    model_dir = None
    if info.is_main:
        final = runfolder.latest_checkpoint(run_dir)
        model_dir = final / "model" if final is not None else None
        if model_dir is not None:
            from vgen.io.store import register_model

            stored = register_model(plan.name, model_dir)
            can = capabilities(plan.config)
            hint = (f"sample it with: vgen sample --model {plan.name}" if can.long
                    else f"interpolate with it: vgen interpolate VIDEO --model {plan.name}" if can.interpolate
                    else f"use it with: vgen upscale VIDEO --model {plan.name}")
            hooks.log(f"registered model {plan.name!r} ({stored}); {hint}")
    return TrainResult(is_main=info.is_main, run_dir=run_dir, model_dir=model_dir, stored_as=stored, steps_per_second=speeds)


def _stopped_message(run_dir: Path, trainer: Trainer | None) -> str:
    """What an interrupted run kept, and the command that continues it."""
    resume = f"continue with: vgen train --out {run_dir} --resume"
    saved = trainer.saved_on_stop if trainer is not None else None
    if saved is not None:
        return f"saved checkpoint {saved} at {trainer.plan.stage} step {trainer.step}; {resume}"
    latest = runfolder.latest_checkpoint(run_dir)
    if latest is None:
        return f"stopped before the first checkpoint; {resume} (it starts again from step 0)"
    return f"stopped; the last checkpoint is {latest}; {resume}"


def _previewer(config: ModelConfigBase, opts: TrainOptions, device: torch.device, run_dir: Path | None
               ) -> Callable[[int, dict[str, nn.Module]], None] | None:
    """Write ``previews/diffusion-<step>.gif``: one clip from the EMA weights with few DDIM steps."""
    if run_dir is None or not opts.preview_every:
        return None

    def preview(step: int, networks: dict[str, nn.Module]) -> None:
        import copy

        from vgen.io.video import VideoWriter
        from vgen.pipelines.generate import sample_video
        from vgen.pipelines.model import LoadedModel
        from vgen.pipelines.settings import SamplerSettings

        model = LoadedModel(config, {role: copy.deepcopy(net) for role, net in networks.items()}, device)
        path = run_dir / "previews" / f"diffusion-{step:07d}.gif"
        with VideoWriter(path, fps=config.fps) as writer:
            for chunk in sample_video(model, SamplerSettings(steps=opts.preview_steps), seed=opts.seed).chunks(None):
                writer.write(chunk)

    return preview
