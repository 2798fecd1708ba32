"""Import the official LVDM checkpoints (He et al. 2022, YingqingHe/LVDM) into vgen's LVDM networks (issue #13).

The released short-video models (SkyTimelapse, Taichi) come as two PyTorch Lightning checkpoints: the video
autoencoder (``state_dict`` keys ``encoder.*``, ``decoder.*``, ``quant_conv.*``, ``post_quant_conv.*`` plus the
training loss ``loss.*``: LPIPS and discriminator) and the latent diffusion model (``model.diffusion_model.*``, its EMA
``model_ema.*`` with the dots of each name removed, a copy of the autoencoder ``first_stage_model.*`` and the schedule
buffers). The long-video layout (mask channel + ``label_emb`` of the conditioning noise level) is read as well.

Files are read with ``torch.load(weights_only=True)``; the only global allowed beyond tensors and containers is the
``ModelCheckpoint`` class that Lightning 1.4 uses as the key of its callback state (a stand-in, never instantiated).
The architecture comes from tensor shapes where they determine it (channels, levels, blocks, attention levels, heads
and relative-position range from the tables, mask channel, noise-level table, beta schedule from ``betas``); what
shapes cannot tell (which axes each autoencoder stage strides, the latent scale/shift) comes from the official yaml,
the dataset's published values, or explicit arguments. The imported config switches on every official-numerics
option, so vgen computes what the official code computes.
"""

from __future__ import annotations

import math
import pickle
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor

from vgen.config.base import DiffusionConfig
from vgen.errors import VgenError
from vgen.families.lvdm.config import LVDMAutoencoderConfig, LVDMConfig, LVDMUNetConfig

# (scale_factor, shift_factor) from the official configs/lvdm_short/*.yaml: z_diff = scale · (z + shift).
DATASETS: dict[str, tuple[float, float]] = {
    "sky": (0.33422927, 1.4606637),
    "taichi": (0.175733933, 0.03291025),
    "ucf": (0.220142075, 0.5837740898),
}
# Every released autoencoder: 3 stages, 4x in time, 8x in space (configs/videoae/*.yaml).
OFFICIAL_DOWNSAMPLE = (4, 8, 8)
OFFICIAL_NORM_GROUPS = 32  # hard-coded in the official Normalize / normalization
OFFICIAL_OPTIONS_UNET = {"norm_eps": 1e-5, "block_norm": "clip", "temporal_norm": "position",
                         "relative_position": "official"}
OFFICIAL_OPTIONS_AUTOENCODER = {"decoder_strides": "encoder"}
LIGHTNING_CALLBACK = "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"
SCHEDULE_BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
                    "sqrt_one_minus_alphas_cumprod", "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod",
                    "sqrt_recipm1_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
                    "posterior_mean_coef1", "posterior_mean_coef2", "logvar")


class LightningCallbackKey:
    """Stand-in for Lightning's ``ModelCheckpoint`` class, which Lightning 1.4 checkpoints use as a dict key."""


