"""Import checkpoints of the official PVDM code (sihyun-yu/PVDM) into vgen's PVDM networks.

The official training scripts save bare ``state_dict()``s with ``torch.save``: the autoencoder (``ViTAutoencoder``)
in one file, the diffusion model (``DiffusionWrapper`` around ``UNetModel``: every key prefixed
``diffusion_model.``, plus a ``diffusion_model.zeros`` null-condition buffer) in another, and its EMA copy, in the
same layout, in ``ema_model_*.pth``. :func:`import_official` reads them (``weights_only=True``), infers the
architecture from tensor shapes (and the official yaml where shapes cannot tell), renames every tensor to vgen's
layout and turns on the official-numerics options of :class:`PVDMConfig`, so the imported networks compute what
the official code computes:

- autoencoder: ``proj_readout="first"`` (the projections read position 0) and ``rope_layout="official"``;
- UNet: ``norm_eps=1e-5`` (torch's GroupNorm default); the official attention blocks lay their qkv channels out
  head by head (q, k, v of head 0, then head 1, ...), so those weights are reordered to vgen's q | k | v layout
  here (an exact permutation, no option needed).

What the official code hard-codes and the weights cannot show: 4 heads in each axis projection, 8 UNet heads
(the released config; ``num_heads`` in the yaml overrides it). Rotary tables, the ``coords`` buffer and the
``zeros`` buffer are derived data: they are checked and dropped. Any other difference (a missing or unexpected
tensor, a shape that does not fit, a file of the wrong kind) raises a one-line :class:`VgenError`.
"""

from __future__ import annotations

import pickle

import math
import re
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from vgen.errors import VgenError
from vgen.families.pvdm.config import PRESETS, PVDMAutoencoderConfig, PVDMConfig, PVDMUNetConfig

StateDict = dict[str, Tensor]

PROJ_HEADS = 4  # the official axis projections: Transformer(dim, 4, 4, dim // 8, 512), 4 heads
UNET_HEADS = 8  # num_heads of the released diffusion config (configs/latent-diffusion/base.yaml)
TIMESFORMER_HEAD_DIM = 64  # official TimeSformer default, used only when the rotary buffers are absent
PREFIX = "diffusion_model."

_AE_MARK = "encoder.to_patch_embedding.weight"
_UNET_MARK = "input_blocks.0.0.weight"


# --------------------------------------------------------------------------------------------------- files


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_state_dict(path: Path, role: str) -> StateDict:
    """A bare state_dict from ``path`` (``torch.load(weights_only=True)``), or a one-line VgenError."""
    path = Path(path)
    if not path.is_file():
        raise VgenError(f"{role} file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # not a torch file at all, or a pickle with code in it (never run)
        raise VgenError(f"cannot read {role} file {path}: not a PyTorch state_dict file, or it holds pickled "
                        "objects other than tensors (refused, not unpickled)") from None
    except Exception as exc:  # truncated zip
        raise VgenError(f"cannot read {role} file {path}: not a complete torch checkpoint "
                        f"({type(exc).__name__}: {_one_line(exc)[:160]})") from None
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) and isinstance(v, Tensor)
                                                       for k, v in obj.items()):
        held = (f"a {type(obj).__name__}" if not isinstance(obj, dict) else "an empty dict" if not obj
                else "a dict of other things (" + ", ".join(sorted(map(str, obj))[:3]) + ")")
        raise VgenError(f"{role} file {path} is not a bare state_dict (a dict of tensors) as the official PVDM "
                        f"code saves; it holds {held}")
    return obj


def _kind(sd: StateDict) -> str:
    """"autoencoder", "unet" or "unknown", from the keys alone (after a DDP ``module.`` prefix)."""
    keys = {k.removeprefix("module.") for k in sd}
    if _AE_MARK in keys:
        return "autoencoder"
    if PREFIX + _UNET_MARK in keys or _UNET_MARK in keys:
        return "unet"
    return "unknown"


