"""Official PVDM checkpoints imported into vgen (issue #13): parity with the official code's own outputs.

The fixtures (tests/fixtures/official/pvdm, built by tools/official_fixtures_pvdm.py from the official code) are
small official models in the official file formats with their inputs and outputs. Imported with
``import_official``, vgen's networks must reproduce those outputs; each official-numerics option the importer turns
on must be needed for that; and files of the wrong kind must be refused with one-line errors.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vgen.errors import VgenError
from vgen.families.pvdm.config import PRESETS, PVDMAutoencoderConfig, PVDMConfig, PVDMUNetConfig
from vgen.families.pvdm.official import import_official, parse_simple_yaml, read_config_yaml
from vgen.models import build_networks

FIX = Path(__file__).parent / "fixtures" / "official" / "pvdm"
AE, AE_UNET, MODEL, EMA, YAML = (FIX / n for n in ("ae.pth", "ae_unet.pth", "model.pth", "ema_model.pth",
                                                    "diffusion.yaml"))
TOL = 1e-5
BROKEN = 1e-4  # an option turned off must move some output at least this far (10x the tolerance)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def networks(config: PVDMConfig, states: dict) -> dict[str, torch.nn.Module]:
    nets = build_networks(config)
    for role, state in states.items():
        nets[role].load_state_dict(state, strict=True)
        nets[role].eval()
    return nets


def with_options(config: PVDMConfig, **options: object) -> PVDMConfig:
    data = config.model_dump()
    for key, value in options.items():
        part, field = key.split("__")
        data[part][field] = value
    return PVDMConfig.model_validate(data)


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def ae_errors(config: PVDMConfig, states: dict) -> dict[str, float]:
    io = load_file(FIX / "ae_io.safetensors")
    ae = networks(config, {"autoencoder": states["autoencoder"]})["autoencoder"]
    with torch.no_grad():
        latent = ae.encode(io["pixels"].float() / 127.5 - 1)
        recon = ae.decode(io["latent"])
    return {"encode": max_abs(latent, io["latent"]), "decode": max_abs(recon, io["recon"])}


def unet_errors(config: PVDMConfig, states: dict, weights: str = "ema") -> dict[str, float]:
    io = load_file(FIX / "unet_io.safetensors")
    unet = networks(config, {"unet": states["unet"]})["unet"]
    errors = {}
    with torch.no_grad():
        errors["cond"] = max_abs(unet(io["x"], io["t"], cond=io["cond"]), io[f"eps_cond_{weights}"])
        if f"eps_uncond_{weights}" in io:
            errors["uncond"] = max_abs(unet(io["x"], io["t"]), io[f"eps_uncond_{weights}"])
    return errors


@pytest.fixture(scope="module")
def ae_import():
    return import_official(AE)


@pytest.fixture(scope="module")
def full_import():
    return import_official(AE_UNET, MODEL, EMA, YAML)


# ---------------------------------------------------------------------------------------------- parity


def test_autoencoder_matches_official(ae_import):
    config, states, report = ae_import
    assert set(states) == {"autoencoder"} and report["unet"] is None
    errors = ae_errors(config, states)
    assert max(errors.values()) <= TOL, errors


def test_ema_unet_matches_official_with_and_without_condition(full_import):
    config, states, report = full_import
    assert report["unet"]["weights"] == "ema"
    assert any(str(MODEL) in d for d in report["unet"]["dropped"])
    assert "diffusion_model.zeros" in report["unet"]["dropped"]
    errors = unet_errors(config, states, "ema")
    assert max(errors.values()) <= TOL, errors


def test_main_weights_without_ema_match_official():
    config, states, report = import_official(AE_UNET, MODEL, None, YAML)
    assert report["unet"]["weights"] == "main"
    assert unet_errors(config, states, "main")["cond"] <= TOL


def test_ema_file_alone_is_enough(full_import):
    config, states, report = import_official(AE_UNET, None, EMA, YAML)
    assert report["unet"]["weights"] == "ema"
    for name, tensor in full_import[1]["unet"].items():
        assert torch.equal(states["unet"][name], tensor), name


def test_imported_states_load_strictly_and_name_the_options(full_import):
    config, states, report = full_import
    nets = build_networks(config)
    for role in ("autoencoder", "unet"):
        nets[role].load_state_dict(states[role], strict=True)
    assert report["options"] == {"autoencoder.proj_readout": "first", "autoencoder.rope_layout": "official",
                                 "unet.norm_eps": 1e-5}
    assert (config.frames, config.resolution, config.autoencoder.patch_size) == (16, 256, 8)
    assert config.unet.channel_mult == (1, 2) and config.unet.attention_levels == (0,)
    assert config.unet.num_heads == 2 and config.unet.num_res_blocks == 1 and config.unet.model_channels == 8


def test_unconditional_official_model_gets_zero_condition_weights(tmp_path):
    """An official model built with cond_model=False has a C-channel input conv and no zeros buffer."""
    sd = torch.load(EMA, weights_only=True)
    sd["diffusion_model.input_blocks.0.0.weight"] = sd["diffusion_model.input_blocks.0.0.weight"][:, :4].clone()
    del sd["diffusion_model.zeros"]
    torch.save(sd, tmp_path / "uncond.pth")
    config, states, report = import_official(AE_UNET, tmp_path / "uncond.pth", None, YAML)
    assert any("unconditional" in n for n in report["notes"])
    io = load_file(FIX / "unet_io.safetensors")
    unet = networks(config, {"unet": states["unet"]})["unet"]
    with torch.no_grad():
        assert max_abs(unet(io["x"], io["t"], cond=io["cond"]), io["eps_uncond_ema"]) <= TOL


# ------------------------------------------------------------------------- every option is necessary


@pytest.mark.parametrize("option, vgen_value, outputs", [
    ("autoencoder__proj_readout", "token", ("encode",)),
    ("autoencoder__rope_layout", "half", ("encode", "decode")),
    ("unet__norm_eps", 1e-6, ("cond", "uncond")),
])
def test_each_official_option_is_needed(ae_import, full_import, option, vgen_value, outputs):
    imported = full_import if option.startswith("unet") else ae_import
    config, states, _ = imported
    off = with_options(config, **{option: vgen_value})
    errors = unet_errors(off, states) if option.startswith("unet") else ae_errors(off, states)
    for output in outputs:
        assert errors[output] > BROKEN, (option, errors)


def test_defaults_are_vgens_own():
    ae, unet = PVDMAutoencoderConfig(), PVDMUNetConfig()
    assert (ae.proj_readout, ae.rope_layout, unet.norm_eps) == ("token", "half", 1e-6)
    for preset in PRESETS.values():
        assert preset.autoencoder.proj_readout == "token" and preset.autoencoder.rope_layout == "half"
        assert preset.unet.norm_eps == 1e-6


def test_without_yaml_the_released_head_count_is_assumed_and_reported():
    config, states, report = import_official(AE_UNET, None, EMA)
    assert config.unet.num_heads == 8 and "unet.num_heads" in report["assumed"]
    assert unet_errors(config, states)["cond"] > BROKEN  # the fixture has 2 heads: the yaml is needed


# ----------------------------------------------------------------------------------------------- yaml


def test_simple_yaml_reader_reads_the_official_layout():
    tree = parse_simple_yaml(YAML.read_text())
    unet = tree["model"]["params"]["unet_config"]
    assert unet["channel_mult"] == [1, 2] and unet["attention_resolutions"] == [1] and unet["num_heads"] == 2
    assert unet["use_scale_shift_norm"] is True and tree["model"]["params"]["linear_start"] == 0.0015
    assert tree == read_config_yaml(YAML)  # same as PyYAML where it is installed


def test_simple_yaml_reader_refuses_what_it_does_not_understand():
    with pytest.raises(VgenError, match="line 2"):
        parse_simple_yaml("model:\n  - item\n")


# ---------------------------------------------------------------------------------------- wrong files


def one_line_error(*args, match: str) -> str:
    with pytest.raises(VgenError, match=match) as info:
        import_official(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_autoencoder_given_as_unet():
    message = one_line_error(AE_UNET, AE, None, match="is a PVDM autoencoder")
    assert str(AE) in message


def test_unet_given_as_autoencoder():
    one_line_error(MODEL, match="is a PVDM diffusion")


def test_truncated_file(tmp_path):
    data = AE.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    one_line_error(tmp_path / "cut.pth", match="cannot read autoencoder file")


def test_missing_file(tmp_path):
    one_line_error(tmp_path / "nope.pth", match="does not exist")


def test_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    one_line_error(tmp_path / "list.pth", match="not a bare state_dict")


def test_not_a_pvdm_checkpoint(tmp_path):
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    one_line_error(tmp_path / "other.pth", match="is not a PVDM autoencoder")
    one_line_error(AE_UNET, tmp_path / "other.pth", match="is not a PVDM diffusion")


def test_missing_tensor(tmp_path):
    sd = torch.load(AE, weights_only=True)
    del sd["decoder.layers.1.1.fn.to_out.0.bias"]
    torch.save(sd, tmp_path / "ae.pth")
    one_line_error(tmp_path / "ae.pth", match="lacks 'decoder.layers.1.1.fn.to_out.0.bias'")


def test_unexpected_tensor(tmp_path):
    sd = torch.load(EMA, weights_only=True)
    sd["diffusion_model.extra_head.weight"] = torch.zeros(2)
    torch.save(sd, tmp_path / "ema.pth")
    one_line_error(AE_UNET, None, tmp_path / "ema.pth", YAML,
                   match="unexpected tensor 'diffusion_model.extra_head.weight'")


def test_wrong_shape(tmp_path):
    sd = torch.load(MODEL, weights_only=True)
    sd["diffusion_model.output_blocks.1.0.skip_connection.bias"] = torch.zeros(3)
    torch.save(sd, tmp_path / "model.pth")
    one_line_error(AE_UNET, tmp_path / "model.pth", None, YAML, match="has shape")


def test_ema_of_another_run(tmp_path):
    sd = torch.load(EMA, weights_only=True)
    del sd["diffusion_model.out.2.bias"]
    torch.save(sd, tmp_path / "ema.pth")
    one_line_error(AE_UNET, MODEL, tmp_path / "ema.pth", YAML, match="does not match diffusion file")


def test_autoencoder_of_another_geometry():
    one_line_error(AE, MODEL, None, YAML, match="not from the same PVDM run")


def test_yaml_that_contradicts_the_weights(tmp_path):
    (tmp_path / "d.yaml").write_text(YAML.read_text().replace("model_channels: 8", "model_channels: 256"))
    one_line_error(AE_UNET, MODEL, None, tmp_path / "d.yaml", match="model_channels")


def test_ddp_prefix_is_stripped(tmp_path):
    sd = torch.load(AE, weights_only=True)
    torch.save({f"module.{k}": v for k, v in sd.items()}, tmp_path / "ae.pth")
    config, states, report = import_official(tmp_path / "ae.pth")
    assert any("module." in n for n in report["notes"])
    assert max(ae_errors(config, states).values()) <= TOL


# ------------------------------------------------------------------------------------------ fixture tool


def test_fixture_tool_needs_the_official_checkout(tmp_path):
    tool = Path(__file__).parents[1] / "tools" / "official_fixtures_pvdm.py"
    result = subprocess.run([sys.executable, str(tool), "--official", str(tmp_path), "--out", str(tmp_path / "o")],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "not a checkout of the official PVDM code" in result.stderr
    assert not (tmp_path / "o").exists()
