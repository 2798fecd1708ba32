"""Cascades (Imagen Video, Make-A-Video): a base video model, then upscaling stages, run as one model.

A cascade is a folder in the model store holding ``cascade.json`` and a copy of each stage's model folder
(``stages/<i>-<name>/``), so it keeps working when the stage models are deleted or retrained. ``vgen cascade``
makes one from installed models and checks that the stages chain: each upscaling stage takes exactly what
the stage before it makes (its resolution divided by its spatial factor). ``vgen sample --model CASCADE``
samples the base and streams its frames through every stage in turn (``cascade_video``), each stage with its
own sampler and steps (``--stage-sampler``, ``--stage-steps``); memory stays flat in the video's length
because every stage works window by window on the chunks of the stage before it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence

from pydantic import Field, ValidationError

from vgen.config.base import StrictModel
from vgen.errors import VgenError
from vgen.io.store import CASCADE_FILE

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from vgen.pipelines.generate import Generation
    from vgen.pipelines.model import LoadedModel
    from vgen.pipelines.progress import Callback
    from vgen.pipelines.settings import SamplerSettings

FORMAT = "vgen-cascade"


class CascadeStage(StrictModel):
    name: str = Field(description="the stage model's name when the cascade was made")
    model: str = Field(description="the stage's model folder, relative to the cascade folder")
    sampler: Optional[str] = Field(None, description="this stage's default sampler (None: vgen's default)")
    steps: Optional[int] = Field(None, ge=1, description="this stage's default steps (None: the model's default)")


class CascadeSpec(StrictModel):
    format: str = FORMAT
    version: int = 1
    stages: list[CascadeStage] = Field(min_length=2)


@dataclass(frozen=True)
class StageShape:
    """What a stage makes: its name, role (base / spatial SR / temporal SR), factors, resolution and the frame
    count and rate it turns ``frames`` base frames at ``fps`` into."""

    name: str
    role: str
    factors: tuple[int, int]
    resolution: int
    frames: int
    fps: float


def is_cascade(directory: Path) -> bool:
    return (directory / CASCADE_FILE).is_file()


def find_cascade(spec: str) -> Optional[Path]:
    """The cascade folder ``spec`` names (a store or bundled name, or a path), or None when it is not a cascade."""
    from vgen.io.store import find_named

    candidate = find_named(spec)
    if candidate is None:
        candidate = Path(spec).expanduser()
        if candidate.name == CASCADE_FILE:
            candidate = candidate.parent
    return candidate if candidate.is_dir() and is_cascade(candidate) else None


def read_spec(directory: Path) -> CascadeSpec:
    try:
        data = json.loads((directory / CASCADE_FILE).read_text(encoding="utf-8"))
        spec = CascadeSpec.model_validate(data)
    except (OSError, ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VgenError(f"{directory / CASCADE_FILE} is not a readable cascade ({first}); make it again with "
                        "`vgen cascade NAME BASE STAGE...`") from None
    if spec.format != FORMAT or spec.version != 1:
        raise VgenError(f"{directory / CASCADE_FILE} is a {spec.format} v{spec.version} file, not a {FORMAT} v1 one")
    for stage in spec.stages:
        path = (directory / stage.model).resolve()
        if not path.is_relative_to(directory.resolve()):
            raise VgenError(f"{directory / CASCADE_FILE}: stage {stage.model!r} lies outside the cascade folder")
    return spec


def stage_shapes(configs: Sequence[Any], names: Sequence[str], frames: int) -> list[StageShape]:
    """Check that ``configs`` chain (base first) and say what each stage makes from ``frames`` base frames."""
    from vgen.families import capabilities

    base = configs[0]
    if capabilities(base).upscale is not None or not capabilities(base).sample and not capabilities(base).long:
        raise VgenError(f"the first stage of a cascade must sample videos; {names[0]} ({base.name}) cannot")
    shapes = [StageShape(names[0], "base", (1, 1), base.resolution, frames, float(base.fps))]
    for name, config in zip(names[1:], configs[1:]):
        factors = capabilities(config).upscale
        previous = shapes[-1]
        if factors is None:
            raise VgenError(f"cascade stage {name} ({config.name}) is not an upscaling model; stages after the first "
                            "must upscale (e.g. models trained from the sr-* or fi-* presets)")
        spatial, temporal = factors
        if config.resolution != previous.resolution * spatial:
            raise VgenError(f"cascade stage {name} ({config.name}) turns {config.resolution // spatial}² frames into "
                            f"{config.resolution}², but the stage before it makes {previous.resolution}²; put stages "
                            "in the order base, then each upscaler whose input is the previous output")
        role = "spatial SR" if spatial > 1 else "temporal SR"
        if spatial > 1 and temporal > 1:
            role = "spatio-temporal SR"
        shapes.append(StageShape(name, role, (spatial, temporal), config.resolution, previous.frames * temporal,
                                 previous.fps * temporal))
    return shapes


# ----------------------------------------------------------------------------- making one

def create_cascade(name: str, stages: Sequence[str], *, samplers: Sequence[Optional[str]] = (),
                   steps: Sequence[Optional[int]] = ()) -> Path:
    """Store a cascade called ``name`` whose stages are the models ``stages`` (names or folders), copied in; the
    chain is checked first. The folder appears complete or not at all."""
    from vgen.io.atomic import atomic_path, os_error_message
    from vgen.io.store import check_model_name, model_config, models_dir

    check_model_name(name, "cascade name")
    if len(stages) < 2:
        raise VgenError("a cascade needs a base model and at least one upscaling stage: vgen cascade NAME BASE STAGE...")
    resolved = [model_config(stage) for stage in stages]
    configs = [config for config, _ in resolved]
    stage_shapes(configs, list(stages), configs[0].frames)
    target = models_dir() / name
    if target.exists():
        raise VgenError(f"model {name!r} already exists in the store ({target}); choose another name or delete it")
    entries = []
    try:
        models_dir().mkdir(parents=True, exist_ok=True)
        with atomic_path(target, directory=True) as tmp:
            for i, (stage, (_, folder)) in enumerate(zip(stages, resolved)):
                rel = f"stages/{i}-{Path(str(stage)).name}"
                shutil.copytree(folder, tmp / rel, ignore=shutil.ignore_patterns(".*"))
                entries.append(CascadeStage(name=Path(str(stage)).name, model=rel, sampler=samplers[i] if i < len(samplers) else None,
                                            steps=steps[i] if i < len(steps) else None))
            spec = CascadeSpec(stages=entries)
            (tmp / CASCADE_FILE).write_text(json.dumps(spec.model_dump(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise VgenError(os_error_message(exc, target)) from None
    return target


# ----------------------------------------------------------------------------- running one

@dataclass
class Cascade:
    directory: Path
    spec: CascadeSpec
    models: list["LoadedModel"]

    @property
    def names(self) -> list[str]:
        return [stage.name for stage in self.spec.stages]

    def shapes(self, frames: Optional[int] = None) -> list[StageShape]:
        configs = [model.config for model in self.models]
        return stage_shapes(configs, self.names, frames or self.models[0].clip_frames)


def describe_cascade(directory: Path) -> dict[str, Any]:
    """A cascade's stages from the headers only (for ``vgen models``): name, preset, role, factors, resolution and
    frames (for the base's own clip length), or the problem that makes it unusable."""
    from vgen.io.store import describe_model

    try:
        spec = read_spec(directory)
        infos = [describe_model(directory / stage.model) for stage in spec.stages]
        problem = next((info.problem for info in infos if info.problem), None)
        if problem:
            raise VgenError(problem)
        shapes = stage_shapes([info.config for info in infos], [stage.name for stage in spec.stages],
                              infos[0].config.frames)
    except VgenError as exc:
        return {"name": directory.name, "path": str(directory), "problem": str(exc), "stages": []}
    return {"name": directory.name, "path": str(directory), "problem": None,
            "parameters": sum(info.num_params for info in infos),
            "stages": [{"name": shape.name, "preset": info.config.name, "role": shape.role,
                        "factors": list(shape.factors), "frames": shape.frames, "resolution": shape.resolution,
                        "sampler": stage.sampler, "steps": stage.steps}
                       for shape, info, stage in zip(shapes, infos, spec.stages)]}


def load_cascade(directory: Path, device: str = "auto") -> Cascade:
    from vgen.pipelines.model import load_model

    spec = read_spec(directory)
    models = [load_model(directory / stage.model, device=device) for stage in spec.stages]
    cascade = Cascade(directory, spec, models)
    cascade.shapes()  # the chain, checked again on the weights actually loaded
    return cascade


def check_stage_values(names: Sequence[str], samplers: Sequence[str], steps: Sequence[int]) -> None:
    """``--stage-sampler`` / ``--stage-steps`` take one value per stage or one for all, and known sampler names."""
    from vgen.pipelines.settings import SAMPLER_NAMES

    for sampler in samplers:
        if sampler not in SAMPLER_NAMES:
            raise VgenError(f"unknown sampler {sampler!r} in --stage-sampler; choose from: {', '.join(SAMPLER_NAMES)}")
    for option, values in (("--stage-sampler", samplers), ("--stage-steps", steps)):
        if len(values) not in (0, 1, len(names)):
            raise VgenError(f"{option} takes one value per stage ({len(names)}: {', '.join(names)}) or one for all; "
                            f"got {len(values)}")


def stage_settings(cascade: Cascade, settings: "SamplerSettings", samplers: Sequence[str] = (),
                   steps: Sequence[int] = ()) -> list["SamplerSettings"]:
    """Each stage's settings. Sampler: ``samplers`` (``--stage-sampler``, one per stage or one for all; ``vgen sample``
    passes an explicit ``--sampler`` here as one for all), else the cascade's own default for the stage, else
    ``settings.sampler`` (None: the stage model's own default). Steps: ``--stage-steps``, else ``--steps``, else the cascade's default, else the stage
    model's. The method, guidance, class label and timestep grid are the base stage's only (the grids of the official
    samplers belong to the imported base models)."""
    check_stage_values(cascade.names, samplers, steps)
    result = []
    for i, stage in enumerate(cascade.spec.stages):
        sampler = samplers[i if len(samplers) > 1 else 0] if samplers else stage.sampler or settings.sampler
        count_i = steps[i if len(steps) > 1 else 0] if steps else settings.steps or stage.steps
        own = replace(settings, sampler=sampler, steps=count_i, eta=settings.eta if sampler in (None, "ddim") else None)
        if i:
            own = replace(own, method=None, guidance=None, class_label=None, motion_guidance=None, schedule_grid=None)
        result.append(own)
    return result


class _StageProgress:
    """One progress over all stages: each stage reports its own (done, windows × steps); the sums go out."""

    def __init__(self, stages: int) -> None:
        self.callback: Optional["Callback"] = None
        self.done = [0] * stages
        self.total: list[Optional[int]] = [None] * stages

    def grand_total(self) -> Optional[int]:
        return sum(self.total) if all(t is not None for t in self.total) else None  # type: ignore[arg-type]

    def for_stage(self, i: int) -> Optional["Callback"]:
        if self.callback is None:
            return None

        def report(done: int, total: Optional[int] = None, info: Optional[dict] = None) -> None:
            self.done[i] = done
            if total is not None:
                self.total[i] = total
            assert self.callback is not None
            self.callback(sum(self.done), self.grand_total(), {"stage": i + 1, **(info or {})})

        return report


class _Deferred:
    """An iterable made only when iterated: a stage's input stream, opened once the stage starts."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self.make = make

    def __iter__(self) -> Iterator[Any]:
        return iter(self.make())


def cascade_video(cascade: Cascade, settings: Sequence["SamplerSettings"], *, frames: Optional[int] = None,
                  seed: int = 0) -> "Generation":
    """The base stage's ``frames``-frame sample, streamed through every upscaling stage. Every stage draws its
    noise from ``seed`` (each from generators of its own). Settings and the chain are checked before anything is
    sampled."""
    from vgen.pipelines.generate import Generation, sample_video
    from vgen.pipelines.upscale import UpscaleOptions, upscale_video

    shapes = cascade.shapes(frames)
    progress = _StageProgress(len(cascade.models))
    jobs = [sample_video(cascade.models[0], settings[0], frames=frames, seed=seed)]
    for i, model in enumerate(cascade.models[1:], start=1):
        source = _Deferred(lambda before=jobs[i - 1], k=i - 1: before.chunks(progress.for_stage(k)))
        jobs.append(upscale_video(model, source, settings[i], seed=seed, options=UpscaleOptions(),
                                  total_frames=shapes[i - 1].frames))
    totals = [job.windows * setting.for_model(model).steps if job.windows else None
              for job, setting, model in zip(jobs, settings, cascade.models)]

    def chunks(callback: Optional["Callback"]) -> Iterator["np.ndarray"]:
        progress.callback = callback
        progress.total = list(totals)
        return jobs[-1].chunks(progress.for_stage(len(jobs) - 1))

    return Generation("cascade", None, chunks)
