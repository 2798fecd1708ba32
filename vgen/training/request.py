"""``vgen train`` in plain values: a :class:`TrainRequest` from keyword values, then its dry run or its run.

``None`` means "not given": only the options given explicitly override the preset's (or, with ``--resume``,
the run's) saved training options. Invalid option values come back as one-line ``VgenError``s naming the
option (``invalid --lr: ...``), like every other bad input.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Union

from vgen.frame_noise import check_frame_noise
from vgen.errors import VgenError
from vgen.training.plan import Hooks, TrainRequest

if TYPE_CHECKING:
    from vgen.training.session import TrainResult

PathLike = Union[str, Path]


def make_request(*, model: Optional[str] = None, name: Optional[str] = None, out: Optional[Path] = None,
                 resume: bool = False, device: str = "auto", batch_per_device: Optional[int] = None,
                 data: Optional[PathLike] = None, cache: Optional[PathLike] = None,
                 latent_cache: Optional[PathLike] = None, grad_clip: Optional[float] = None,
                 cond_overlap: Optional[int] = None, cond_prob: Optional[float] = None,
                 frame_noise: Optional[str] = None, sets: Optional[list[str]] = None, **options: Any) -> TrainRequest:
    """The request for these values, checked as far as needs no model: ``options`` are further
    ``TrainOptions`` fields (``steps``, ``lr``, ``synthetic``, ...); ``grad_clip`` 0 turns clipping off;
    ``data`` (a folder that must exist) replaces a saved ``synthetic`` and ``synthetic`` a saved ``data``;
    ``cond_overlap`` and ``cond_prob`` set the PVDM model config's fields of those names, ``frame_noise`` the
    model's ``diffusion.frame_noise``; ``sets`` are ``--set KEY=VALUE`` texts (model config fields by dotted path)."""
    from vgen.config.overrides import parse_set

    if options.get("batch_size") is not None and batch_per_device is not None:
        raise VgenError("pass either --batch-size (global) or --batch-per-device, not both")
    paths = {"data": data, "cache": cache, "latent_cache": latent_cache}
    overrides = {k: v for k, v in options.items() if v is not None}
    overrides.update({k: str(v) for k, v in paths.items() if v is not None})
    if grad_clip is not None:
        overrides["grad_clip"] = grad_clip if grad_clip > 0 else None
    if data is not None:
        overrides["synthetic"] = None
        if not Path(data).is_dir():
            raise VgenError(f"--data {str(data)!r} is not a folder; pass a folder of videos")
    elif options.get("synthetic") is not None:
        overrides["data"] = None
    check_frame_noise(frame_noise)
    config_sets = [parse_set(text) for text in sets or ()]
    updates = {k: v for k, v in {"cond_overlap": cond_overlap, "cond_prob": cond_prob,
                                 "frame_noise": frame_noise}.items() if v is not None}
    return TrainRequest(model=model, overrides=overrides, name=name, out=out, resume=resume, device=device,
                        batch_per_device=batch_per_device, model_updates=updates,
                        config_sets=config_sets)


@contextmanager
def option_errors() -> Iterator[None]:
    """Turn an invalid training option (a pydantic ``ValidationError``) into one ``VgenError`` line."""
    from pydantic import ValidationError

    try:
        yield
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]).replace("_", "-") if error.get("loc") else "option"
        raise VgenError(f"invalid --{field}: {error['msg']}") from None


def dry_run(request: TrainRequest, hooks: Hooks) -> dict[str, Any]:
    """What ``--dry-run`` prints: the resolved config, parameter counts and memory estimates; nothing is written."""
    from vgen.training import plan

    with option_errors():
        return plan.dry_run(plan.resolve(request, hooks))


def run(request: TrainRequest, hooks: Hooks) -> "TrainResult":
    """Train as asked (:func:`vgen.training.session.train`); its ``TrainResult``."""
    from vgen.training.session import train

    with option_errors():
        return train(request, hooks)
