"""Importing official LVDM checkpoints (issue #13): parity with the official code on committed fixtures.

The fixtures (tests/fixtures/official/lvdm, written by tools/official_fixtures_lvdm.py from the official classes) are
small Lightning-style checkpoints plus the official outputs for fixed inputs. No official code runs here. They use 4
GroupNorm groups instead of the official 32 to stay small (meta.json), so the tests set ``norm_groups`` to match.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vgen.errors import VgenError
from vgen.families import capabilities
from vgen.families.lvdm.autoencoder import LVDMAutoencoder
from vgen.families.lvdm.config import LVDMConfig
from vgen.families.lvdm.official import DATASETS, LightningCallbackKey, import_official, load_checkpoint
from vgen.families.lvdm.unet import LVDMUNet
from vgen.models import build_networks

FIXTURES = Path(__file__).parent / "fixtures" / "official" / "lvdm"
AE, SHORT, PRED, YAML = (FIXTURES / name for name in ("ae_small.ckpt", "short_small.ckpt", "pred_small.ckpt",
                                                      "lvdm_small.yaml"))
GROUPS = json.loads((FIXTURES / "meta.json").read_text())["norm_groups"]
TOLERANCE = 1e-5

pytest.importorskip("yaml")


def small_groups(config: LVDMConfig, autoencoder: dict | None = None, unet: dict | None = None) -> LVDMConfig:
    """The imported config with the fixtures' group count and any option overrides."""
    return config.model_copy(update={
        "autoencoder": config.autoencoder.model_copy(update={"norm_groups": GROUPS, **(autoencoder or {})}),
        "unet": config.unet.model_copy(update={"norm_groups": GROUPS, **(unet or {})}),
    })


@pytest.fixture(scope="module")
def short():
    return import_official(AE, SHORT, config_yaml=YAML)


@pytest.fixture(scope="module")
def pred():
    return import_official(AE, PRED, config_yaml=YAML)


def autoencoder_outputs(config: LVDMConfig, state: dict) -> dict[str, torch.Tensor]:
    io = load_file(str(FIXTURES / "ae_io.safetensors"))
    ae = LVDMAutoencoder(config.autoencoder).eval()
    ae.load_state_dict(state)
    with torch.no_grad():
        posterior = ae.posterior(io["video"])
        mean, logvar = io["moments"].chunk(2, dim=1)
        return {
            "posterior mean": (posterior.mean - mean).abs().max(),
            "posterior logvar": (posterior.logvar - logvar.clamp(-30, 20)).abs().max(),
            "decode": (ae.decode_raw(io["latent"]) - io["decoded"]).abs().max(),
            "decode (scaled latent)": (ae.decode(io["latent"]) - io["decoded_norm"]).abs().max(),
            "encode (scaled latent)": (ae.encode(io["video"]) - io["encoded_norm"]).abs().max(),
        }


def short_eps_error(config: LVDMConfig, state: dict, reference: str = "eps_ema") -> float:
    io = load_file(str(FIXTURES / "short_io.safetensors"))
    unet = LVDMUNet(config).eval()
    unet.load_state_dict(state)
    with torch.no_grad():
        return (unet(io["x_t"], io["t"]) - io[reference]).abs().max().item()


def pred_eps_error(config: LVDMConfig, state: dict, strict: bool = True) -> float:
    """The official apply_model writes the noised condition latents into x_t and concatenates the mask."""
    io = load_file(str(FIXTURES / "pred_io.safetensors"))
    unet = LVDMUNet(config).eval()
    unet.load_state_dict(state, strict=strict)
    mask = io["mask"][:, :, :, :1, :1]
    given = io["noisy_cond"].shape[2]
    x = torch.cat([io["noisy_cond"], io["x_t"][:, :, given:]], dim=2)
    with torch.no_grad():
        return (unet(x, io["t"], mask=mask, s=io["s"]) - io["eps"]).abs().max().item()


# ---------------------------------------------------------------------------------------------------- parity


def test_autoencoder_matches_official(short):
    config, states, _ = short
    for name, error in autoencoder_outputs(small_groups(config), states["autoencoder"]).items():
        assert error <= TOLERANCE, name


def test_unconditional_unet_matches_official_ema_weights(short):
    config, states, report = short
    assert short_eps_error(small_groups(config), states["unet"]) <= TOLERANCE
    assert short_eps_error(small_groups(config), states["unet"], "eps_model") > 1e-3  # EMA, not the raw weights
    assert report["unet"]["weights"] == "model_ema" and report["unet"]["ema_updates"] == 1234


