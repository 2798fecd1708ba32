"""Resuming from a checkpoint whose files were edited by hand, or writing checkpoints to a full disk: one line,
exit 2, no traceback, and the run folder stays resumable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors import SafetensorError

from test_io_checkpoint import rewrite_metadata
from test_io_checkpoint_integrity import real_builds  # noqa: F401 - a fixture
from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.io.checkpoint import read_header
from vgen.training import runfolder

_TRAIN = ["train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--synthetic-videos", "2", "--batch-size", "1"]


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def _error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and lines and lines[-1].startswith("error:"), err
    return lines[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped after step 2 of 4 with its checkpoint (trained once, copied per test)."""
    root = tmp_path_factory.mktemp("trained")
    run = root / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VGEN_HOME", str(root / "home"))
        assert vgen(*_TRAIN, "--steps", "2", "--save-every", "1", "--out", str(run)) == 0
    # Ask for 4 steps on resume: the stage is not done, so the state is restored into the trainer.
    return run


@pytest.fixture
def run(trained: Path, tmp_path: Path, tmp_vgen_home: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def _state(run: Path) -> Path:
    checkpoint = runfolder.latest_checkpoint(run)
    assert checkpoint is not None
    return checkpoint / "train_state.safetensors"


def _meta(run: Path) -> dict:
    return json.loads(read_header(_state(run))[0]["meta"])


def _resume(run: Path, capsys) -> str:
    code = vgen("train", "--out", str(run), "--resume", "--steps", "4")
    err = capsys.readouterr().err
    assert code == 2, err
    return _error(err)


def test_edited_training_record_fails_the_hash(run: Path, capsys):
    rewrite_metadata(_state(run), meta=json.dumps({**_meta(run), "step": 1}))
    assert "content hash does not match" in _resume(run, capsys)


@pytest.mark.parametrize("edit", [
    {"stage": None}, {"step": "2"}, {"step": -1}, {"stage": "gan"}, {"done": "yes"}, {"ema_updates": 1.5},
])
def test_damaged_training_record_is_one_line(run: Path, capsys, edit: dict):
    # Even re-sealed with a matching hash (a hand-made or older-format file), the record is checked before use.
    meta = {**_meta(run), **edit}
    rewrite_metadata(_state(run), reseal=True, meta=json.dumps({k: v for k, v in meta.items() if v is not None}))
    assert "damaged record of its stage and step" in _resume(run, capsys)


def test_training_state_of_another_shape_is_one_line(run: Path, capsys):
    structure = json.loads(read_header(_state(run))[0]["structure"])
    structure.pop("raw")
    rewrite_metadata(_state(run), reseal=True, structure=json.dumps(structure))
    assert "does not fit this run" in _resume(run, capsys)


def test_run_config_edited_to_an_enormous_size_is_refused_before_allocating(run: Path, capsys, real_builds):
    saved = json.loads((run / "config.json").read_text())
    saved["model"]["unet"]["model_channels"] = 20000
    (run / "config.json").write_text(json.dumps(saved))
    assert "does not fit the model config" in _resume(run, capsys)
    assert real_builds == ["meta"]


def test_checkpoint_carrying_another_config_than_the_run_is_refused(run: Path, capsys):
    unet = runfolder.latest_checkpoint(run) / "model" / "unet.safetensors"
    config = json.loads(read_header(unet)[0]["config"])
    config["fps"] += 1  # same shapes, re-sealed: only the comparison with config.json can see it
    rewrite_metadata(unet, reseal=True, config=json.dumps(config))
    assert "carries another model config than the run" in _resume(run, capsys)


def test_damaged_run_config_is_one_line(run: Path, capsys):
    (run / "config.json").write_text('{"name": "x", "model": {"family": "vdm", "frames": "many"}}')
    assert "holds an invalid config" in _resume(run, capsys)
    (run / "config.json").write_text("{not json")
    assert "the run folder is damaged" in _resume(run, capsys)


def test_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_last_one(tmp_path: Path, tmp_vgen_home: Path,
                                                                         monkeypatch: pytest.MonkeyPatch, capsys):
    import safetensors.torch

    real, calls = safetensors.torch.save_file, []

    def fills_up(*args, **kwargs):
        calls.append(args[1])
        if len(calls) > 2:  # the first checkpoint (unet + training state) fits, the second does not
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return real(*args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "save_file", fills_up)
    run = tmp_path / "run"
    code = vgen(*_TRAIN, "--steps", "4", "--save-every", "1", "--out", str(run))
    line = _error(capsys.readouterr().err)
    assert code == 2
    assert f"cannot save checkpoint {str(run / 'checkpoints' / 'diffusion-0000002')!r} (disk full while writing" in line
    assert f"continue with: vgen train --out {run} --resume" in line
    assert runfolder.latest_checkpoint(run).name == "diffusion-0000001"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["diffusion-0000001", "latest"]
