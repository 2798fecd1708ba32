"""The content hash covers a checkpoint's metadata as well as its tensors (format 2), format-1 files still load, and
weights are checked against their config on the meta device before any network is built for real."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

import vgen.models
from test_io_checkpoint import rewrite_metadata
from test_pipelines_model import save_tiny
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.errors import VgenError
from vgen.io.checkpoint import FORMAT_VERSION, content_hash, load_network, read_header, save_network
from vgen.pipelines.model import load_model


def _config(path: Path) -> dict:
    return json.loads(read_header(path)[0]["config"])


def _edit_config(path: Path, reseal: bool, **unet: int) -> None:
    config = _config(path)
    config["unet"].update(unet)
    rewrite_metadata(path, reseal=reseal, config=json.dumps(config))


def _as_format_1(path: Path) -> None:
    """Rewrite a file as vgen wrote it before format 2: its hash covers the tensors only."""
    rewrite_metadata(path, format_version="1")
    rewrite_metadata(path, content_hash=content_hash(load_file(str(path))))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return save_tiny("vdm-tiny", tmp_path / "model")


@pytest.fixture
def real_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the device of every network build; a build that is not on the meta device fails the test at once
    (so a config edited to an enormous size never allocates anything here)."""
    devices: list[str] = []
    build = vgen.models.build_networks

    def guarded(config):  # noqa: ANN001
        device = torch.get_default_device().type
        devices.append(device)
        if device != "meta" and config.unet.model_channels > 1000:
            raise AssertionError(f"built a {config.unet.model_channels}-channel network for real")
        return build(config)

    monkeypatch.setattr(vgen.models, "build_networks", guarded)
    return devices


def test_new_files_are_format_2_and_hash_their_metadata(model_dir: Path):
    path = model_dir / "unet.safetensors"
    metadata, _ = read_header(path)
    assert FORMAT_VERSION == 2 and metadata["format_version"] == "2"
    assert metadata["content_hash"] == content_hash(load_file(str(path)), metadata)
    assert metadata["content_hash"] != content_hash(load_file(str(path)))


@pytest.mark.parametrize("key, value", [("config", None), ("extra", '{"ema": false}'), ("role", "autoencoder")])
def test_any_edit_of_the_metadata_fails_the_hash(model_dir: Path, key: str, value: str | None):
    path = model_dir / "unet.safetensors"
    if key == "config":  # an edit that keeps every shape: only the hash can see it
        config = _config(path)
        config["fps"] += 1
        value = json.dumps(config)
    rewrite_metadata(path, **{key: value})
    with pytest.raises(VgenError, match="content hash does not match"):
        load_network(path)


def test_config_edited_to_an_enormous_size_is_refused_before_allocating(model_dir: Path, real_builds: list[str]):
    _edit_config(model_dir / "unet.safetensors", reseal=True, model_channels=20000)  # even with a matching hash
    with pytest.raises(VgenError) as info:
        load_model(str(model_dir), device="cpu")
    message = str(info.value)
    assert "\n" not in message and "does not fit the model config" in message and "unet.safetensors" in message
    assert real_builds == ["meta"]


def test_format_1_files_still_load_and_are_still_verified(model_dir: Path, real_builds: list[str]):
    path = model_dir / "unet.safetensors"
    _as_format_1(path)
    loaded = load_model(str(model_dir), device="cpu")
    assert read_header(path)[0]["format_version"] == "1" and loaded.config.name == "vdm-tiny"
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(VgenError, match="content hash does not match"):
        load_network(path)
    # A format-1 hash does not cover the config; the shape check still refuses an edited one before building.
    _as_format_1(save_tiny("vdm-tiny", model_dir.parent / "old") / "unet.safetensors")
    _edit_config(model_dir.parent / "old" / "unet.safetensors", reseal=False, model_channels=20000)
    with pytest.raises(VgenError, match="does not fit the model config"):
        load_model(str(model_dir.parent / "old"), device="cpu")
    assert real_builds == ["meta", "cpu", "meta"]


def test_sample_with_an_edited_checkpoint_is_one_line_exit_2(model_dir: Path, tmp_path: Path, capsys):
    _edit_config(model_dir / "unet.safetensors", reseal=False, model_channels=20000)
    code = run_guarded(lambda: app(["sample", "--model", str(model_dir), "--steps", "1", "-o",
                                    str(tmp_path / "x.mp4")], standalone_mode=False))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()][-1].startswith("error: checkpoint")
    assert not (tmp_path / "x.mp4").exists()


def test_full_disk_while_saving_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import safetensors.torch

    def full(*args, **kwargs):  # what safetensors raises when the disk fills up (checked on a full tmpfs)
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    target = tmp_path / "unet.safetensors"
    with pytest.raises(VgenError) as info:
        from vgen.config import preset

        save_network(target, {"w": torch.zeros(2)}, preset("vdm-tiny"), role="unet")
    assert str(info.value) == f"disk full while writing {str(target)!r}; free some space and try again"
    assert list(tmp_path.iterdir()) == []  # no partial file
