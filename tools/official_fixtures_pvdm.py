"""Build the official-PVDM parity fixtures from the official code (sihyun-yu/PVDM), for tests/test_official_pvdm.py.

    python tools/official_fixtures_pvdm.py --official /path/to/PVDM --out tests/fixtures/official/pvdm

Imports the official model classes from ``--official`` (a checkout of the PVDM repository; needs torch and einops,
nothing is downloaded), builds them at small sizes with fixed seeds and writes, in the official file formats
(``torch.save`` of a bare ``state_dict()``):

- ``ae.pth``: a ViTAutoencoder at 16 frames x 32² (4x4 tokens) with narrow, shallow TimeSformers and projections;
  ``ae_io.safetensors``: a fixed video (uint8 pixels, fed as pixels/127.5 - 1 as the official code does), its
  latent (the official ``extract``) and the reconstruction of that latent (``decode_from_sample``, frames laid out
  (B, 3, T, H, W));
- ``ae_unet.pth``: a second, tiny ViTAutoencoder at 16 x 256² (32x32 tokens), the geometry the official UNet
  hard-codes (it slices 32x32 and 16x32 planes out of a 2048-long latent); only its weights are used;
- ``model.pth`` / ``ema_model.pth``: a narrow two-level UNetModel wrapped in DiffusionWrapper (keys
  ``diffusion_model.*``, with the ``zeros`` buffer), and its EMA after a few official LitEma updates;
  ``unet_io.safetensors``: x_t, the previous-clip latent, t, eps of the EMA model with and without the condition
  and of the main model with it;
- ``diffusion.yaml``: the official diffusion config layout with this UNet's settings (heads are not in the weights);
- ``fixtures.json``: how everything was built.

Shrinking: the official code fixes several sizes in its constructors (TimeSformer depth 8, heads 8 x 64; axis
projections of depth 4 with a 512-wide MLP; GroupNorm with 32 groups). The script narrows them by swapping the
constructors the official modules call for ones with smaller arguments: the official classes still build and run
everything. GroupNorm uses min(32, channels) groups, shrunk to a divisor of the channels: the official layer for
every width the official code accepts (multiples of 32), and the only way to go below 32 channels.
Every parameter gets a little noise on top of the official initialisation, so the zero-initialised output
layers are not zero and every tensor matters.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

SEED = 1234
AE_SMALL = {"embed_dim": 4, "ddconfig": {"double_z": False, "channels": 16, "resolution": 32, "timesteps": 16,
                                          "skip": 1, "in_channels": 3, "out_ch": 3, "num_res_blocks": 2,
                                          "attn_resolutions": [], "splits": 1}}
AE_SMALL_SHRINK = {"depth": 2, "heads": 2, "dim_head": 8, "proj_depth": 2, "proj_mlp": 24}
AE_UNET = {"embed_dim": 4, "ddconfig": {**AE_SMALL["ddconfig"], "resolution": 256}}
AE_UNET_SHRINK = {"depth": 1, "heads": 1, "dim_head": 8, "proj_depth": 1, "proj_mlp": 8}
UNET = {"image_size": 32, "in_channels": 4, "out_channels": 4, "model_channels": 8, "attention_resolutions": [1],
        "num_res_blocks": 1, "channel_mult": [1, 2], "num_heads": 2, "use_scale_shift_norm": True,
        "resblock_updown": True, "cond_model": True}
TIMESTEPS = [17, 803]

DIFFUSION_YAML = """\
model:
  cond_model: True
  params:
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 1000
    channels: 4
    unet_config:
      image_size: 32
      in_channels: 4
      out_channels: 4
      model_channels: 8
      attention_resolutions: [1]
      num_res_blocks: 1
      channel_mult: [1,2]   # fixture size
      num_heads: 2
      use_scale_shift_norm: True
      resblock_updown: True
      cond_model: True
