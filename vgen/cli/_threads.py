"""``--threads``: how many CPU threads torch uses, shared by the commands that run networks.

On a shared CPU, torch's default thread pool busy-waits for its workers; a small network then spends most of its time
in that synchronisation (measured under load: the bundled model sampled in 147 s with 2 threads, 6 s with 1).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any, Iterable

import typer

if TYPE_CHECKING:
    from torch import nn

SMALL_NETWORK_PARAMS = 20_000_000
"""Below this many parameters a CPU forward runs on one thread by default (measured in the README's conventions)."""

ThreadsOpt = Annotated[int, typer.Option(
    "--threads", min=0, help="CPU threads for torch. 0 = auto: OMP_NUM_THREADS if set; else sample, extend, "
    "interpolate and upscale use 1 thread for models under 20M parameters on CPU, and torch's default otherwise.")]


def set_threads(requested: int, networks: Iterable["nn.Module"] = (), on_cpu: bool = True) -> int:
    """Set torch's intra-op thread count and return the count in effect.

    ``requested`` > 0 is used as given. 0 (auto) keeps the count OMP_NUM_THREADS gave torch when that variable is set,
    chooses 1 when ``on_cpu`` and ``networks`` together hold fewer than :data:`SMALL_NETWORK_PARAMS` parameters, and
    keeps torch's default otherwise (no networks given counts as large).
    """
    import torch

    from vgen.models.layers import count_parameters

    if requested > 0:
        torch.set_num_threads(requested)
    elif on_cpu and not os.environ.get("OMP_NUM_THREADS"):
        params = sum(count_parameters(net) for net in networks)
        if 0 < params < SMALL_NETWORK_PARAMS:
            torch.set_num_threads(1)
    return torch.get_num_threads()


def model_threads(requested: int, loaded: Any) -> int:
    """:func:`set_threads` for the networks of a loaded model (a ``vgen.pipelines.model.LoadedModel``) on its device."""
    return set_threads(requested, loaded.networks.values(), on_cpu=loaded.device.type == "cpu")