def test_prediction_unet_matches_official(pred):
    config, states, report = pred
    assert config.unet.mask_channel and config.unet.noise_level_embedding == "class"
    assert config.unet.max_noise_level == 250
    assert pred_eps_error(small_groups(config), states["unet"]) <= TOLERANCE
    assert report["unet"]["weights"] == "model.diffusion_model"  # no EMA in this file


@pytest.mark.parametrize("option,vgen_default", [("norm_eps", 1e-6), ("block_norm", "frame"),
                                                 ("temporal_norm", "frame"), ("relative_position", "shaw")])
def test_each_unet_option_is_needed(short, pred, option, vgen_default):
    # norm_eps is the subtlest: about 5e-5 here (1e-5 vs 1e-6 against the feature variances); the others are O(0.1)
    for (config, states, _), error in ((short, short_eps_error), (pred, pred_eps_error)):
        assert error(small_groups(config, unet={option: vgen_default}), states["unet"]) > 3 * TOLERANCE


def test_decoder_stride_option_is_needed(short):
    config, states, _ = short
    errors = autoencoder_outputs(small_groups(config, autoencoder={"decoder_strides": "mirrored"}),
                                 states["autoencoder"])
    assert errors["decode"] > 1e-2 and errors["posterior mean"] <= TOLERANCE  # the encoder is unaffected


def test_conditioning_options_are_needed(short, pred):
    config, states, _ = short
    vgen_conditioning = small_groups(config, unet={"mask_channel": True, "noise_level_embedding": "per_frame"})
    with pytest.raises(RuntimeError):  # an extra input channel and a second embedding MLP the file does not have
        LVDMUNet(vgen_conditioning).load_state_dict(states["unet"])
    config, states, _ = pred
    with pytest.raises(RuntimeError):
        LVDMUNet(small_groups(config, unet={"noise_level_embedding": "per_frame"})).load_state_dict(states["unet"])
    assert pred_eps_error(small_groups(config, unet={"noise_level_embedding": "none"}), states["unet"],
                          strict=False) > 10 * TOLERANCE


def test_options_default_to_vgen_layout():
    unet, autoencoder = LVDMConfig(name="x", frames=16, resolution=256).unet, LVDMConfig(name="x", frames=16,
                                                                                        resolution=256).autoencoder
    assert (unet.norm_eps, unet.block_norm, unet.temporal_norm, unet.relative_position) == (1e-6, "frame", "frame",
                                                                                           "shaw")
    assert (unet.mask_channel, unet.noise_level_embedding, autoencoder.decoder_strides) == (True, "per_frame",
                                                                                           "mirrored")


# ---------------------------------------------------------------------------------------------------- config, report


def test_imported_config_builds_and_loads_strictly(short):
    config, states, _ = short
    assert config.autoencoder.downsample == (2, 4, 4) and config.autoencoder.hidden == 4
    assert (config.unet.model_channels, config.unet.channel_mult, config.unet.num_res_blocks) == (8, (1, 2), 1)
    assert (config.unet.attention_levels, config.unet.num_heads, config.unet.temporal_length) == ((1,), 2, 2)
    assert not config.unet.mask_channel and config.p_interp == config.p_pred == config.p_keys == 0
    assert config.diffusion.beta_start == 0.0015 and config.diffusion.beta_end == 0.0155
    assert config.diffusion.loss == "l1" and config.diffusion.prediction == "eps"
    networks = build_networks(small_groups(config))
    networks["autoencoder"].load_state_dict(states["autoencoder"])
    networks["unet"].load_state_dict(states["unet"])
    assert "mask" not in capabilities(config).extend and "hierarchical" not in capabilities(config).long


def test_unconditional_unet_refuses_conditioning_latents(short):
    config, _, _ = short
    unet = LVDMUNet(small_groups(config)).eval()
    mask = torch.zeros(1, 1, 4, 1, 1)
    mask[:, :, 0] = 1
    with pytest.raises(VgenError, match="unconditional"):
        unet(torch.randn(1, 4, 4, 8, 8), torch.tensor([5]), mask=mask, s=torch.tensor([3]))


def test_report_lists_what_was_dropped(short):
    _, _, report = short
    ae, unet = report["autoencoder"], report["unet"]
    assert {"loss.discriminator", "loss.perceptual_loss", "loss.logvar"} <= set(ae["dropped"])
    for dropped in (ae["dropped"], unet["dropped"]):
        assert {"checkpoint['callbacks']", "checkpoint['optimizer_states']", "checkpoint['lr_schedulers']"} <= set(
            dropped)
    assert {"model.diffusion_model", "first_stage_model", "betas"} <= set(unet["dropped"])
    assert unet["first_stage_model"] == "same weights as the autoencoder file"
    assert ae["aliases_skipped"] > 0 and ae["global_step"] == 500
    assert report["latent"]["scale_factor"] == pytest.approx(DATASETS["sky"][0])
    assert "config yaml" in report["latent"]["scale_from"]
    assert report["schedule"].startswith("scaled_linear 0.0015..0.0155 over 1000 steps")
    json.dumps(report)  # plain data


