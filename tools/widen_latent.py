"""Give a trained PVDM model more latent channels without changing what it computes.

    python tools/widen_latent.py --model pvdm-mini-bouncing --channels 8 --name wide8
    vgen train --model wide8 --stage ae --synthetic bouncing --steps 2500 --lr 5e-4 --lr-decay cosine --name wide8-ae

The autoencoder's three bottleneck convolutions (``pre_xy/yt/xt``, features -> C latent channels) get ``channels - C``
new output rows (PyTorch's default uniform init for the weights, zero biases, so the new channels carry a random
projection of the features), and the three convolutions that read the latent back (``post_*``) get zero input
columns for them: the widened model decodes every latent exactly as before and ignores the new channels until training gives them weight. The plane
UNet's stem (which reads [z_t | previous-clip latent]) gets zero input columns for the new channels of both halves,
and its output convolution zero rows, so its prediction for the old channels is unchanged and for the new ones 0.
The result is a new model in the store (never replacing one); fine-tune its autoencoder, then its UNet, with
``vgen train`` (README "What limits quality", point 6, has what 8 channels bought on the bundled model).

Net2Net-style widening (Chen et al. 2016) applied to the latent: training restarts from the trained model instead of
from scratch. PVDM models only; the exit code is 2 with one line on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from vgen.errors import VgenError
from vgen.families.pvdm.config import PVDMConfig
from vgen.io.atomic import atomic_path
from vgen.io.checkpoint import load_network, save_network
from vgen.io.store import check_model_name, model_config, models_dir, resolve_model

PLANES = ("xy", "yt", "xt")


def widen_autoencoder(state: dict[str, torch.Tensor], old: int, new: int,
                      generator: torch.Generator) -> dict[str, torch.Tensor]:
    """The autoencoder's state dict with ``new - old`` more latent channels (see the module docstring)."""
    state = dict(state)
    extra = new - old
    for plane in PLANES:
        weight, bias = state[f"pre_{plane}.weight"], state[f"pre_{plane}.bias"]
        bound = weight.shape[1] ** -0.5  # nn.Conv2d's default for a 1x1 kernel
        rows = (torch.rand(extra, *weight.shape[1:], generator=generator, dtype=weight.dtype) * 2 - 1) * bound
        state[f"pre_{plane}.weight"] = torch.cat([weight, rows])
        state[f"pre_{plane}.bias"] = torch.cat([bias, bias.new_zeros(extra)])
        post = state[f"post_{plane}.weight"]
        state[f"post_{plane}.weight"] = torch.cat([post, post.new_zeros(post.shape[0], extra, *post.shape[2:])], 1)
    return state


def widen_unet(state: dict[str, torch.Tensor], old: int, new: int) -> dict[str, torch.Tensor]:
    """The plane UNet's state dict for ``new`` latent channels: zero stem columns, zero output rows."""
    state = dict(state)
    stem = state["stem.weight"]  # (width, 2·old, k, k): [z_t | condition]
    zeros = stem.new_zeros(stem.shape[0], new - old, *stem.shape[2:])
    state["stem.weight"] = torch.cat([stem[:, :old], zeros, stem[:, old:], zeros], 1)
    out_w, out_b = state["out_conv.weight"], state["out_conv.bias"]
    state["out_conv.weight"] = torch.cat([out_w, out_w.new_zeros(new - old, *out_w.shape[1:])])
    state["out_conv.bias"] = torch.cat([out_b, out_b.new_zeros(new - old)])
    return state


def widen_model(source: Path, target: Path, channels: int, seed: int) -> int:
    """Write the widened copy of the model folder ``source`` into the new folder ``target``; returns the old C."""
    config, _ = model_config(source)
    if not isinstance(config, PVDMConfig):
        raise VgenError(f"{source.name!r} is a {config.family} model; only PVDM models have a latent to widen")
    ae_state, config, ae_meta = load_network(source / "autoencoder.safetensors")
    old = config.autoencoder.latent_channels
    if channels <= old:
        raise VgenError(f"--channels {channels} must be larger than the model's {old} latent channels")
    widened = config.model_copy(update={"autoencoder": config.autoencoder.model_copy(
        update={"latent_channels": channels})})
    generator = torch.Generator().manual_seed(seed)
    networks = {"autoencoder.safetensors": (widen_autoencoder(ae_state, old, channels, generator), ae_meta)}
    if (source / "unet.safetensors").is_file():
        unet_state, _, unet_meta = load_network(source / "unet.safetensors")
        networks["unet.safetensors"] = (widen_unet(unet_state, old, channels), unet_meta)
    card = {"summary": f"{source.name} with its latent widened from {old} to {channels} channels by "
                       f"tools/widen_latent.py (seed {seed}): decodes as the original until fine-tuned",
            "widened_from": source.name, "latent_channels": {"before": old, "after": channels}}
    with atomic_path(target, directory=True) as tmp:
        for name, (state, meta) in networks.items():
            save_network(tmp / name, state, widened, role=meta["role"], extra=meta["extra"])
        (tmp / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained PVDM model: store name, bundled name or folder")
    parser.add_argument("--channels", type=int, required=True, help="latent channels of the new model")
    parser.add_argument("--name", required=True, help="store name of the new model (must not exist)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' encoder weights")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    args = parser.parse_args(argv)
    try:
        check_model_name(args.name)
        target = models_dir() / args.name
        if target.exists():
            raise VgenError(f"model {args.name!r} already exists in the store; choose another --name")
        source = resolve_model(args.model)
        target.parent.mkdir(parents=True, exist_ok=True)
        old = widen_model(source, target, args.channels, args.seed)
    except VgenError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}: {old} -> {args.channels} latent channels; fine-tune it with "
          f"vgen train --model {args.name} --stage ae", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
