"""The model store: VGEN_HOME, name/path resolution, precedence, listing and atomic registration."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import vgen.io.store as store
from vgen.config import preset
from vgen.errors import VgenError
from vgen.io.checkpoint import save_network, save_training_state
from vgen.io.store import list_models, models_dir, register_model, resolve_model


def make_model(folder: Path, name: str = "pvdm-tiny", width: int = 4) -> Path:
    """A model folder with two small networks and (like a run folder) a training-state file."""
    folder.mkdir(parents=True, exist_ok=True)
    config = preset(name)
    save_network(folder / "unet.safetensors", {"w": torch.zeros(width, 3), "b": torch.zeros(width)}, config, role="unet")
    save_network(folder / "autoencoder.safetensors", {"w": torch.ones(2, 5)}, config, role="autoencoder")
    save_training_state(folder / "training_state.safetensors", {"step": torch.tensor(3)}, {})
    return folder


def test_store_lives_in_vgen_home(tmp_vgen_home):
    assert models_dir() == tmp_vgen_home / "models"


def test_store_defaults_to_platform_data_dir(monkeypatch):
    import platformdirs

    monkeypatch.delenv("VGEN_HOME", raising=False)
    assert models_dir() == Path(platformdirs.user_data_dir("vgen")) / "models"


def test_register_then_resolve_and_list(tmp_vgen_home, tmp_path):
    run = make_model(tmp_path / "runs" / "mine")
    target = register_model("mine", run)
    assert target == tmp_vgen_home / "models" / "mine"
    assert sorted(p.name for p in target.iterdir()) == ["autoencoder.safetensors", "unet.safetensors"]
    assert resolve_model("mine") == target
    (entry,) = [m for m in list_models() if m.name == "mine"]
    assert entry.source == "store" and entry.problem is None
    assert entry.num_params == 4 * 3 + 4 + 2 * 5
    assert entry.config.name == "pvdm-tiny" and sorted(entry.roles) == ["autoencoder", "unet"]


def test_register_replaces_existing_model_atomically(tmp_vgen_home, tmp_path):
    register_model("mine", make_model(tmp_path / "a", width=4))
    register_model("mine", make_model(tmp_path / "b", width=6))
    (entry,) = [m for m in list_models() if m.name == "mine"]
    assert entry.num_params == 6 * 3 + 6 + 10
    assert sorted(p.name for p in models_dir().iterdir()) == ["mine"]  # no temp or old folders left


def test_failed_register_keeps_old_model(tmp_vgen_home, tmp_path, monkeypatch):
    register_model("mine", make_model(tmp_path / "a", width=4))

    def broken_copy(src, dst, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(store.shutil, "copy2", broken_copy)
    with pytest.raises(KeyboardInterrupt):
        register_model("mine", make_model(tmp_path / "b", width=6))
    (entry,) = [m for m in list_models() if m.name == "mine"]
    assert entry.num_params == 4 * 3 + 4 + 10
    assert sorted(p.name for p in models_dir().iterdir()) == ["mine"]


def test_paths_resolve_to_model_folders(tmp_vgen_home, tmp_path):
    folder = make_model(tmp_path / "somewhere")
    assert resolve_model(folder) == folder
    assert resolve_model(str(folder / "unet.safetensors")) == folder
    with pytest.raises(VgenError, match="not found"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VgenError, match="no .safetensors"):
        resolve_model(str(tmp_path / "empty"))


def test_store_wins_over_bundled(tmp_vgen_home, tmp_path, monkeypatch):
    bundled = tmp_path / "assets" / "models"
    make_model(bundled / "shared", width=2)
    make_model(bundled / "only-bundled", width=2)
    monkeypatch.setattr(store, "bundled_models_dir", lambda: bundled)
    assert resolve_model("shared") == bundled / "shared"
    register_model("shared", make_model(tmp_path / "mine", width=5))
    assert resolve_model("shared") == models_dir() / "shared"
    assert resolve_model("only-bundled") == bundled / "only-bundled"
    sources = {(m.name, m.source) for m in list_models()}
    assert sources == {("shared", "store"), ("only-bundled", "bundled")}


def test_unknown_name_says_how_to_train(tmp_vgen_home):
    with pytest.raises(VgenError) as info:
        resolve_model("holiday")
    message = str(info.value)
    assert "\n" not in message
    assert "vgen train --model <preset> --data DIR --name holiday" in message
    assert str(tmp_vgen_home / "models" / "holiday") in message


def test_preset_without_weights_says_so(tmp_vgen_home):
    with pytest.raises(VgenError) as info:
        resolve_model("pvdm-s")
    message = str(info.value)
    assert "preset 'pvdm-s' has no trained weights" in message and "vgen train --model pvdm-s" in message
    assert "architecture only" in message and "vgen import pvdm" in message  # both ways forward
    with pytest.raises(VgenError) as info:
        resolve_model("vdm-tiny")
    assert "vgen import" not in str(info.value)  # no official checkpoints for this family


def test_bad_register_inputs(tmp_vgen_home, tmp_path):
    with pytest.raises(VgenError, match="invalid model name"):
        register_model("../escape", make_model(tmp_path / "a"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(VgenError, match="no .safetensors"):
        register_model("x", tmp_path / "empty")
    assert not models_dir().exists() or list(models_dir().iterdir()) == []


def test_broken_store_entry_is_listed_with_its_problem(tmp_vgen_home):
    broken = models_dir() / "broken"
    broken.mkdir(parents=True)
    (broken / "unet.safetensors").write_bytes(b"garbage")
    (entry,) = [m for m in list_models() if m.source == "store"]
    assert entry.name == "broken" and entry.problem and "safetensors" in entry.problem


def test_names_that_escape_the_store_or_hide_a_preset_are_refused(tmp_vgen_home, tmp_path):
    model = make_model(tmp_path / "a")
    for name in ("x/../../escaped", "/abs", "a b", ".hidden", "", "a" * 101):
        with pytest.raises(VgenError, match="invalid model name"):
            register_model(name, model)
    with pytest.raises(VgenError, match="'vdm-tiny' is the name of a preset"):
        register_model("vdm-tiny", model)
    assert not models_dir().exists() and not (tmp_path / "escaped").exists()


def test_one_precedence_store_then_bundled_then_preset(tmp_vgen_home, tmp_path, monkeypatch):
    bundled = tmp_path / "assets" / "models"
    make_model(bundled / "demo", width=2)
    monkeypatch.setattr(store, "bundled_models_dir", lambda: bundled)
    assert store.find_named("demo") == bundled / "demo"
    assert store.find_named("pvdm-tiny") is None  # a preset: no weights to find
    make_model(models_dir() / "pvdm-tiny", width=3)  # made by hand or by an older vgen
    make_model(models_dir() / "demo", width=3)
    assert store.find_named("pvdm-tiny") == resolve_model("pvdm-tiny") == models_dir() / "pvdm-tiny"
    assert store.find_named("demo") == resolve_model("demo") == models_dir() / "demo"
    # `vgen models` lists the model a name resolves to, and only that one.
    assert {(m.name, m.source) for m in list_models()} == {("pvdm-tiny", "store"), ("demo", "store")}