def _strip_module(sd: StateDict, notes: list[str], role: str) -> StateDict:
    if sd and all(k.startswith("module.") for k in sd):
        notes.append(f"{role}: stripped the DistributedDataParallel 'module.' prefix")
        return {k.removeprefix("module."): v for k, v in sd.items()}
    return sd


def _expect_kind(sd: StateDict, want: str, path: Path) -> None:
    got = _kind(sd)
    if got == want:
        return
    names = {"autoencoder": "a PVDM autoencoder (ViTAutoencoder) checkpoint",
             "unet": "a PVDM diffusion (DiffusionWrapper/UNetModel) checkpoint"}
    if got in names:
        raise VgenError(f"{path} is {names[got]}, not {names[want]}; check the order of the files")
    mark = _AE_MARK if want == "autoencoder" else PREFIX + _UNET_MARK
    raise VgenError(f"{path} is not {names[want]}: it has no {mark!r}")


# ---------------------------------------------------------------------------------------------------- yaml


def _scalar(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part) for part in inner.split(",")] if inner else []
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("null", "~", "none", ""):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _strip_comment(line: str) -> str:
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"":
            quote = None if quote == ch else (quote or ch)
        elif ch == "#" and quote is None and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def parse_simple_yaml(text: str) -> dict[str, Any]:
    """The block-mapping subset of YAML the official configs use: nested ``key: value`` by indentation,
    scalars (numbers, booleans, null, strings) and flow lists like ``[4,2,1]``. Anything else is an error."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, value = line.strip().partition(":")
        if not sep or not key or key.startswith(("-", "[", "{")) or (value and not value.startswith(" ")):
            raise VgenError(f"config yaml line {number} is not a 'key: value' line this reader understands: "
                            f"{raw.strip()!r}")
        while indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key.strip()] = _scalar(value)
        else:
            child: dict[str, Any] = {}
            parent[key.strip()] = child
            stack.append((indent, child))
    return root


def read_config_yaml(path: Path) -> dict[str, Any]:
    """The official yaml as nested dicts: PyYAML's ``safe_load`` when installed, else :func:`parse_simple_yaml`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise VgenError(f"cannot read config yaml {path}: {_one_line(exc.strerror or exc)}") from None
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        data = parse_simple_yaml(text)
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise VgenError(f"config yaml {path} does not parse: {_one_line(exc)[:160]}") from None
    if not isinstance(data, dict):
        raise VgenError(f"config yaml {path} is not a mapping")
    return data


def _find(tree: Any, key: str) -> Optional[Any]:
    """The first value stored under ``key`` anywhere in nested dicts (depth first)."""
    if isinstance(tree, dict):
        if key in tree:
            return tree[key]
        for value in tree.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


# ------------------------------------------------------------------------------------------ key name maps

_RES = {"in_norm": "in_layers.0", "in_conv": "in_layers.2", "emb_proj": "emb_layers.1", "out_norm": "out_layers.0",
        "out_conv": "out_layers.3", "skip": "skip_connection", "norm": "norm", "qkv": "qkv", "proj": "proj_out"}


