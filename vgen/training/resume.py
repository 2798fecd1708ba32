"""Resuming a run: a checkpoint's training state is checked against the run before any of it is used.

A training state whose record was edited by hand (or that belongs to another run) becomes one
``VgenError`` line naming the file, never a ``KeyError`` or ``TypeError`` deep inside the optimiser.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from vgen.errors import VgenError
from vgen.training.options import Stage

if TYPE_CHECKING:
    from vgen.training.trainer import Trainer

State = tuple[dict[str, Any], dict[str, Any]]


def _count(value: Any) -> bool:
    return type(value) is int and value >= 0


def check_state_meta(meta: Any, path: Path) -> None:
    """Check the record a training state keeps: its stage, step, whether the stage is done, EMA updates."""
    valid = (isinstance(meta, dict) and meta.get("stage") in get_args(Stage) and _count(meta.get("step"))
             and isinstance(meta.get("done", False), bool) and _count(meta.get("ema_updates", 0)))
    if not valid:
        raise VgenError(f"training state {str(path)!r} has a damaged record of its stage and step (edited by hand?); "
                        "point checkpoints/latest at an earlier checkpoint, or start a new run")


def stages_to_run(stages: list[Stage], meta: dict[str, Any] | None, steps: int) -> list[tuple[Stage, bool]]:
    """The stages still to train, in order, each with whether it continues from the resumed state.

    Stages before the checkpoint's stage are done; the checkpoint's own stage is done when the state
    says so and has ``steps`` steps. A checkpoint of a stage this run does not train resumes nothing.
    """
    if meta is None or meta["stage"] not in stages:
        return [(stage, False) for stage in stages]
    at = stages.index(meta["stage"])
    finished = bool(meta.get("done")) and meta["step"] >= steps
    return [(stage, i == at) for i, stage in enumerate(stages) if i > at or (i == at and not finished)]


def restore(trainer: "Trainer", state: State, path: Path) -> None:
    """``trainer.restore(*state)``, with a state that does not fit the run's networks as one line."""
    try:
        trainer.restore(*state)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise VgenError(f"training state {str(path)!r} does not fit this run ({type(exc).__name__}: {detail[:200]}); "
                        "it was edited or belongs to another run") from None
