"""Build small official-LVDM checkpoints and their reference outputs for tests/test_official_lvdm.py (issue #13).

    python tools/official_fixtures_lvdm.py --official /path/to/LVDM --out tests/fixtures/official/lvdm

``--official`` is a checkout of YingqingHe/LVDM; its classes are imported from there (nothing of it is copied). Its
Lightning modules need ``pytorch_lightning`` (and einops) importable: use a separate environment, never vgen's
dependencies. Modules the network numerics never touch (torchvision's ``make_grid``, the image-saving helpers that
import cv2) are replaced by empty stand-ins when they are missing.

What it writes, from one seed:

* ``ae_small.ckpt``: an ``AutoencoderKL`` state dict as Lightning 1.4 saves it (``state_dict`` with the conv-weight
  aliases, small ``loss.*`` tensors named like the LPIPS/discriminator ones, ``callbacks`` keyed by the
  ``ModelCheckpoint`` class, ``optimizer_states``, ``epoch``, ...).
* ``short_small.ckpt``: an unconditional ``LatentDiffusion`` (the released short-video layout): ``model.*``,
  ``model_ema.*`` (EMA weights that differ from the raw ones), ``first_stage_model.*`` (the autoencoder above), the
  schedule buffers.
* ``pred_small.ckpt``: a ``FrameInterpPredLatentDiffusion`` with ``concat-adm-mask`` conditioning (the long-video
  prediction layout: mask channel, ``label_emb`` of the noise level s), without EMA and, to save space, without its
  ``first_stage_model.*`` copy.
* ``lvdm_small.yaml``: the official config layout with these small settings (strides and latent scale/shift).
* ``*_io.safetensors``: fixed inputs and the official outputs: autoencoder moments, decode of a fixed latent
  (raw and through ``LatentDiffusion.decode``), ``get_first_stage_encoding`` of the posterior mode; UNet eps for fixed
  x_t, t with the EMA and the raw weights; the prediction model's eps through ``apply_model`` with the mask, s and the
  noised condition latents as the official model takes them.
* ``meta.json``: seed, group count, sha256 of the official sources used.

To stay small the networks are tiny and the official GroupNorm group count (hard-coded 32) is set to 4 through the
official modules' own norm factories (same classes and epsilons); vgen's ``norm_groups`` reproduces it. Every
parameter is perturbed away from its initialisation (zero-initialised heads included) so no path is trivially zero.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import json
import sys
import types
from pathlib import Path

import torch

GROUPS = 4
SCALE, SHIFT = 0.33422927, 1.4606637  # the Sky config's values
AE_PARAMS = {"n_hiddens": 4, "downsample": [2, 4, 4], "image_channel": 3, "norm_type": "group",
             "padding_type": "replicate", "double_z": True, "z_channels": 4}
UNET_PARAMS = {"image_size": 8, "in_channels": 4, "out_channels": 4, "model_channels": 8,
               "attention_resolutions": [2], "num_res_blocks": 1, "channel_mult": [1, 2], "num_heads": 2,
               "use_temporal_transformer": False, "use_checkpoint": True, "legacy": False, "kernel_size_t": 1,
               "padding_t": 0, "temporal_length": 2, "use_relative_position": True, "use_scale_shift_norm": True}
SCHEDULE = {"linear_start": 0.0015, "linear_end": 0.0155, "timesteps": 1000}
SOURCES = ("lvdm/models/ddpm3d.py", "lvdm/models/autoencoder3d.py", "lvdm/models/modules/aemodules3d.py",
           "lvdm/models/modules/openaimodel3d.py", "lvdm/models/modules/attention_temporal.py",
           "lvdm/models/modules/util.py", "lvdm/models/modules/ema.py", "lvdm/models/modules/distributions.py")


def stub_missing_torchvision() -> None:
    """An empty ``torchvision.utils.make_grid`` when torchvision is not installed (the official modules import it for
    image logging only)."""
    for name in ("torchvision", "torchvision.utils"):
        try:
            importlib.import_module(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.make_grid = lambda *args, **kwargs: None
            sys.modules[name] = stub


def import_official(root: Path):
    """The official ddpm3d module and the ModelCheckpoint class, with the norm factories set to GROUPS groups."""
    try:
        from pytorch_lightning.callbacks import ModelCheckpoint  # before any stand-in below is installed
    except ImportError:
        sys.exit("pytorch_lightning is needed to import the official Lightning modules (use a separate venv)")
    stub_missing_torchvision()
    sys.path.insert(0, str(root))
    try:
        importlib.import_module("lvdm.utils.saving_utils")
    except ImportError:
        stub = types.ModuleType("lvdm.utils.saving_utils")
        stub.log_txt_as_img = lambda *args, **kwargs: None
        sys.modules["lvdm.utils.saving_utils"] = stub
    ddpm3d = importlib.import_module("lvdm.models.ddpm3d")
    aemodules3d = importlib.import_module("lvdm.models.modules.aemodules3d")
    openaimodel3d = importlib.import_module("lvdm.models.modules.openaimodel3d")
    attention_temporal = importlib.import_module("lvdm.models.modules.attention_temporal")
    util = importlib.import_module("lvdm.models.modules.util")
    aemodules3d.Normalize = lambda channels, norm_type="group": torch.nn.GroupNorm(GROUPS, channels, eps=1e-6)
    openaimodel3d.normalization = attention_temporal.normalization = lambda ch: util.GroupNorm32(GROUPS, ch)
    return ddpm3d, ModelCheckpoint


def configs() -> tuple[dict, dict, dict]:
    ae = {"target": "lvdm.models.autoencoder3d.AutoencoderKL", "params": {
        "embed_dim": 4, "lossconfig": {"target": "torch.nn.Identity"},
        "ddconfig": {"double_z": True, "z_channels": 4,
                     "encoder": {"target": "lvdm.models.modules.aemodules3d.Encoder", "params": dict(AE_PARAMS)},
                     "decoder": {"target": "lvdm.models.modules.aemodules3d.Decoder", "params": {
                         "n_hiddens": AE_PARAMS["n_hiddens"], "upsample": AE_PARAMS["downsample"], "z_channels": 4,
                         "image_channel": 3, "norm_type": "group"}}}}}
    unet = {"target": "lvdm.models.modules.openaimodel3d.UNetModel", "params": dict(UNET_PARAMS)}
    pred = copy.deepcopy(unet)
    pred["target"] = "lvdm.models.modules.openaimodel3d.FrameInterpPredUNet"
    pred["params"].update(in_channels=5, num_classes=251)
    return ae, unet, pred


@torch.no_grad()
def perturb(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Move every parameter off its initialisation by about its own init scale."""
    for p in module.parameters():
        scale = 0.5 / p[0].numel() ** 0.5 if p.dim() >= 2 else 0.1
        p.add_(torch.randn(p.shape, generator=generator) * scale)


