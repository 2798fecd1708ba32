"""Memory estimate for ``vgen train --dry-run`` (nothing is allocated: networks live on the meta device).

Per stage: weights (fp32, 4 B/param) of the networks the stage uses, plus for the trained network gradients (4 B),
AdamW moments (8 B) and the EMA copy (4 B, diffusion stage only). Activations are *measured* rather
than guessed: one forward pass at batch 1 runs on the ``meta`` device (shapes only, no compute), and a
``saved_tensors_hooks`` pair adds up the bytes autograd keeps for the backward pass. That number times
the per-device micro-batch is the activation estimate (fp32; bf16 autocast roughly halves it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.training.options import Stage

_MIB = 1024 * 1024


def example_inputs(config: ModelConfigBase, stage: Stage, networks: dict[str, nn.Module], device: torch.device
                   ) -> tuple[nn.Module, tuple[torch.Tensor, ...], dict[str, Any]]:
    """The trained network of ``stage`` and a batch-1 input for it (the shapes training uses)."""
    from vgen.families import family_of

    return family_of(config).example_inputs(config, stage, networks, device)


def activation_bytes(module: nn.Module, args: tuple[torch.Tensor, ...], kwargs: dict[str, Any]) -> int:
    """Bytes autograd saves for backward during one forward of ``module`` (works on the meta device)."""
    total = 0
    seen: set[int] = set()

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal total
        # Parameters are counted with the weights; a tensor saved twice is stored once.
        if not isinstance(tensor, nn.Parameter) and id(tensor) not in seen:
            seen.add(id(tensor))
            total += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*args, **kwargs)
    return total


def estimate(config: ModelConfigBase, stage: Stage, micro_batch: int) -> dict[str, Any]:
    """Memory estimate in MiB for one device training ``stage`` with ``micro_batch`` samples."""
    from vgen.models import build_networks

    with torch.device("meta"):
        networks = build_networks(config)
    from vgen.families import family_of

    trained_role = "autoencoder" if stage == "ae" else "unet"
    params = {role: sum(p.numel() for p in net.parameters()) for role, net in networks.items()}
    trained = params[trained_role]
    if stage != "ae":
        # The stage may train only some of the denoiser (the inflated family's temporal layers).
        family_of(config).select_trainable(config, stage, networks)
        trained = sum(p.numel() for p in networks["unet"].parameters() if p.requires_grad)
    used = [trained_role] if stage == "ae" else list(params)
    weights = sum(params[role] for role in used) * 4
    grads, adam = trained * 4, trained * 8
    ema = params[trained_role] * 4 if stage != "ae" else 0
    module, args, kwargs = example_inputs(config, stage, networks, torch.device("meta"))
    module.train()
    try:
        per_sample: int | None = activation_bytes(module, args, kwargs)
        how = "measured: autograd-saved tensors of one batch-1 forward on the meta device, times the micro-batch"
    except (NotImplementedError, RuntimeError) as exc:
        per_sample, how = None, f"not measured (meta-device forward failed: {str(exc).splitlines()[0][:80]})"
    activations = per_sample * micro_batch if per_sample is not None else None
    static = weights + grads + adam + ema
    return {
        "stage": stage,
        "trained_network": trained_role,
        "weights_mib": round(weights / _MIB, 1),
        "gradients_mib": round(grads / _MIB, 1),
        "adamw_mib": round(adam / _MIB, 1),
        "ema_mib": round(ema / _MIB, 1),
        "activations_mib": round(activations / _MIB, 1) if activations is not None else None,
        "activations_method": how,
        "total_mib": round((static + (activations or 0)) / _MIB, 1),
        "precision_note": "fp32 figures; bf16/fp16 autocast roughly halves the activations",
    }
