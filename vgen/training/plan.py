"""What ``vgen train`` is asked to do, resolved before anything is written: model, options, stages, names.

``--model`` follows the one precedence every command uses: a store model, else a bundled model (both
fine-tuned), else a preset (trained from scratch). Names and paths are checked first, so a bad
``--name`` or ``--out`` costs no work. ``describe`` is what ``--dry-run`` prints and ``config.json`` holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

import torch
from pydantic import ValidationError

from vgen.config import config_from_json, preset, PRESETS
from vgen.config.base import ModelConfigBase
from vgen.errors import VgenError
from vgen.families import capabilities
from vgen.training import distributed as ddp
from vgen.training import runfolder
from vgen.training.options import Stage, TrainOptions

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
    model_updates: dict[str, Any] = field(default_factory=dict)  # config fields set by options (--cond-overlap)
    config_sets: list[tuple[str, Any]] = field(default_factory=list)  # --set KEY=VALUE, in the order given


@dataclass
class Hooks:
    """How the session talks to the CLI: info lines, warnings, and a progress-bar factory."""

    log: Callable[[str], None] = lambda message: None
    warn: Callable[[str], None] = lambda message: None
    progress: Progress | None = None


@dataclass
class RunPlan:
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
    init_config: ModelConfigBase | None = None  # the config of ``init_weights`` (the run's may differ: see stages)


# ---------------------------------------------------------------------------------- resolution

def _stored_config(spec: str) -> tuple[ModelConfigBase, Path]:
    from vgen.io.store import model_config

    return model_config(spec)


def _architecture(spec: str, warn: Callable[[str], None]) -> tuple[ModelConfigBase, Path | None]:
    """The config and initial weights ``--model`` names: a store model, else a bundled model (both
    fine-tuned), else a preset (trained from scratch); the one precedence every command uses."""
    from vgen.io.store import find_named

    found = find_named(spec)
    if found is None and spec in PRESETS:
        return preset(spec), None
    if found is not None and spec in PRESETS:
        warn(f"{spec!r} names both a stored model ({found}) and a preset; the stored model wins, so this run "
             "fine-tunes it; rename that folder to train the preset from scratch")
    return _stored_config(spec)


# Model-config fields a training option may set (they change what is trained, not the architecture), with the
# option's name and the models whose configs have the field.
MODEL_OPTIONS = {"cond_overlap": ("--cond-overlap", "PVDM"), "cond_prob": ("--cond-prob", "PVDM"),
                 "frame_noise": ("--frame-noise", "every")}
# Those that live in a sub-config, and which one.
NESTED_OPTIONS = {"frame_noise": "diffusion"}


def _with_updates(config: ModelConfigBase, updates: dict[str, Any]) -> ModelConfigBase:
    """``config`` with the fields that ``--cond-overlap`` and the like set, validated as a whole."""
    fields = json.loads(config.model_dump_json())
    for key, value in updates.items():
        option, models = MODEL_OPTIONS[key]
        if key in NESTED_OPTIONS:
            fields[NESTED_OPTIONS[key]][key] = value
            continue
        if key not in type(config).model_fields:
            raise VgenError(f"{option} applies to {models} models; {config.name!r} is a {config.family} model; "
                            f"drop {option}")
        fields[key] = value
    try:
        return type(config).model_validate(fields)
    except ValidationError as exc:
        options = "/".join(MODEL_OPTIONS[key][0] for key in updates)
        raise VgenError(f"invalid {options}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None


def with_sets(config: ModelConfigBase, sets: list[tuple[str, Any]], stored: str | None) -> ModelConfigBase:
    """``config`` with ``--set`` applied. Fine-tuning a stored model (``stored``), a change must leave every weight's
    shape as it is (checked on the meta device): the stored weights could not be loaded into another architecture."""
    from vgen.config.overrides import apply_sets

    changed = apply_sets(config, sets)
    if stored is not None:
        from vgen.models import build_networks

        def shapes(cfg: ModelConfigBase) -> dict[str, tuple[int, ...]]:
            with torch.device("meta"):
                nets = build_networks(cfg)
            return {f"{role}.{key}": tuple(t.shape) for role, net in nets.items() for key, t in net.state_dict().items()}

        before = shapes(config)
        if shapes(changed) != before:
            # Name the sets that change a shape on their own (all of them if only their combination does).
            culprits = [key for key, value in sets if shapes(apply_sets(config, [(key, value)])) != before]
            keys = " ".join(f"--set {key}" for key in culprits or [key for key, _ in sets])
            raise VgenError(f"{keys} changes the shape of the weights of {stored!r}, so they could not be loaded; set "
                            "architecture fields when training a preset from scratch (--model PRESET)")
    return changed  # type: ignore[return-value]


def default_name(config: ModelConfigBase, choice: str = "all") -> str:
    """The store name of a run of ``--stage choice`` given no ``--name``: ``<preset>-trained`` unless the family says
    otherwise (a preset's own name is refused)."""
    from vgen.families import family_of

    return family_of(config).default_name(config, choice)


def _stages(config: ModelConfigBase, choice: str, fine_tuning: bool) -> tuple[ModelConfigBase, list[Stage]]:
    """The stages ``--stage choice`` runs and the config they train (a stage may change the architecture)."""
    from vgen.families import family_of

    family = family_of(config)
    stages = family.stages(config, choice, fine_tuning)
    return family.training_config(config, stages), stages  # type: ignore[return-value]


def resolve(request: TrainRequest, hooks: Hooks | None = None) -> RunPlan:
    """Work out config, options, stages, batch split and run folder (nothing is written).

    Names and paths are checked first, so a bad ``--name`` or ``--out`` costs no work.
    """
    from vgen.io.store import bundled_models_dir, check_model_name

    warn = (hooks or Hooks()).warn
    if request.name is not None:
        check_model_name(request.name, "--name")
    if request.out is not None and request.out.exists() and not request.out.is_dir():
        raise VgenError(f"--out {str(request.out)!r} is a file; pass a folder for the run (new, or a run to --resume)")
    info = ddp.detect()
    saved: dict[str, Any] = {}
    checkpoint: Path | None = None
    init_weights: Path | None = None
    init_config: ModelConfigBase | None = None
    if request.resume:
        if request.out is not None:
            run_dir = request.out
        else:
            if request.name is None and request.model is None:
                raise VgenError("--resume needs the run: pass --out RUN_DIR, or --model/--name to find the latest "
                                "run of that name")
            by_name = request.name or default_name(_architecture(request.model, warn)[0],  # type: ignore[arg-type]
                                                   request.overrides.get("stage", "all"))
            run_dir = runfolder.latest_run_dir(request.runs_root, by_name)
        saved = runfolder.read_config(run_dir)
        checkpoint = runfolder.latest_checkpoint(run_dir)
        try:
            config = config_from_json(json.dumps(saved["model"]))
            TrainOptions(**saved.get("training", {}))
        except (VgenError, ValidationError) as exc:
            raise VgenError(f"{str(run_dir / 'config.json')!r} holds an invalid config "
                            f"({' '.join(str(exc).split())[:200]}); the run folder is damaged") from None
        from vgen.config.overrides import apply_sets

        # The run keeps its config: options that set model fields may repeat it (re-running the command that started
        # the run with --resume added), not change it.
        changed = [MODEL_OPTIONS[key][0] for key in request.model_updates
                   if _with_updates(config, {key: request.model_updates[key]}) != config]
        changed += [f"--set {key}" for key, value in request.config_sets if apply_sets(config, [(key, value)]) != config]
        if changed:
            raise VgenError(f"{', '.join(changed)} cannot change on --resume (the run keeps its config); drop "
                            f"{'it' if len(changed) == 1 else 'them'} or start a new run")
        saved_decoder_only = bool(saved.get("training", {}).get("decoder_only", False))
        if request.overrides.get("decoder_only", saved_decoder_only) != saved_decoder_only:
            raise VgenError("--decoder-only cannot change on --resume (the run keeps what it trains); drop it, or start "
                            "a new run with --from the model this run stored")
        source = str(saved.get("source", config.name))
        name = request.name if request.name is not None else saved["name"]
        if checkpoint is None and saved.get("fine_tuning"):
            # Stopped before its first checkpoint: start again from the weights it was fine-tuning.
            init_config, init_weights = _stored_config(source)
    else:
        if request.model is None:
            raise VgenError(f"pass --model with a preset ({', '.join(sorted(PRESETS))}) or a stored model to fine-tune")
        config, init_weights = _architecture(request.model, warn)
        init_config = config if init_weights is not None else None
        if request.config_sets:
            config = with_sets(config, request.config_sets, request.model if init_weights is not None else None)
        if request.model_updates:
            config = _with_updates(config, request.model_updates)
        source = request.model
        name = request.name if request.name is not None else default_name(
            config, request.overrides.get("stage", "all"))
        run_dir = request.out
    if request.name is None:
        check_model_name(name)
    if (bundled_models_dir() / name).is_dir():
        warn(f"--name {name!r} is also the name of a bundled model; once this run is stored, --model {name} means the "
             "stored model in every command and `vgen models` lists it in place of the bundled one")
    options = TrainOptions(**{**saved.get("training", {}), **request.overrides})
    if options.data is None and options.synthetic is None:
        raise VgenError("no training data: pass --data DIR (a folder of videos) or --synthetic bouncing|sky|mixed")
    if options.perceptual not in (None, "i3d") and not Path(options.perceptual).expanduser().is_file():
        raise VgenError(f"--perceptual {options.perceptual!r} does not exist; pass the LPIPS weights file (VGG16 + lpips heads) or --perceptual i3d")
    if options.data is not None and options.synthetic is not None:
        raise VgenError("pass either --data or --synthetic, not both")
    can = capabilities(config)
    if options.preview_every and not can.long:
        score = "--inbetween" if can.interpolate else "--upscale"
        raise VgenError(f"{config.name} ({config.family}) cannot sample from noise, so it has no preview; drop "
                        f"--preview-every and score it with `vgen evaluate {score}`")
    # An autoencoder is trained already when fine-tuning a model or resuming a checkpoint.
    fine_tuning = init_weights is not None or checkpoint is not None
    if options.decoder_only:
        encoder_sets = [f"--set {key}" for key, _ in request.config_sets if key.startswith("autoencoder.")]
        if encoder_sets and not request.resume:
            raise VgenError(f"--decoder-only keeps the encoder as it is: drop {', '.join(encoder_sets)} (an "
                            "autoencoder field could change what the frozen encoder computes)")
        if options.stage != "ae":
            raise VgenError(f"--decoder-only trains an autoencoder's decoder: pass --stage ae (not {options.stage})")
        if not fine_tuning:
            raise VgenError("--decoder-only needs a trained encoder to keep: pass --from a stored or bundled model "
                            "(not a preset from scratch)")
    config, stages = _stages(config, options.stage, fine_tuning)
    if request.batch_per_device is not None:
        options = options.model_copy(update={"batch_size": request.batch_per_device * info.world_size * options.accumulate})
    per_step = options.accumulate * info.world_size
    if options.batch_size % per_step:
        raise VgenError(
            f"--batch-size {options.batch_size} does not split into {options.accumulate} accumulation step(s) × "
            f"{info.world_size} process(es); use a multiple of {per_step} or --batch-per-device"
        )
    return RunPlan(config=config, options=options, name=name, stages=stages, info=info,
                micro_batch=options.batch_size // per_step, source=source, runs_root=request.runs_root, run_dir=run_dir,
                checkpoint=checkpoint, init_weights=init_weights, init_config=init_config)


def describe(plan: RunPlan) -> dict[str, Any]:
    """The resolved configuration: printed by ``--dry-run`` and saved as the run's ``config.json``."""
    return {
        "name": plan.name, "source": plan.source, "fine_tuning": plan.init_weights is not None,
        "model": json.loads(plan.config.model_dump_json()),
        "training": json.loads(plan.options.model_dump_json()),
        "stages": plan.stages,
        "batch": {"global": plan.options.batch_size, "per_device": plan.micro_batch,
                  "accumulate": plan.options.accumulate, "world_size": plan.info.world_size},
    }


def dry_run(plan: RunPlan) -> dict[str, Any]:
    """Config, parameter counts per network and a memory estimate per stage, computing nothing real."""
    from vgen.models import build_networks
    from vgen.training.memory import estimate

    with torch.device("meta"):
        networks = build_networks(plan.config)
    report = describe(plan)
    report["parameters"] = {role: sum(p.numel() for p in net.parameters()) for role, net in networks.items()}
    report["memory_per_device"] = {stage: estimate(plan.config, stage, plan.micro_batch) for stage in plan.stages}
    return report