def lightning_checkpoint(state_dict: dict, checkpoint_class: type, generator: torch.Generator, step: int) -> dict:
    """What Lightning 1.4's dump_checkpoint writes (weights_only=False), with a tiny optimizer state."""
    exp_avg = torch.randn(3, generator=generator)
    return {
        "epoch": step // 100, "global_step": step, "pytorch-lightning_version": "1.4.2",
        "state_dict": state_dict,
        "callbacks": {checkpoint_class: {"monitor": None, "best_model_score": None, "best_model_path": "",
                                         "current_score": None, "dirpath": "/logs/checkpoints"}},
        "optimizer_states": [{"state": {0: {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg.square()}},
                              "param_groups": [{"lr": 6e-5, "betas": (0.5, 0.9), "eps": 1e-8, "weight_decay": 0,
                                                "amsgrad": False, "params": [0]}]}],
        "lr_schedulers": [],
    }


def loss_tensors(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Small stand-ins for the LPIPSWithDiscriminator weights an official autoencoder file carries."""
    shapes = {"loss.logvar": (), "loss.perceptual_loss.scaling_layer.shift": (1, 3, 1, 1),
              "loss.perceptual_loss.net.slice1.0.weight": (4, 3, 3, 3),
              "loss.perceptual_loss.lin0.model.1.weight": (1, 4, 1, 1),
              "loss.discriminator.main.0.weight": (4, 3, 4, 4), "loss.discriminator.main.0.bias": (4,),
              "loss.discriminator.main.3.running_mean": (4,)}
    tensors = {name: torch.randn(shape, generator=generator) for name, shape in shapes.items()}
    tensors["loss.discriminator.main.3.num_batches_tracked"] = torch.tensor(5000)
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of YingqingHe/LVDM")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from safetensors.torch import save_file
    import yaml

    ddpm3d, checkpoint_class = import_official(args.official)
    ae_cfg, unet_cfg, pred_cfg = configs()
    common = dict(first_stage_key="image", image_size=UNET_PARAMS["image_size"], video_length=4, channels=4,
                  loss_type="l1", cond_stage_trainable=False, concat_mode=False, scale_by_std=False,
                  scale_factor=SCALE, shift_factor=SHIFT, encoder_type="3d", **SCHEDULE)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)

    short = ddpm3d.LatentDiffusion(first_stage_config=ae_cfg, cond_stage_config="__is_unconditional__",
                                   unet_config=unet_cfg, **common).eval()
    perturb(short.model, g)
    perturb(short.first_stage_model, g)
    with torch.no_grad():  # EMA weights near, but not equal to, the raw ones
        for name, buffer in short.model_ema.named_buffers():
            if name not in ("decay", "num_updates"):
                buffer.add_(torch.randn(buffer.shape, generator=g) * 0.05)
        short.model_ema.num_updates.fill_(1234)
    ae = short.first_stage_model

    torch.manual_seed(args.seed + 1)
    pred = ddpm3d.FrameInterpPredLatentDiffusion(
        first_stage_config=ae_cfg, cond_stage_config=None, unet_config=pred_cfg, conditioning_key="concat-adm-mask",
        noisy_cond=True, max_noise_level=250, rand_temporal_mask=True, p_interp=0.0, p_pred=0.5, n_prevs=[1],
        use_ema=False, **common).eval()
    perturb(pred.model, g)

    video = torch.randn(1, 3, 4, 16, 16, generator=g).clamp(-1, 1)
    latent = torch.randn(1, 4, 2, 4, 4, generator=g)
    x_t = torch.randn(2, 4, 4, 8, 8, generator=g)
    t = torch.tensor([3, 517])
    mask = torch.zeros(2, 1, 4, 8, 8)
    mask[:, :, 0] = 1  # prediction: the first latent is given
    noisy_cond = torch.randn(2, 4, 1, 8, 8, generator=g)
    s = torch.tensor([7, 200])
    with torch.no_grad():
        posterior = ae.encode(video)
        ae_io = {"video": video, "latent": latent, "moments": posterior.parameters, "decoded": ae.decode(latent),
                 "decoded_norm": short.decode(latent),
                 "encoded_norm": short.get_first_stage_encoding(posterior.mode())}
        eps_model = short.apply_model(x_t.clone(), t, None)
        with short.ema_scope():
            eps_ema = short.apply_model(x_t.clone(), t, None)
        short_io = {"x_t": x_t, "t": t, "eps_ema": eps_ema, "eps_model": eps_model}
        pred_io = {"x_t": x_t, "t": t, "mask": mask, "s": s, "noisy_cond": noisy_cond,
                   "eps": pred.apply_model(x_t.clone(), t, {"mask": mask, "s": s, "noisy_cond": noisy_cond})}

    args.out.mkdir(parents=True, exist_ok=True)
    ae_state = {**ae.state_dict(), **loss_tensors(g)}
    torch.save(lightning_checkpoint(ae_state, checkpoint_class, g, 500), args.out / "ae_small.ckpt")
    torch.save(lightning_checkpoint(short.state_dict(), checkpoint_class, g, 1234), args.out / "short_small.ckpt")
    pred_state = {k: v for k, v in pred.state_dict().items() if not k.startswith("first_stage_model.")}
    torch.save(lightning_checkpoint(pred_state, checkpoint_class, g, 300), args.out / "pred_small.ckpt")
    for name, tensors in (("ae_io", ae_io), ("short_io", short_io), ("pred_io", pred_io)):
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(args.out / f"{name}.safetensors"))
    model_yaml = {"model": {"target": "lvdm.models.ddpm3d.LatentDiffusion", "params": {
        **SCHEDULE, "image_size": UNET_PARAMS["image_size"], "video_length": 4, "channels": 4,
        "scale_factor": SCALE, "shift_factor": SHIFT, "cond_stage_config": "__is_unconditional__",
        "encoder_type": "3d", "unet_config": unet_cfg, "first_stage_config": ae_cfg}}}
    (args.out / "lvdm_small.yaml").write_text(yaml.safe_dump(model_yaml, sort_keys=False))
    meta = {"seed": args.seed, "norm_groups": GROUPS, "scale_factor": SCALE, "shift_factor": SHIFT,
            "official_sources_sha256": {name: hashlib.sha256((args.official / name).read_bytes()).hexdigest()
                                        for name in SOURCES}}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    for path in sorted(args.out.iterdir()):
        print(f"{path.stat().st_size:>9}  {path}")


if __name__ == "__main__":
    main()
