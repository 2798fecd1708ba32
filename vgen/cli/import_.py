"""``vgen import pvdm|lvdm``: the papers' released checkpoints as vgen models in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vgen.cli._common import emit_json, log
from vgen.cli._outputs import check_json_stdout
from vgen.cli._types import finite_float

app = typer.Typer(
    help="Import official checkpoints (PVDM, LVDM) into the model store. Files are read with "
         "torch.load(weights_only=True) and a small allow-list for Lightning checkpoints: never a full unpickle.",
    no_args_is_help=True, context_settings={"help_option_names": ["-h", "--help"]}, rich_markup_mode="rich",
)
NameOpt = Annotated[str, typer.Option("--name", help="Store name of the imported model.", show_default=False)]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", "-y", help="Replace a stored model of that name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the import report as JSON on stdout.")]
YamlOpt = Annotated[Optional[Path], typer.Option("--config", help="The official yaml, for what tensor shapes do not say.")]


def _run(family: str, name: str, overwrite: bool, json_out: bool, **files: object) -> None:
    from vgen.io.official import import_official, weights_used

    check_json_stdout(json_out)
    target, report = import_official(family, name, overwrite=overwrite, **files)
    log(f"imported {family} as {name!r} ({target}); diffusion weights: {weights_used(report)}; "
        f"sample it with: vgen sample --model {name} (the paper's DDIM sampler by default: --schedule-grid official)")
    if json_out:
        emit_json({"name": name, "path": str(target), **report})


@app.command("pvdm")
def pvdm_cmd(
    autoencoder: Annotated[Path, typer.Option("--autoencoder", help="The autoencoder .pth (a state_dict).", show_default=False)],
    name: NameOpt,
    unet: Annotated[Optional[Path], typer.Option("--unet", help="The diffusion .pth (keys diffusion_model.*).")] = None,
    ema: Annotated[Optional[Path], typer.Option("--ema", help="The EMA diffusion weights (ema_model_*.pth); used when given.")] = None,
    config: YamlOpt = None,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import PVDM (sihyun-yu/PVDM) checkpoints, e.g. UCF-101 or SkyTimelapse, 16 frames at 256².

    [bold]Example[/bold]

      vgen import pvdm --autoencoder ucf_ae.pth --unet ucf_model.pth --ema ema_model.pth --name pvdm-ucf101
    """
    if unet is None and ema is None:
        from vgen.errors import VgenError

        raise VgenError("pass --unet and/or --ema: the diffusion weights (model_*.pth, ema_model_*.pth) to import")
    _run("pvdm", name, overwrite, json_out, autoencoder=autoencoder, unet=unet, ema=ema, config_yaml=config)


@app.command("lvdm")
def lvdm_cmd(
    autoencoder: Annotated[Path, typer.Option("--autoencoder", help="The autoencoder .ckpt (Lightning).", show_default=False)],
    unet: Annotated[Path, typer.Option("--unet", help="The short-video diffusion .ckpt (Lightning).", show_default=False)],
    name: NameOpt,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="sky, taichi or ucf: the latent scale/shift of its yaml.")] = None,
    scale: Annotated[Optional[float], typer.Option("--scale", parser=finite_float, help="Latent scale_factor (instead of --dataset).")] = None,
    shift: Annotated[Optional[float], typer.Option("--shift", parser=finite_float, help="Latent shift_factor (instead of --dataset).")] = None,
    config: YamlOpt = None,
    overwrite: OverwriteOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Import LVDM (YingqingHe/LVDM) short-video checkpoints (SkyTimelapse, Taichi).

    [bold]Example[/bold]

      vgen import lvdm --autoencoder ae_sky.ckpt --unet short_sky.ckpt --dataset sky --name lvdm-sky
    """
    _run("lvdm", name, overwrite, json_out, autoencoder=autoencoder, unet=unet, dataset=dataset, scale=scale,
         shift=shift, config_yaml=config)