def test_latent_scale_and_shift_sources(tmp_path):
    import yaml

    tree = yaml.safe_load(YAML.read_text())
    del tree["model"]["params"]["scale_factor"], tree["model"]["params"]["shift_factor"]
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump(tree))
    _, states, report = import_official(AE, SHORT, dataset="taichi", config_yaml=bare)
    assert states["autoencoder"]["scale_factor"].item() == pytest.approx(DATASETS["taichi"][0])
    assert states["autoencoder"]["shift_factor"].item() == pytest.approx(DATASETS["taichi"][1])
    assert report["latent"]["scale_from"] == "dataset taichi"
    _, states, report = import_official(AE, SHORT, dataset="taichi", scale=0.5, shift=-0.25, config_yaml=YAML)
    assert (states["autoencoder"]["scale_factor"].item(), states["autoencoder"]["shift_factor"].item()) == (0.5, -0.25)
    with pytest.raises(VgenError, match="scale factor is not known"):
        import_official(AE, SHORT, config_yaml=bare)


# ---------------------------------------------------------------------------------------------------- loading safely


def test_allow_list_reads_the_lightning_checkpoint():
    checkpoint = load_checkpoint(SHORT, "diffusion")
    assert list(checkpoint["callbacks"]) == [LightningCallbackKey]
    assert checkpoint["pytorch-lightning_version"] == "1.4.2"
    with pytest.raises(pickle.UnpicklingError, match="ModelCheckpoint"):  # what the allow-list is for
        torch.load(SHORT, map_location="cpu", weights_only=True)


class Payload:
    """Unpickling this would create a file; the loader must refuse before it runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_allow_list_refuses_an_arbitrary_object(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "callbacks": Payload(marker)}, path)
    with pytest.raises(VgenError) as error:
        load_checkpoint(path, "diffusion")
    assert "refusing to unpickle" in str(error.value) and "\n" not in str(error.value)
    assert not marker.exists()


def rewritten(tmp_path: Path, source: Path, name: str, edit) -> Path:
    state = dict(load_checkpoint(source, "test")["state_dict"])
    edit(state)
    path = tmp_path / name
    torch.save({"state_dict": state, "epoch": 0}, path)
    return path


def _add_text_encoder(state: dict) -> None:
    state["cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"] = torch.zeros(4, 8)


def _drop_output_bias(state: dict) -> None:
    del state["model.diffusion_model.out.2.bias"], state["model_ema.diffusion_modelout2bias"]


def _drop_ema_tensor(state: dict) -> None:
    del state["model_ema.diffusion_modelout2bias"]


def _drop_decoder_bias(state: dict) -> None:
    del state["decoder.conv_out.conv.bias"]


def _truncate(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.ckpt"
    path.write_bytes(SHORT.read_bytes()[: SHORT.stat().st_size // 2])
    return path


@pytest.mark.parametrize("case,match", [
    ("ae as unet", "video autoencoder checkpoint"),
    ("unet as ae", "latent-diffusion checkpoint"),
    ("text-to-video", "text-to-video"),
    ("truncated", "cannot be read"),
    ("missing unet tensor", "missing 1 tensor"),
    ("incomplete ema", "EMA weights are incomplete"),
    ("missing ae tensor", "missing 1 tensor"),
    ("no such file", "does not exist"),
    ("unknown dataset", "unknown dataset"),
])
def test_wrong_files_give_one_line_errors(tmp_path, case, match):
    ae, unet, dataset = AE, SHORT, None
    if case == "ae as unet":
        unet = AE
    elif case == "unet as ae":
        ae = SHORT
    elif case == "text-to-video":
        unet = rewritten(tmp_path, SHORT, "t2v.ckpt", _add_text_encoder)
    elif case == "truncated":
        unet = _truncate(tmp_path)
    elif case == "missing unet tensor":
        unet = rewritten(tmp_path, SHORT, "short.ckpt", _drop_output_bias)
    elif case == "incomplete ema":
        unet = rewritten(tmp_path, SHORT, "short.ckpt", _drop_ema_tensor)
    elif case == "missing ae tensor":
        ae = rewritten(tmp_path, AE, "ae.ckpt", _drop_decoder_bias)
    elif case == "no such file":
        ae = tmp_path / "nope.ckpt"
    elif case == "unknown dataset":
        dataset = "kinetics"
    with pytest.raises(VgenError, match=match) as error:
        import_official(ae, unet, dataset=dataset, config_yaml=YAML)
    assert "\n" not in str(error.value)