def load_checkpoint(path: Path, role: str) -> dict[str, Any]:
    """The top-level dict of a checkpoint file, read with ``weights_only=True`` and the one-entry allow-list."""
    path = Path(path)
    if not path.is_file():
        raise VgenError(f"{role} checkpoint {path} does not exist")
    try:
        with torch.serialization.safe_globals([(LightningCallbackKey, LIGHTNING_CALLBACK)]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        found = re.search(r"GLOBAL (\S+)", str(error))
        if not found:
            raise VgenError(f"{role} checkpoint {path} is not a PyTorch checkpoint (or is damaged); pass the "
                            ".ckpt file") from None
        raise VgenError(f"{role} checkpoint {path} holds a pickled {found.group(1)}; refusing to unpickle it "
                        "(only tensors and Lightning's checkpoint bookkeeping are read)") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise VgenError(f"{role} checkpoint {path} cannot be read (truncated or not a PyTorch checkpoint: "
                        f"{reason})") from None
    if not isinstance(obj, dict):
        raise VgenError(f"{role} checkpoint {path} holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def _state_dict(ckpt: dict[str, Any], path: Path, role: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """(state_dict, Lightning bookkeeping summary) of a Lightning checkpoint or a bare state dict."""
    state = ckpt.get("state_dict", ckpt)
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise VgenError(f"{role} checkpoint {path} has no tensor state_dict")
    bookkeeping = {k: ckpt[k] for k in ("epoch", "global_step", "pytorch-lightning_version") if k in ckpt}
    bookkeeping["dropped"] = sorted(k for k in ckpt if k != "state_dict" and k not in bookkeeping) \
        if "state_dict" in ckpt else []
    return dict(state), bookkeeping


def _group(keys: Iterable[str]) -> dict[str, int]:
    """Dropped keys counted per prefix (two components for ``loss.*`` and ``model.*``, else one)."""
    counts: Counter[str] = Counter()
    for key in keys:
        parts = key.split(".")
        counts[".".join(parts[:2]) if parts[0] in ("loss", "model") and len(parts) > 1 else parts[0]] += 1
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------------------------------------------- yaml


def _read_yaml(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise VgenError(f"config yaml {path} does not exist")
    try:
        import yaml
    except ImportError:
        raise VgenError("reading an official config yaml needs PyYAML: pip install pyyaml") from None
    try:
        tree = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise VgenError(f"config yaml {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(tree, dict) or not isinstance(tree.get("model"), dict):
        raise VgenError(f"config yaml {path} has no 'model' section; pass an official LVDM config")
    return tree


def _dig(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def _yaml_facts(tree: dict[str, Any]) -> dict[str, Any]:
    """What the official configs say that tensor shapes cannot: strides, latent scale/shift, clip size."""
    params = _dig(tree, "model", "params") or {}
    ddconfig = _dig(params, "first_stage_config", "params", "ddconfig") or _dig(params, "ddconfig") or {}
    facts = {
        "downsample": _dig(ddconfig, "encoder", "params", "downsample"),
        "upsample": _dig(ddconfig, "decoder", "params", "upsample"),
        "scale": params.get("scale_factor"),
        "shift": params.get("shift_factor"),
        "parameterization": params.get("parameterization"),
        "latent_size": params.get("image_size"),
        "latent_frames": params.get("video_length"),
    }
    return {k: v for k, v in facts.items() if v is not None}


# ---------------------------------------------------------------------------------------------------- autoencoder

# official key prefix -> vgen prefix (given the stage index a from the pattern and the stage count n); ResBlock
# prefixes end in "res." / "res1." / "res2." and their parts are renamed by _AE_RES.
_AE_RULES: list[tuple[str, Any]] = [
    (r"encoder\.conv_first\.conv\.", lambda a, n: "encoder.0.conv."),
    (r"encoder\.conv_blocks\.(\d+)\.down\.conv\.", lambda a, n: f"encoder.{1 + 2 * a}.conv."),
    (r"encoder\.conv_blocks\.(\d+)\.res\.", lambda a, n: f"encoder.{2 + 2 * a}."),
    (r"encoder\.final_block\.0\.", lambda a, n: f"encoder.{1 + 2 * n}."),
    (r"encoder\.final_block\.2\.conv\.", lambda a, n: f"encoder.{3 + 2 * n}.conv."),
    (r"quant_conv\.conv\.", lambda a, n: "quant_conv."),
    (r"post_quant_conv\.conv\.", lambda a, n: "post_quant_conv."),
    (r"decoder\.conv_blocks\.(\d+)\.up\.convt\.", lambda a, n: f"decoder.{3 * a}.conv."),
    (r"decoder\.conv_blocks\.(\d+)\.res1\.", lambda a, n: f"decoder.{3 * a + 1}."),
    (r"decoder\.conv_blocks\.(\d+)\.res2\.", lambda a, n: f"decoder.{3 * a + 2}."),
    (r"decoder\.conv_out\.conv\.", lambda a, n: f"decoder.{3 * n}.conv."),
]
_AE_RES = {"norm1.": "block.0.", "conv1.conv.": "block.2.conv.", "norm2.": "block.3.", "conv2.conv.": "block.5.conv."}


def _autoencoder_key(key: str, stages: int) -> str | None:
    """vgen name of an official autoencoder key, None if the key is not a network weight."""
    for pattern, target in _AE_RULES:
        match = re.match(pattern, key)
        if not match:
            continue
        name = target(int(match.group(1)) if match.groups() else 0, stages)
        rest = key[match.end():]
        if not re.search(r"res\d?\\\.$", pattern):
            return name + rest
        part = next((p for p in _AE_RES if rest.startswith(p)), None)
        return None if part is None else name + _AE_RES[part] + rest[len(part):]
    return None


def _is_alias(key: str, state: dict[str, Tensor]) -> bool:
    """The official SamePadConv3d also registers its conv weight as ``<module>.weight``: same tensor, second key."""
    if not key.endswith(".weight"):
        return False
    inner = key[: -len("weight")] + "conv.weight"
    return inner in state and torch.equal(state[inner], state[key])


def _autoencoder_config(state: dict[str, Tensor], facts: dict[str, Any], path: Path
                        ) -> tuple[LVDMAutoencoderConfig, str]:
    try:
        hidden = state["encoder.conv_first.conv.weight"].shape[0]
        embed = state["post_quant_conv.conv.weight"].shape[1]
        z_channels = state["post_quant_conv.conv.weight"].shape[0]
    except KeyError as missing:
        raise VgenError(f"autoencoder checkpoint {path} lacks {missing.args[0]}; is it an LVDM video autoencoder?") \
            from None
    stages = len({k.split(".")[2] for k in state if k.startswith("encoder.conv_blocks.")})
    if embed != z_channels:
        raise VgenError(f"autoencoder checkpoint {path}: embed_dim {embed} != z_channels {z_channels} is not supported")
    if "downsample" in facts:
        downsample = tuple(int(f) for f in facts["downsample"])
        if facts.get("upsample") is not None and tuple(facts["upsample"]) != downsample:
            raise VgenError(f"config yaml: decoder upsample {facts['upsample']} != encoder downsample {downsample}")
        source = "config yaml"
    elif stages == int(math.log2(max(OFFICIAL_DOWNSAMPLE))):
        downsample, source = OFFICIAL_DOWNSAMPLE, f"assumed {OFFICIAL_DOWNSAMPLE} (every released autoencoder)"
    else:
        raise VgenError(f"autoencoder checkpoint {path} has {stages} stages; pass its official config yaml so the "
                        "per-axis downsampling is known")
    if len(downsample) != 3 or int(math.log2(max(downsample))) != stages:
        raise VgenError(f"downsample {downsample} does not match the {stages} encoder stages in {path}")
    config = LVDMAutoencoderConfig(hidden=hidden, downsample=downsample, latent_channels=embed,
                                   norm_groups=OFFICIAL_NORM_GROUPS, **OFFICIAL_OPTIONS_AUTOENCODER)
    return config, source


# ---------------------------------------------------------------------------------------------------- UNet

_RES_PARTS = {"in_layers.0.": "in_norm.norm.", "in_layers.2.": "in_conv.", "emb_layers.1.": "emb_proj.",
              "out_layers.0.": "out_norm.norm.", "out_layers.3.": "out_conv.", "skip_connection.": "skip."}
# STAttentionBlock part -> (offset from the block's vgen position: 0 spatial, 1 temporal, vgen name)
_ATTENTION_PARTS = {"norm_s.": (0, "norm.norm."), "qkv_s.": (0, "qkv."), "proj_out_s.": (0, "proj."),
                    "norm_t.": (1, "norm.norm."), "qkv_t.": (1, "qkv."), "proj_out_t.": (1, "proj."),
                    "relative_position_k.embeddings_table": (1, "attention.rel_k"),
                    "relative_position_v.embeddings_table": (1, "attention.rel_v")}


def _unet_key(key: str, attention_at: dict[str, set[int]]) -> str | None:
    """vgen name (inside LVDMUNet) of an official ``diffusion_model`` key; None if unknown."""
    fixed = {"time_embed.0.": "time_embed.net.0.", "time_embed.2.": "time_embed.net.2.",
             "label_emb.": "noise_level_label.", "input_blocks.0.0.": "backbone.input_conv.",
             "out.0.": "backbone.out.0.norm.", "out.2.": "backbone.out.2."}
    for prefix, mapped in fixed.items():
        if key.startswith(prefix):
            return mapped + key[len(prefix):]
    match = re.match(r"(input_blocks|middle_block|output_blocks)\.(?:(\d+)\.)?(\d+)\.", key)
    if not match:
        return None
    group, index, position = match.group(1), match.group(2), int(match.group(3))
    block = f"{group}.{index}" if index is not None else group
    rest = key[match.end():]
    if group == "input_blocks":
        prefix = f"backbone.encoder.{int(index) - 1}"
    elif group == "middle_block":
        prefix = "backbone.middle"
    else:
        prefix = f"backbone.decoder.{index}"
    position += sum(1 for p in attention_at.get(block, ()) if p < position)  # vgen splits attention in two
    for part, (offset, mapped) in _ATTENTION_PARTS.items():
        if rest.startswith(part):
            return f"{prefix}.{position + offset}.{mapped}{rest[len(part):]}"
    for part, mapped in _RES_PARTS.items():
        if rest.startswith(part):
            return f"{prefix}.{position}.{mapped}{rest[len(part):]}"
    if rest.split(".")[0] in ("op", "conv"):  # Downsample / Upsample conv
        return f"{prefix}.{position}.conv.{rest.split('.', 1)[1]}"
    return None


def _unet_config(net: dict[str, Tensor], latent_channels: int, path: Path
                 ) -> tuple[LVDMUNetConfig, dict[str, Any]]:
    """LVDMUNetConfig from the shapes of the official diffusion_model tensors."""
    if any(".transformer_blocks." in k or k.split(".")[-2:-1] == ["proj_in"] for k in net):
        raise VgenError(f"diffusion checkpoint {path} has cross-attention transformer blocks (the text-to-video "
                        "model); only the unconditional short-video and the mask-conditioned UNets are supported")
    if any(k.startswith("time_embed_cond.") for k in net):
        raise VgenError(f"diffusion checkpoint {path} uses cond_aug_mode 'time_embed', which no released config "
                        "uses; it is not supported")
    try:
        stem = net["input_blocks.0.0.weight"]
        out_channels = net["out.2.weight"].shape[0]
        emb_dim = net["time_embed.0.weight"].shape[0]
    except KeyError as missing:
        raise VgenError(f"diffusion checkpoint {path} lacks diffusion_model.{missing.args[0]}") from None
    model_channels, in_channels = stem.shape[:2]
    if tuple(stem.shape[2:]) != (1, 3, 3):
        raise VgenError(f"diffusion checkpoint {path}: input conv kernel {tuple(stem.shape[2:])} is not 1x3x3 "
                        "(kernel_size_t != 1 is not supported)")
    if emb_dim != 4 * model_channels or out_channels != latent_channels:
        raise VgenError(f"diffusion checkpoint {path}: time embedding {emb_dim} / output channels {out_channels} do "
                        f"not fit model_channels {model_channels} and the autoencoder's {latent_channels} latents")

    levels: list[list[int]] = [[]]
    k = 1
    while any(key.startswith(f"input_blocks.{k}.") for key in net):
        if f"input_blocks.{k}.0.op.weight" in net:
            levels.append([])
        elif f"input_blocks.{k}.0.out_layers.3.weight" in net:
            levels[-1].append(k)
        else:
            raise VgenError(f"diffusion checkpoint {path}: input block {k} is neither a ResBlock nor a Downsample")
        k += 1
    num_res_blocks = len(levels[0])
    if not num_res_blocks or any(len(level) != num_res_blocks for level in levels):
        raise VgenError(f"diffusion checkpoint {path}: levels have unequal ResBlock counts")
    channel_mult = tuple(net[f"input_blocks.{level[0]}.0.out_layers.3.weight"].shape[0] // model_channels
                         for level in levels)
    attention_levels = tuple(i for i, level in enumerate(levels) if f"input_blocks.{level[0]}.1.norm_s.weight" in net)

    tables = {k: v for k, v in net.items() if k.endswith("relative_position_k.embeddings_table")}
    heads: set[int] = set()
    lengths: set[int] = set()
    for key, table in tables.items():
        channels = net[key.replace("relative_position_k.embeddings_table", "qkv_t.weight")].shape[1]
        heads.add(channels // table.shape[1])
        lengths.add((table.shape[0] - 1) // 2)
    if not tables:
        raise VgenError(f"diffusion checkpoint {path} has no relative-position tables "
                        "(use_relative_position False is not supported)")
    if len(heads) != 1 or len(lengths) != 1:
        raise VgenError(f"diffusion checkpoint {path}: head counts {sorted(heads)} / relative ranges "
                        f"{sorted(lengths)} differ between blocks; not supported")
    first_res = f"input_blocks.{levels[0][0]}.0"
    if net[f"{first_res}.emb_layers.1.weight"].shape[0] != 2 * net[f"{first_res}.out_layers.3.weight"].shape[0]:
        raise VgenError(f"diffusion checkpoint {path} was trained without use_scale_shift_norm; not supported")

    if in_channels == latent_channels + 1:
        mask_channel = True
    elif in_channels == latent_channels:
        mask_channel = False
    else:
        raise VgenError(f"diffusion checkpoint {path} takes {in_channels} input channels; the autoencoder gives "
                        f"{latent_channels} latents (expected {latent_channels} or {latent_channels + 1})")
    label = net.get("label_emb.weight")
    config = LVDMUNetConfig(
        model_channels=model_channels, channel_mult=channel_mult, num_res_blocks=num_res_blocks,
        attention_levels=attention_levels, num_heads=heads.pop(), temporal_length=lengths.pop(),
        max_noise_level=label.shape[0] - 1 if label is not None else LVDMUNetConfig().max_noise_level,
        mask_channel=mask_channel,
        noise_level_embedding="class" if label is not None else "none",
        norm_groups=OFFICIAL_NORM_GROUPS, **OFFICIAL_OPTIONS_UNET,
    )
    return config, {"attention_blocks": _attention_positions(net)}


def _attention_positions(net: dict[str, Tensor]) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for key in net:
        match = re.match(r"(input_blocks\.\d+|middle_block|output_blocks\.\d+)\.(\d+)\.norm_s\.weight$", key)
        if match:
            found.setdefault(match.group(1), set()).add(int(match.group(2)))
    return found


def _convert(state: dict[str, Tensor], rename, role: str, path: Path) -> tuple[dict[str, Tensor], list[str]]:
    """Renamed tensors (1-wide conv1d kernels squeezed to Linear weights), and the keys no rule took."""
    out: dict[str, Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        name = rename(key)
        if name is None:
            unknown.append(key)
            continue
        if name in out:
            raise VgenError(f"{role} checkpoint {path}: two tensors map to {name}")
        if re.search(r"\.(qkv|proj)\.weight$", name) and value.dim() == 3:
            value = value.squeeze(-1)
        out[name] = value.detach().to(torch.float32).clone()
    return out, unknown


def _check_against(network: torch.nn.Module, state: dict[str, Tensor], role: str, path: Path) -> None:
    """Every tensor the vgen network expects is there with its shape, and nothing else."""
    expected = {k: v.shape for k, v in network.state_dict().items()}
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing:
        raise VgenError(f"{role} checkpoint {path} is missing {len(missing)} tensor(s) the network needs, e.g. "
                        f"{missing[0]}; the file is incomplete or not an LVDM {role}")
    if extra:
        raise VgenError(f"{role} checkpoint {path} has {len(extra)} tensor(s) the inferred network lacks, e.g. "
                        f"{extra[0]}")
    for key, shape in expected.items():
        if state[key].shape != shape:
            raise VgenError(f"{role} checkpoint {path}: {key} has shape {tuple(state[key].shape)}, the inferred "
                            f"network wants {tuple(shape)}")


# ---------------------------------------------------------------------------------------------------- schedule


def _schedule(state: dict[str, Tensor], path: Path) -> tuple[DiffusionConfig, str]:
    """LVDM's schedule (sqrt-linear betas, L1 loss, eps prediction), endpoints read off the file's ``betas``, sampled
    with the official DDIM by default (``schedule_grid="official"``)."""
    from vgen.diffusion.schedules import scaled_linear_betas

    betas = state.get("betas")
    if betas is None:
        steps, start, end = 1000, 0.0015, 0.0155
        source = "official default 0.0015..0.0155 over 1000 steps (no betas in the file)"
    else:
        betas = betas.double()
        steps, start, end = betas.numel(), float(betas[0]), float(betas[-1])
        if not torch.allclose(scaled_linear_betas(steps, start, end), betas, rtol=1e-5, atol=1e-9):
            raise VgenError(f"diffusion checkpoint {path}: its betas are not LVDM's sqrt-linear schedule; not supported")
        start, end = round(start, 8), round(end, 8)
        source = f"scaled_linear {start}..{end} over {steps} steps (read from the file's betas)"
    return (DiffusionConfig(schedule="scaled_linear", timesteps=steps, beta_start=start, beta_end=end, loss="l1",
                            schedule_grid="official"), source)


# ---------------------------------------------------------------------------------------------------- entry point


def _latent_factor(name: str, given: float | None, facts: dict[str, Any], dataset: str | None,
                   config_yaml: Path | None) -> tuple[float, str]:
    """The latent scale or shift and where it came from: given > config yaml > the dataset's published value."""
    if given is not None:
        return float(given), "given"
    if name in facts:
        return float(facts[name]), f"config yaml {config_yaml}"
    if dataset is not None:
        return DATASETS[dataset][0 if name == "scale" else 1], f"dataset {dataset}"
    raise VgenError(f"the latent {name} factor is not known: pass a dataset ({', '.join(DATASETS)}), an explicit "
                    "scale and shift, or the official config yaml")


def import_official(
    autoencoder: Path,
    unet: Path,
    *,
    dataset: str | None = None,
    scale: float | None = None,
    shift: float | None = None,
    config_yaml: Path | None = None,
) -> tuple[LVDMConfig, dict[str, dict[str, Tensor]], dict[str, Any]]:
    """Read an official LVDM autoencoder and diffusion checkpoint; return (config, state dicts, report).

    The state dicts load strictly into ``LVDMAutoencoder(config.autoencoder)`` and ``LVDMUNet(config)``; the
    autoencoder's carries the latent ``scale_factor``/``shift_factor`` (explicit values > yaml > ``dataset``).
    Raises VgenError, one line, for a file of the wrong kind, an unreadable or incomplete file, or a layout vgen
    does not reproduce.
    """
    from vgen.families.lvdm.autoencoder import LVDMAutoencoder
    from vgen.families.lvdm.unet import LVDMUNet

    autoencoder, unet = Path(autoencoder), Path(unet)
    if dataset is not None and dataset not in DATASETS:
        raise VgenError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)} or give scale and shift")
    facts = _yaml_facts(_read_yaml(config_yaml))
    if facts.get("parameterization", "eps") != "eps":
        raise VgenError(f"config yaml {config_yaml}: parameterization {facts['parameterization']!r} is not supported")

    ae_state, ae_book = _state_dict(load_checkpoint(autoencoder, "autoencoder"), autoencoder, "autoencoder")
    unet_state, unet_book = _state_dict(load_checkpoint(unet, "diffusion"), unet, "diffusion")
    if any(k.startswith(("model.diffusion_model.", "first_stage_model.")) for k in ae_state):
        raise VgenError(f"autoencoder checkpoint {autoencoder} is a latent-diffusion checkpoint; pass the video "
                        "autoencoder (ae_*.ckpt) as the autoencoder")
    if any(k.startswith("cond_stage_model.") for k in unet_state):
        raise VgenError(f"diffusion checkpoint {unet} has a text encoder (cond_stage_model): the text-to-video model "
                        "is not supported")
    if not any(k.startswith("model.diffusion_model.") for k in unet_state):
        if any(k.startswith(("encoder.", "decoder.")) for k in unet_state):
            raise VgenError(f"diffusion checkpoint {unet} is a video autoencoder checkpoint; pass the LVDM model "
                            "(short_*.ckpt) as the UNet")
        raise VgenError(f"diffusion checkpoint {unet} has no model.diffusion_model.* weights; not an LVDM model")

    # autoencoder
    ae_config, downsample_source = _autoencoder_config(ae_state, facts, autoencoder)
    stages = int(math.log2(max(ae_config.downsample)))
    aliases = [k for k in ae_state if _is_alias(k, ae_state)]
    network_keys = {k: v for k, v in ae_state.items() if k not in aliases and not k.startswith("loss.")}
    ae_sd, unknown = _convert(network_keys, lambda k: _autoencoder_key(k, stages), "autoencoder", autoencoder)
    if unknown:
        raise VgenError(f"autoencoder checkpoint {autoencoder} has {len(unknown)} tensor(s) of no known layer, e.g. "
                        f"{unknown[0]}")

    # latent normalisation
    (scale, scale_from), (shift, shift_from) = (
        _latent_factor(name, given, facts, dataset, config_yaml) for name, given in (("scale", scale), ("shift", shift)))
    if not scale or not math.isfinite(scale) or not math.isfinite(shift):
        raise VgenError(f"latent scale {scale} / shift {shift} must be finite and the scale non-zero")
    ae_sd["scale_factor"] = torch.tensor(scale, dtype=torch.float32)
    ae_sd["shift_factor"] = torch.tensor(shift, dtype=torch.float32)

    # UNet: EMA weights when the file has them
    prefix = "model.diffusion_model."
    raw = {k[len(prefix):]: v for k, v in unet_state.items() if k.startswith(prefix)}
    ema_keys = {k for k in unet_state if k.startswith("model_ema.")} - {"model_ema.decay", "model_ema.num_updates"}
    if ema_keys:
        lookup = {"model_ema." + ("diffusion_model." + k).replace(".", ""): k for k in raw}
        missing = [k for k in lookup if k not in unet_state]
        if missing:
            raise VgenError(f"diffusion checkpoint {unet}: EMA weights are incomplete (no {missing[0]})")
        net = {name: unet_state[ema] for ema, name in lookup.items()}
        used = set(lookup)
        weights = "model_ema"
    else:
        net = raw
        used = {prefix + k for k in raw}
        weights = "model.diffusion_model"
    unet_config, layout = _unet_config(net, ae_config.latent_channels, unet)
    unet_sd, unknown = _convert(net, lambda k: _unet_key(k, layout["attention_blocks"]), "diffusion", unet)
    if unknown:
        raise VgenError(f"diffusion checkpoint {unet} has {len(unknown)} diffusion_model tensor(s) of no known "
                        f"layer, e.g. {unknown[0]}")
    diffusion, schedule_source = _schedule(unet_state, unet)

    latent_frames = int(facts.get("latent_frames", 4))
    latent_size = int(facts.get("latent_size", 32))
    conditional = unet_config.mask_channel
    config = LVDMConfig(
        name=f"lvdm-{dataset}" if dataset else "lvdm-official",
        frames=latent_frames * ae_config.downsample[0], resolution=latent_size * ae_config.downsample[1], fps=8,
        autoencoder=ae_config, unet=unet_config, diffusion=diffusion,
        p_interp=0.0, p_pred=0.5 if conditional else 0.0, p_keys=0.0,
    )
    _check_against(LVDMAutoencoder(config.autoencoder), ae_sd, "autoencoder", autoencoder)
    _check_against(LVDMUNet(config), unet_sd, "diffusion", unet)

    first_stage = {k[len("first_stage_model."):]: v for k, v in unet_state.items()
                   if k.startswith("first_stage_model.")}
    if not first_stage:
        first_stage_note = "absent"
    elif first_stage.keys() == ae_state.keys() - {k for k in ae_state if k.startswith("loss.")} and all(
            torch.equal(first_stage[k], ae_state[k]) for k in first_stage):
        first_stage_note = "same weights as the autoencoder file"
    else:
        first_stage_note = "differs from the autoencoder file (the autoencoder file is used)"
    ema_updates = unet_state.get("model_ema.num_updates")
    report: dict[str, Any] = {
        "autoencoder": {
            "file": str(autoencoder), **{k: v for k, v in ae_book.items() if k != "dropped"},
            "tensors": len(ae_sd) - 2, "aliases_skipped": len(aliases),
            "dropped": {**_group(k for k in ae_state if k.startswith("loss.")),
                        **{f"checkpoint[{k!r}]": 1 for k in ae_book["dropped"]}},
            "downsample": list(ae_config.downsample), "downsample_from": downsample_source,
        },
        "unet": {
            "file": str(unet), **{k: v for k, v in unet_book.items() if k != "dropped"},
            "weights": weights, "ema_updates": int(ema_updates) if ema_updates is not None and ema_keys else None,
            "tensors": len(unet_sd),
            "dropped": {**_group(k for k in unet_state if k not in used),
                        **{f"checkpoint[{k!r}]": 1 for k in unet_book["dropped"]}},
            "first_stage_model": first_stage_note,
            "conditioning": ("mask channel + noise-level label" if unet_config.noise_level_embedding == "class"
                             else "mask channel" if conditional else "unconditional"),
        },
        "latent": {"scale_factor": scale, "shift_factor": shift, "scale_from": scale_from, "shift_from": shift_from},
        "schedule": schedule_source,
        "official_options": {"autoencoder": dict(OFFICIAL_OPTIONS_AUTOENCODER), "unet": dict(OFFICIAL_OPTIONS_UNET)},
    }
    return config, {"autoencoder": ae_sd, "unet": unet_sd}, report