def _ae_rules() -> list[tuple[str, str]]:
    return [
        (r"patch_embed\.(.+)", r"encoder.to_patch_embedding.\1"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.time_attn\.norm\.(.+)", r"\1.layers.\2.0.norm.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.time_attn\.attn\.to_qkv\.(.+)", r"\1.layers.\2.0.fn.to_qkv.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.time_attn\.attn\.to_out\.(.+)", r"\1.layers.\2.0.fn.to_out.0.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.space_attn\.norm\.(.+)", r"\1.layers.\2.1.norm.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.space_attn\.attn\.to_qkv\.(.+)", r"\1.layers.\2.1.fn.to_qkv.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.space_attn\.attn\.to_out\.(.+)", r"\1.layers.\2.1.fn.to_out.0.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.ff_norm\.(.+)", r"\1.layers.\2.2.norm.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.ff\.proj_in\.(.+)", r"\1.layers.\2.2.fn.net.0.\3"),
        (r"(encoder|decoder)\.blocks\.(\d+)\.ff\.proj_out\.(.+)", r"\1.layers.\2.2.fn.net.3.\3"),
        (r"proj_(xy|yt|xt)\.token", r"\1_token"),
        (r"proj_(xy|yt|xt)\.pos_embedding", r"\1_pos_embedding"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.0\.(.+)", r"\1_quant_attn.layers.\2.0.norm.\3"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.1\.to_qkv\.(.+)", r"\1_quant_attn.layers.\2.0.fn.to_qkv.\3"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.1\.to_out\.(.+)", r"\1_quant_attn.layers.\2.0.fn.to_out.0.\3"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.2\.(.+)", r"\1_quant_attn.layers.\2.1.norm.\3"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.3\.0\.(.+)", r"\1_quant_attn.layers.\2.1.fn.net.0.\3"),
        (r"proj_(xy|yt|xt)\.layers\.(\d+)\.3\.2\.(.+)", r"\1_quant_attn.layers.\2.1.fn.net.3.\3"),
        (r"((?:pre|post)_(?:xy|yt|xt)\..+)", r"\1"),
        (r"to_pixel\.(.+)", r"to_pixel.1.\1"),
    ]


def _unet_name(name: str) -> Optional[str]:
    """The official UNetModel name of a vgen PVDMUNet tensor (without the ``diffusion_model.`` prefix)."""
    fixed = {"stem.weight": "input_blocks.0.0.weight", "stem.bias": "input_blocks.0.0.bias",
             "out_norm.weight": "out.0.weight", "out_norm.bias": "out.0.bias",
             "out_conv.weight": "out.2.weight", "out_conv.bias": "out.2.bias"}
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"time_embed\.net\.([02])\.(weight|bias)", name)
    if m:
        return f"time_embed.{m[1]}.{m[2]}"
    m = re.fullmatch(r"(input_blocks|output_blocks)\.(\d+)\.(layers\.(\d+)|joint_attn)\.(\w+)\.(weight|bias)", name)
    if m:
        k = int(m[2]) + (1 if m[1] == "input_blocks" else 0)
        sub = _RES.get(m[5])
        if sub is None:
            return None
        if m[3] == "joint_attn":
            return f"{'input_attns' if m[1] == 'input_blocks' else 'output_attns'}.{k}.{sub}.{m[6]}"
        return f"{m[1]}.{k}.{m[4]}.{sub}.{m[6]}"
    m = re.fullmatch(r"middle_block\.(layers\.(\d+)|joint_attn)\.(\w+)\.(weight|bias)", name)
    if m and m[3] in _RES:
        return f"middle_block.{m[2]}.{_RES[m[3]]}.{m[4]}" if m[2] else f"mid_attn.{_RES[m[3]]}.{m[4]}"
    return None


def _ae_name(name: str) -> Optional[str]:
    for pattern, repl in _AE_RULES:
        m = re.fullmatch(pattern, name)
        if m:
            return m.expand(repl)
    return None


_AE_RULES = _ae_rules()


# --------------------------------------------------------------------------------- architecture inference


def _shape(sd: StateDict, key: str, path: Path, prefix: str = "") -> torch.Size:
    if key not in sd:
        raise VgenError(f"{path} lacks {prefix + key!r}; is it a complete official PVDM checkpoint?")
    return sd[key].shape


def _count(sd: StateDict, prefix: str) -> int:
    """How many consecutive indices ``prefix.{i}.`` occur."""
    found = {int(m[1]) for k in sd for m in [re.match(re.escape(prefix) + r"\.(\d+)\.", k)] if m}
    return len(found) if found == set(range(len(found))) else -1


def _divide(a: int, b: int, what: str, path: Path) -> int:
    if b <= 0 or a % b:
        raise VgenError(f"{path}: {what} ({a}) is not a multiple of {b}; not an official PVDM architecture")
    return a // b


def infer_autoencoder(sd: StateDict, path: Path, ddconfig: Optional[dict[str, Any]],
                      report: dict[str, Any]) -> tuple[PVDMAutoencoderConfig, int, int]:
    """(autoencoder config, frames, resolution) from an official ViTAutoencoder state_dict."""
    width, patch_dim = _shape(sd, _AE_MARK, path)
    p = math.isqrt(patch_dim // 3)
    if 3 * p * p != patch_dim:
        raise VgenError(f"{path}: patch embedding input {patch_dim} is not 3·p² for an integer patch size")
    assumed = report.setdefault("assumed", {})
    if "encoder.frame_rot_emb.inv_freqs" in sd:
        head_dim = 2 * sd["encoder.frame_rot_emb.inv_freqs"].numel()
    else:
        head_dim = TIMESFORMER_HEAD_DIM
        assumed["autoencoder.head_dim"] = f"{head_dim} (official default; no rotary buffers in the file)"
    depth = _count(sd, "encoder.layers")
    if depth <= 0:
        raise VgenError(f"{path} has no encoder.layers.N tensors; not an official PVDM autoencoder")
    if _count(sd, "decoder.layers") != depth:
        raise VgenError(f"{path}: decoder depth {_count(sd, 'decoder.layers')} differs from encoder depth {depth}; "
                        "vgen's PVDM autoencoder uses one depth for both")
    inner = _divide(_shape(sd, "encoder.layers.0.0.fn.to_qkv.weight", path)[0], 3, "TimeSformer qkv width", path)
    heads = _divide(inner, head_dim, "TimeSformer attention width", path)
    ff_hidden = _shape(sd, "encoder.layers.0.2.fn.net.3.weight", path)[1]
    proj_depth = _count(sd, "xy_quant_attn.layers")
    if proj_depth <= 0:
        raise VgenError(f"{path} has no xy_quant_attn.layers.N tensors; not an official PVDM autoencoder")
    proj_inner = _divide(_shape(sd, "xy_quant_attn.layers.0.0.fn.to_qkv.weight", path)[0], 3, "projection qkv", path)
    proj_head_dim = _divide(proj_inner, PROJ_HEADS, "projection attention width", path)
    assumed["autoencoder.proj_heads"] = f"{PROJ_HEADS} (hard-coded in the official code)"
    proj_mlp = _shape(sd, "xy_quant_attn.layers.0.1.fn.net.0.weight", path)[0]
    latent = _shape(sd, "pre_xy.weight", path)[0]
    frames = _shape(sd, "xy_pos_embedding", path)[1] - 1
    tokens = _shape(sd, "xt_pos_embedding", path)[1] - 1
    if _shape(sd, "yt_pos_embedding", path)[1] - 1 != tokens:
        raise VgenError(f"{path}: yt and xt position embeddings differ in length; vgen needs square frames")
    if _shape(sd, "to_pixel.1.weight", path) != (width, 3, p, p):
        raise VgenError(f"{path}: to_pixel.1.weight has shape {tuple(sd['to_pixel.1.weight'].shape)}, "
                        f"expected {(width, 3, p, p)}")
    resolution = tokens * p
    if ddconfig:
        said = {"channels": width, "timesteps": frames, "resolution": resolution}
        for key, value in said.items():
            if key in ddconfig and ddconfig[key] != value:
                raise VgenError(f"the config yaml says ddconfig.{key} = {ddconfig[key]}, the autoencoder weights "
                                f"say {value}")
    try:
        cfg = PVDMAutoencoderConfig(patch_size=p, width=width, depth=depth, heads=heads, head_dim=head_dim,
                                    ff_hidden=ff_hidden, proj_depth=proj_depth, proj_heads=PROJ_HEADS,
                                    proj_head_dim=proj_head_dim, proj_mlp=proj_mlp, latent_channels=latent,
                                    pixel_head="linear", proj_readout="first", rope_layout="official")
    except ValueError as exc:
        raise VgenError(f"{path}: the inferred autoencoder is not one vgen can build ({_one_line(exc)[:160]})") \
            from None
    return cfg, frames, resolution


def infer_unet(sd: StateDict, path: Path, unet_yaml: Optional[dict[str, Any]], report: dict[str, Any],
               prefix: str = "") -> tuple[PVDMUNetConfig, int, bool]:
    """(UNet config, latent channels, conditional?) from an official UNetModel state_dict (``prefix`` removed)."""

    def shape(key: str) -> torch.Size:
        return _shape(sd, key, path, prefix)

    mc, stem_in = shape(_UNET_MARK)[:2]
    latent = shape("out.2.weight")[0]
    if stem_in not in (latent, 2 * latent):
        raise VgenError(f"{path}: the input conv takes {stem_in} channels for a {latent}-channel latent")
    n_in, n_out = _count(sd, "input_blocks"), _count(sd, "output_blocks")
    ups = sorted({int(m[1]) for k in sd for m in [re.match(r"output_blocks\.(\d+)\.([1-9])\.in_layers\.", k)] if m})
    nrb = ups[0] if ups else n_out - 1
    levels = n_out // (nrb + 1) if nrb >= 0 else 0
    if nrb < 1 or levels < 1 or n_out != levels * (nrb + 1) or n_in != levels * (nrb + 1):
        raise VgenError(f"{path}: {n_in} input and {n_out} output blocks do not form an official PVDM UNet with "
                        "resblock_updown (the only layout vgen has)")
    if any(k.startswith("input_blocks.") and ".op." in k for k in sd):
        raise VgenError(f"{path}: conv downsampling (resblock_updown: False) is not supported; vgen's PVDM UNet "
                        "resamples inside ResBlocks")
    mults, attention = [], []
    for level in range(levels):
        first = 1 + level * (nrb + 1)
        out_ch = shape(f"input_blocks.{first}.0.in_layers.2.weight")[0]
        mults.append(_divide(out_ch, mc, f"level {level} width", path))
        if shape(f"input_blocks.{first}.0.emb_layers.1.weight")[0] != 2 * out_ch:
            raise VgenError(f"{path}: ResBlocks without scale-shift norm (use_scale_shift_norm: False) are not "
                            "supported")
        if f"input_blocks.{first}.1.qkv.weight" in sd:
            attention.append(level)
    unet_yaml = unet_yaml or {}
    if unet_yaml.get("num_head_channels", -1) not in (-1, None):
        raise VgenError("num_head_channels in the config yaml is not supported (vgen's PVDM UNet uses num_heads)")
    heads = unet_yaml.get("num_heads")
    if heads is None:
        heads = UNET_HEADS
        report.setdefault("assumed", {})["unet.num_heads"] = f"{UNET_HEADS} (the released config; pass the yaml " \
                                                              "to read it)"
    if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1:
        raise VgenError(f"unet_config.num_heads in the config yaml must be a positive integer, got {heads!r}")
    if unet_yaml.get("num_heads_upsample", -1) not in (-1, None, heads):
        raise VgenError("num_heads_upsample different from num_heads is not supported")
    yaml_checks = {"model_channels": mc, "num_res_blocks": nrb, "channel_mult": mults, "in_channels": latent,
                   "out_channels": latent, "attention_resolutions": sorted(2 ** level for level in attention)}
    for key, value in yaml_checks.items():
        said = unet_yaml.get(key)
        if key == "attention_resolutions" and isinstance(said, list):  # rates past the last level never occur
            said = sorted(rate for rate in said if isinstance(rate, int) and rate < 2 ** levels)
        elif isinstance(said, tuple):
            said = list(said)
        if said is not None and said != value:
            raise VgenError(f"the config yaml says unet_config.{key} = {said}, the diffusion weights say {value}")
    for level, mult in enumerate(mults):  # the joint attention after every block uses num_heads at every level
        _divide(mc * mult, heads, f"level {level} width for {heads} heads", path)
    try:
        cfg = PVDMUNetConfig(model_channels=mc, channel_mult=tuple(mults), num_res_blocks=nrb,
                             attention_levels=tuple(attention), num_heads=heads,
                             dropout=float(unet_yaml.get("dropout", 0.0) or 0.0), norm_eps=1e-5)
    except ValueError as exc:
        raise VgenError(f"{path}: the inferred UNet is not one vgen can build ({_one_line(exc)[:160]})") from None
    return cfg, latent, stem_in == 2 * latent


# ------------------------------------------------------------------------------------------ mapping tensors


def _reference(build: Callable[[], nn.Module]) -> dict[str, torch.Size]:
    """Names and shapes of a vgen network's state, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        net = build()
    return {k: v.shape for k, v in net.state_dict().items()}


def _map(sd: StateDict, reference: dict[str, torch.Size], name_of: Callable[[str], Optional[str]], path: Path,
         fix: Callable[[str, Tensor], Tensor], prefix: str = "") -> tuple[StateDict, set[str]]:
    """vgen state from the official one: every reference tensor taken (renamed, fixed) from ``sd``.

    Returns the state and the official names used. Missing tensors and shape mismatches raise.
    """
    out: StateDict = {}
    used: set[str] = set()
    for name, shape in reference.items():
        official = name_of(name)
        if official is None:
            raise AssertionError(f"no official name for vgen tensor {name}")  # a bug in the map, not user input
        if official not in sd:
            raise VgenError(f"{path} lacks {prefix + official!r}, which the inferred architecture needs; the file is "
                            "incomplete or from a different architecture")
        tensor = fix(name, sd[official].detach().to(torch.float32).contiguous())
        if tensor.shape != shape:
            raise VgenError(f"{path}: {prefix + official!r} has shape {tuple(sd[official].shape)}, the inferred "
                            f"architecture needs {tuple(shape)}")
        out[name] = tensor
        used.add(official)
    return out, used


def _unexpected(sd: StateDict, used: set[str], derived: set[str], path: Path, prefix: str = "") -> None:
    extra = sorted(set(sd) - used - derived)
    if extra:
        more = f" and {len(extra) - 1} more" if len(extra) > 1 else ""
        raise VgenError(f"{path} has unexpected tensor {prefix + extra[0]!r}{more}; not an official PVDM "
                        "architecture vgen knows")


def _check_rotary(sd: StateDict, cfg: PVDMAutoencoderConfig, path: Path) -> set[str]:
    """The official rotary buffers depend on head_dim alone: check them against the formula; they are dropped."""
    d = cfg.head_dim
    want = {"frame_rot_emb.inv_freqs": 1.0 / (10000 ** (torch.arange(0, d, 2).float() / d)),
            "image_rot_emb.scales": torch.logspace(0.0, math.log(10.0 / 2) / math.log(2), d // 4, base=2)}
    found = set()
    for part in ("encoder", "decoder"):
        for name, value in want.items():
            key = f"{part}.{name}"
            if key not in sd:
                continue
            got = sd[key].float()
            if got.shape != value.shape or not torch.allclose(got, value, rtol=1e-6, atol=0):
                raise VgenError(f"{path}: rotary buffer {key!r} differs from the official formula for head_dim {d}")
            found.add(key)
    return found


def _qkv_to_vgen(tensor: Tensor, heads: int) -> Tensor:
    """Official legacy qkv rows (head, q|k|v, d) -> vgen rows (q|k|v, head, d)."""
    rows = tensor.shape[0]
    ch = rows // (3 * heads)
    return tensor.reshape(heads, 3, ch, *tensor.shape[1:]).transpose(0, 1).reshape(rows, *tensor.shape[1:])


def _latent_length(frames: int, resolution: int, patch_size: int) -> int:
    from vgen.families.pvdm.planes import plane_sizes

    return plane_sizes(frames, resolution, patch_size).length


def _check_zeros(sd: StateDict, path: Path, channels: int, length: int, clip: str) -> None:
    """The null-condition buffer: all zeros, (1, C, L) with the autoencoder's L (the official UNet hard-codes 2048)."""
    zeros = sd.get("zeros")
    if zeros is None:
        return
    if zeros.ndim != 3 or zeros.shape[:2] != (1, channels) or zeros.any():
        raise VgenError(f"{path}: the 'zeros' buffer has shape {tuple(zeros.shape)}; the official one is an all-zero "
                        f"(1, {channels}, L)")
    if zeros.shape[2] != length:
        raise VgenError(f"the diffusion model works on latents of length {zeros.shape[2]}, the autoencoder makes "
                        f"length {length} ({clip}); they are not from the same PVDM run")


def _load_diffusion(path: Path, role: str, notes: list[str]) -> tuple[StateDict, str]:
    """The UNetModel state of a diffusion file, and the prefix its keys had."""
    sd = _strip_module(load_state_dict(path, role), notes, role)
    _expect_kind(sd, "unet", path)
    if not any(k.startswith(PREFIX) for k in sd):
        notes.append(f"{role}: keys have no {PREFIX!r} prefix (a bare UNetModel state_dict)")
        return sd, ""
    return {k.removeprefix(PREFIX): v for k, v in sd.items()}, PREFIX


def _released_unet(frames: int, tokens: int, notes: list[str]) -> PVDMUNetConfig:
    """The released UNet architecture, with as many levels as this clip's planes can halve (AE-only imports)."""
    unet = PRESETS["pvdm-l"].unet
    levels = len(unet.channel_mult)
    while levels > 1 and (frames % 2 ** (levels - 1) or tokens % 2 ** (levels - 1)):
        levels -= 1
    if levels < len(unet.channel_mult):
        notes.append(f"the released UNet has {len(unet.channel_mult)} levels; this clip's planes allow {levels}, "
                     "so the config's (untrained) UNet keeps that many")
    return unet.model_copy(update={"channel_mult": unet.channel_mult[:levels],
                                   "attention_levels": tuple(a for a in unet.attention_levels if a < levels),
                                   "norm_eps": 1e-5})


def _diffusion_config(tree: dict[str, Any]):
    """pvdm-l's diffusion settings (the released ones), with the yaml's beta range and step count when given, sampled
    with the official DDIM by default (``schedule_grid="official"``)."""
    diffusion = PRESETS["pvdm-l"].diffusion.model_copy(update={"schedule_grid": "official"})
    unet_params = _find(tree, "unet_config") is not None
    if not unet_params:
        return diffusion
    updates: dict[str, Any] = {}
    for key, field in (("linear_start", "beta_start"), ("linear_end", "beta_end")):
        if isinstance(_find(tree, key), (int, float)):
            updates[field] = float(_find(tree, key))
    params = _find(tree, "params") or {}
    if isinstance(params, dict) and isinstance(params.get("timesteps"), int):
        updates["timesteps"] = params["timesteps"]
    return diffusion.model_copy(update=updates)


def import_official(autoencoder: Path, unet: Optional[Path] = None, ema: Optional[Path] = None,
                    config_yaml: Optional[Path] = None) -> tuple[PVDMConfig, dict[str, StateDict], dict[str, Any]]:
    """Official PVDM checkpoint files -> (vgen config, {"autoencoder": state, "unet": state}, report).

    ``unet`` is the diffusion ``model_*.pth``; ``ema`` its ``ema_model_*.pth``, whose weights are used when
    given (either may come alone). Without both, only the autoencoder is imported and the config carries the
    released (untrained) UNet architecture. ``config_yaml``: the official diffusion or autoencoder yaml, for what
    the weights cannot show (UNet heads, beta schedule) and as a cross-check of what they can.
    The states load strictly into ``build_networks(config)``; the report says what was read, assumed and dropped.
    """
    from vgen.families.pvdm.autoencoder import PVDMAutoencoder
    from vgen.families.pvdm.unet import PVDMUNet

    autoencoder = Path(autoencoder)
    notes: list[str] = []
    report: dict[str, Any] = {"assumed": {}, "notes": notes}
    tree = read_config_yaml(Path(config_yaml)) if config_yaml is not None else {}
    report["config_yaml"] = str(config_yaml) if config_yaml is not None else None
    unet_yaml = _find(tree, "unet_config")
    unet_yaml = unet_yaml if isinstance(unet_yaml, dict) else {}

    ae_sd = _strip_module(load_state_dict(autoencoder, "autoencoder"), notes, "autoencoder")
    _expect_kind(ae_sd, "autoencoder", autoencoder)
    ae_cfg, frames, resolution = infer_autoencoder(ae_sd, autoencoder, _find(tree, "ddconfig"), report)
    length = _latent_length(frames, resolution, ae_cfg.patch_size)

    files = {role: Path(f) for role, f in (("unet", unet), ("ema", ema)) if f is not None}
    loaded, prefixes = {}, {}
    for role, path in files.items():
        loaded[role], prefixes[role] = _load_diffusion(path, "diffusion" if role == "unet" else "EMA", notes)
    if len(loaded) == 2:
        a, b = loaded["unet"], loaded["ema"]
        if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
            raise VgenError(f"EMA file {files['ema']} does not match diffusion file {files['unet']} (different "
                            "tensors or shapes); pass the EMA file of the same run")
    source = "ema" if "ema" in loaded else "unet" if "unet" in loaded else None

    if source is None:
        unet_cfg, conditional = _released_unet(frames, resolution // ae_cfg.patch_size, notes), True
    else:
        unet_cfg, latent, conditional = infer_unet(loaded[source], files[source], unet_yaml, report, prefixes[source])
        if latent != ae_cfg.latent_channels:
            raise VgenError(f"the diffusion model works on {latent}-channel latents, the autoencoder makes "
                            f"{ae_cfg.latent_channels}; they are not from the same PVDM run")
        _check_zeros(loaded[source], files[source], latent, length, f"{frames} frames at {resolution}x{resolution}")
    try:
        config = PVDMConfig(name="pvdm-official", frames=frames, resolution=resolution, fps=PRESETS["pvdm-l"].fps,
                            diffusion=_diffusion_config(tree), autoencoder=ae_cfg, unet=unet_cfg)
    except ValueError as exc:
        raise VgenError(f"the imported PVDM model does not fit vgen's geometry rules ({_one_line(exc)[:200]})") \
            from None
    report["assumed"]["fps"] = f"{config.fps} (official checkpoints do not store it)"

    ae_state, used = _map(ae_sd, _reference(lambda: PVDMAutoencoder(ae_cfg, frames, resolution)), _ae_name,
                          autoencoder, lambda _name, t: t)
    derived = _check_rotary(ae_sd, ae_cfg, autoencoder) | ({"coords"} & set(ae_sd))
    _unexpected(ae_sd, used, derived, autoencoder)
    report["autoencoder"] = {"file": str(autoencoder), "tensors": len(ae_state),
                             "parameters": sum(t.numel() for t in ae_state.values()), "dropped": sorted(derived)}
    states = {"autoencoder": ae_state}
    report["options"] = {"autoencoder.proj_readout": ae_cfg.proj_readout,
                         "autoencoder.rope_layout": ae_cfg.rope_layout}
    if source is None:
        report["unet"] = None
        notes.append("no diffusion file: only the autoencoder is imported")
        return config, states, report

    path, sd = files[source], loaded[source]
    heads = unet_cfg.num_heads
    legacy = not unet_yaml.get("use_new_attention_order", False)

    def fix(name: str, tensor: Tensor) -> Tensor:
        if legacy and ".qkv." in name:
            tensor = _qkv_to_vgen(tensor, heads)
        if name == "stem.weight" and not conditional:  # unconditional model: the condition gets zero weights
            tensor = torch.cat([tensor, torch.zeros_like(tensor)], dim=1)
        return tensor

    if "label_emb.weight" in sd:
        raise VgenError(f"{path}: class-conditional official models (label_emb) are not supported")
    unet_state, used = _map(sd, _reference(lambda: PVDMUNet(config)), _unet_name, path, fix, prefixes[source])
    derived = {"zeros"} & set(sd)
    _unexpected(sd, used, derived, path, prefixes[source])
    dropped = sorted(prefixes[source] + k for k in derived)
    if source == "ema" and "unet" in loaded:
        dropped.append(f"all of {files['unet']} (the EMA weights are used)")
    if not conditional:
        notes.append("unet: unconditional model; the previous-clip condition gets zero weights")
    report["unet"] = {"file": str(path), "weights": "ema" if source == "ema" else "main", "tensors": len(unet_state),
                      "parameters": sum(t.numel() for t in unet_state.values()), "dropped": dropped,
                      "qkv_reordered": legacy}
    report["options"]["unet.norm_eps"] = unet_cfg.norm_eps
    states["unet"] = unet_state
    return config, states, report
