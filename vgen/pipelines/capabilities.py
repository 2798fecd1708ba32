"""What each model family can do: the single source of truth for ``vgen models``, the commands'
``--method`` choices and their error messages. No torch imports here.

Method names:
- ``latent``: PVDM clip-by-clip conditioning on the previous clip's clean latent (seed 003, Alg. 1).
- ``mask``: a network trained with known-frame masks (VDM ``conditional_frames``; LVDM prediction /
  interpolation with conditional latent perturbation).
- ``hierarchical``: LVDM keyframes by prediction, then interpolation between them.
- ``replacement`` / ``reconstruction``: VDM's training-free conditioning (paste re-noised known
  frames, or reconstruction guidance).
"""

from __future__ import annotations

from dataclasses import dataclass

from vgen.config.base import ModelConfigBase


@dataclass(frozen=True)
class Capabilities:
    sample: str                      # default method for videos longer than one clip
    long: tuple[str, ...]            # every method ``vgen sample --method`` accepts
    extend: tuple[str, ...]          # methods ``vgen extend`` accepts (first = default)
    interpolate: tuple[str, ...]     # methods ``vgen interpolate`` accepts (first = default); () = cannot


def capabilities(config: ModelConfigBase) -> Capabilities:
    family = getattr(config, "family")
    if family == "pvdm":
        # Triplane latents do not align with frames: no replacement, and interpolation would need
        # frame-aligned known latents. Reconstruction guidance works through the decoder.
        return Capabilities("latent", ("latent", "reconstruction"), ("latent", "reconstruction"), ())
    if family == "vdm":
        masked = ("mask",) if config.unet.conditional_frames else ()
        return Capabilities(
            "reconstruction",
            ("reconstruction", "replacement") + masked,
            ("reconstruction", "replacement") + masked,
            masked + ("reconstruction", "replacement"),
        )
    if family == "lvdm":
        # When each latent spans several frames, single key *frames* cannot fill a latent for the mask or
        # replacement paths; frame-level interpolation then goes through reconstruction guidance on the decoder.
        frame_aligned = config.autoencoder.downsample[0] == 1
        return Capabilities(
            "hierarchical",
            ("hierarchical", "autoregressive"),
            ("mask", "reconstruction", "replacement"),
            ("mask", "reconstruction", "replacement") if frame_aligned else ("reconstruction",),
        )
    raise ValueError(f"unknown model family {family!r}")