"""


def official_modules(root: Path):
    """The official modules, imported from ``root`` (the repository's own package layout)."""
    sys.path.insert(0, str(root))
    import models.autoencoder.autoencoder_vit as ae_mod
    import models.ddpm.diffusionmodules as dm_mod
    import models.ddpm.unet as unet_mod
    from models.ema import LitEma

    return ae_mod, unet_mod, dm_mod, LitEma


def shrunk_autoencoder(ae_mod, spec: dict, shrink: dict):
    """An official ViTAutoencoder whose TimeSformers and projections get smaller constructor arguments."""
    enc, dec, transformer = ae_mod.TimeSformerEncoder, ae_mod.TimeSformerDecoder, ae_mod.Transformer
    sizes = {"depth": shrink["depth"], "heads": shrink["heads"], "dim_head": shrink["dim_head"]}
    ae_mod.TimeSformerEncoder = lambda **kw: enc(**{**kw, **sizes})
    ae_mod.TimeSformerDecoder = lambda **kw: dec(**{**kw, **sizes})
    ae_mod.Transformer = lambda dim, depth, heads, dim_head, mlp_dim: transformer(
        dim, shrink["proj_depth"], heads, dim_head, shrink["proj_mlp"])
    try:
        return ae_mod.ViTAutoencoder(spec["embed_dim"], dict(spec["ddconfig"]))
    finally:
        ae_mod.TimeSformerEncoder, ae_mod.TimeSformerDecoder, ae_mod.Transformer = enc, dec, transformer


def narrow_group_norm(unet_mod, dm_mod) -> None:
    def normalization(channels: int):
        groups = min(32, channels)
        while channels % groups:
            groups -= 1
        return dm_mod.GroupNorm32(groups, channels)

    unet_mod.normalization = normalization


def jitter(module: torch.nn.Module, generator: torch.Generator, scale: float = 0.05) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * scale)


def save_pth(state: dict, path: Path) -> None:
    torch.save({k: v.detach().clone().contiguous() for k, v in state.items()}, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", type=Path, required=True, help="checkout of github.com/sihyun-yu/PVDM")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if not (args.official / "models" / "autoencoder" / "autoencoder_vit.py").is_file():
        ap.error(f"{args.official} is not a checkout of the official PVDM code "
                 "(no models/autoencoder/autoencoder_vit.py)")
    torch.set_num_threads(1)
    ae_mod, unet_mod, dm_mod, LitEma = official_modules(args.official.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)

    # Autoencoder at 16 x 32², run on a fixed video.
    torch.manual_seed(SEED)
    ae = shrunk_autoencoder(ae_mod, AE_SMALL, AE_SMALL_SHRINK).eval()
    jitter(ae, gen)
    pixels = torch.randint(0, 256, (1, 3, 16, 32, 32), generator=gen, dtype=torch.uint8)
    video = pixels.float() / 127.5 - 1  # the official input scaling
    with torch.no_grad():
        latent = ae.extract(video)
        recon = ae.decode_from_sample(latent)  # (B*T, 3, H, W)
    recon = recon.reshape(1, 16, 3, 32, 32).permute(0, 2, 1, 3, 4).contiguous()
    save_pth(ae.state_dict(), args.out / "ae.pth")
    save_file({"pixels": pixels, "latent": latent.contiguous(), "recon": recon}, args.out / "ae_io.safetensors")

    # Autoencoder at the UNet's geometry (weights only).
    torch.manual_seed(SEED + 1)
    ae_unet = shrunk_autoencoder(ae_mod, AE_UNET, AE_UNET_SHRINK)
    jitter(ae_unet, gen)
    save_pth(ae_unet.state_dict(), args.out / "ae_unet.pth")

    # Diffusion UNet (DiffusionWrapper keys) and its EMA.
    narrow_group_norm(unet_mod, dm_mod)
    torch.manual_seed(SEED + 2)
    model = unet_mod.DiffusionWrapper(unet_mod.UNetModel(**UNET)).eval()
    jitter(model, gen)
    ema_model = copy.deepcopy(model)
    ema = LitEma(ema_model)
    for _ in range(3):  # a few "training steps": move the weights, let the EMA follow
        jitter(model, gen, 0.02)
        ema(model)
    ema.copy_to(ema_model)
    save_pth(model.state_dict(), args.out / "model.pth")
    save_pth(ema_model.state_dict(), args.out / "ema_model.pth")

    x = torch.randn((2, 4, 2048), generator=gen)
    cond = torch.rand((2, 4, 2048), generator=gen) * 2 - 1
    t = torch.tensor(TIMESTEPS)
    io = {"x": x, "cond": cond, "t": t}
    with torch.no_grad():
        for name, net in (("main", model), ("ema", ema_model)):
            io[f"eps_cond_{name}"] = net(x, cond, t).contiguous()
        io["eps_uncond_ema"] = ema_model(x, None, t).contiguous()
    save_file(io, args.out / "unet_io.safetensors")
    (args.out / "diffusion.yaml").write_text(DIFFUSION_YAML)

    meta = {"seed": SEED, "autoencoder": {**AE_SMALL, "shrink": AE_SMALL_SHRINK},
            "autoencoder_unet_geometry": {**AE_UNET, "shrink": AE_UNET_SHRINK}, "unet": UNET,
            "group_norm": "min(32, channels) groups, down to a divisor", "jitter": 0.05, "ema_updates": 3,
            "timesteps": TIMESTEPS, "torch": torch.__version__}
    (args.out / "fixtures.json").write_text(json.dumps(meta, indent=1) + "\n")
    for f in sorted(args.out.iterdir()):
        print(f"{f.name:22s} {f.stat().st_size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
