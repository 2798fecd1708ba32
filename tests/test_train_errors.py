"""``vgen train`` bad input and ``--dry-run``: one-line errors with exit 2, no files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vgen.cli import app
from vgen.cli._guard import run_guarded




def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error:"), err
    return lines[-1]


def test_dry_run_prints_config_params_and_memory_and_writes_nothing(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = vgen("train", "--model", "pvdm-tiny", "--synthetic", "sky", "--batch-per-device", "3", "--accumulate", "2",
                "--dry-run")
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert report["model"]["name"] == "pvdm-tiny" and report["stages"] == ["ae", "diffusion"]
    assert report["batch"] == {"global": 6, "per_device": 3, "accumulate": 2, "world_size": 1}
    assert report["parameters"]["unet"] > 0 and report["parameters"]["autoencoder"] > 0
    for stage in ("ae", "diffusion"):
        memory = report["memory_per_device"][stage]
        assert memory["activations_mib"] > 0 and memory["total_mib"] > memory["weights_mib"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "vdm-tiny", "--synthetic", "bouncing", "--stage", "ae"], "VDM is a pixel-space model with no autoencoder"),
        (["--model", "pvdm-tiny", "--synthetic", "bouncing", "--stage", "diffusion"], "needs a trained autoencoder"),
        (["--model", "nope", "--synthetic", "bouncing"], "nope"),
        (["--model", "vdm-tiny", "--synthetic", "bouncing", "--lr-decay", "linear"], "invalid --lr-decay"),
        (["--model", "pvdm-tiny"], "no training data"),
        (["--model", "pvdm-tiny", "--synthetic", "bouncing", "--batch-size", "4", "--batch-per-device", "2"], "either --batch-size"),
        (["--model", "pvdm-tiny", "--synthetic", "bouncing", "--batch-size", "5", "--accumulate", "2"], "does not split"),
        (["--model", "pvdm-tiny", "--synthetic", "bouncing", "--lr", "-1"], "invalid --lr"),
        (["--model", "pvdm-tiny", "--synthetic", "bouncing", "--resume"], "no run named 'pvdm-tiny-trained'"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], message: str, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = vgen("train", *args, "--dry-run")
    err = capsys.readouterr().err
    assert code == 2
    assert message in _error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_empty_data_folder_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    code = vgen("train", "--model", "vdm-tiny", "--data", str(empty), "--steps", "1")
    err = capsys.readouterr().err
    assert code == 2
    assert "empty" in _error_line(err)
    assert "Traceback" not in err


@pytest.mark.slow
def test_folder_with_broken_files_trains_and_warns_with_counts(tmp_path: Path, make_clip_file, tmp_vgen_home: Path,
                                                               monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "videos"
    data.mkdir()
    for i in range(3):
        make_clip_file(f"videos/clip{i}.mp4", t=12, h=20, w=24, fps=8, seed=i)
    (data / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    make_clip_file("videos/short.mp4", t=3, h=20, w=24, fps=8)
    code = vgen("train", "--model", "vdm-tiny", "--data", str(data), "--steps", "2", "--batch-size", "2",
                "--out", str(tmp_path / "run"), "--cache", str(tmp_path / "cache"))
    err = capsys.readouterr().err
    assert code == 0, err
    warning = " ".join(err.split())  # Rich may wrap the line
    assert "skipped 2 of 5 videos" in warning and "1 unreadable" in warning and "1 too short" in warning
    assert (tmp_path / "run" / "checkpoints" / "latest").is_file()
    # --cache keeps the decoded, fitted good videos for later epochs and runs.
    assert len(list((tmp_path / "cache").rglob("*.npy"))) >= 1


@pytest.mark.parametrize("name", ["x/../../../../escaped", "../escape", "/abs", "a b", ".hidden", "", "pvdm-tiny"])
def test_bad_names_are_refused_before_any_work(name: str, tmp_path: Path, tmp_vgen_home: Path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = vgen("train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--steps", "1", "--name", name)
    err = capsys.readouterr().err
    assert code == 2
    line = _error_line(err)
    assert len([x for x in err.splitlines() if x.strip()]) == 1  # no dataset line: nothing was done
    assert f"--name {name!r}" in line and ("is the name of a preset" if name == "pvdm-tiny" else "letters, digits") in line
    assert list(work.iterdir()) == [] and list(tmp_vgen_home.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vgen-home", "work"]
    assert not (tmp_path.parent / "escaped").exists() and not Path("/abs").exists()


def test_a_preset_name_in_the_store_is_fine_tuned_with_a_warning(tmp_path: Path, tmp_vgen_home: Path, monkeypatch,
                                                                 capsys):
    # One precedence for every command: store, then bundled, then preset. A store model named like a preset (made
    # by hand, or by an older vgen) is what `sample --model vdm-tiny` uses, so `train --model vdm-tiny` tunes it too.
    from test_pipelines_model import save_tiny

    monkeypatch.chdir(tmp_path)
    stored = save_tiny("vdm-tiny", tmp_vgen_home / "models" / "vdm-tiny")
    assert vgen("train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--name", "tuned", "--dry-run") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["fine_tuning"] is True
    assert f"names both a stored model ({stored}) and a preset; the stored model wins" in " ".join(captured.err.split())


def test_a_name_shadowing_a_bundled_model_warns(tmp_path: Path, tmp_vgen_home: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert vgen("train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--name", "pvdm-mini-bouncing",
                "--dry-run") == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "--name 'pvdm-mini-bouncing' is also the name of a bundled model" in err and "`vgen models` lists it" in err


@pytest.mark.parametrize("resume", [False, True])
def test_out_pointing_at_a_file_is_one_line(tmp_path: Path, tmp_vgen_home: Path, capsys, resume: bool):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code = vgen("train", "--model", "vdm-tiny", "--synthetic", "bouncing", "--steps", "1", "--out", str(target),
                *(["--resume"] if resume else []))
    assert code == 2
    assert f"--out {str(target)!r} is a file" in _error_line(capsys.readouterr().err)
    assert target.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "vgen-home"]


@pytest.mark.parametrize("content, message", [
    (b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!", "is not a readable safetensors file"),
    (None, "LPIPS weights are incomplete"),  # a real safetensors file holding other tensors
])
def test_wrong_perceptual_weights_are_one_line_and_leave_no_run_folder(tmp_path: Path, tmp_vgen_home: Path, capsys,
                                                                      content: bytes | None, message: str):
    weights = tmp_path / "lpips.safetensors"
    if content is None:
        import torch
        from safetensors.torch import save_file

        save_file({"x": torch.zeros(3)}, str(weights))
    else:
        weights.write_bytes(content)
    code = vgen("train", "--model", "pvdm-tiny", "--synthetic", "bouncing", "--synthetic-videos", "2", "--steps", "1",
                "--batch-size", "1", "--perceptual", str(weights), "--out", str(tmp_path / "run"))
    err = capsys.readouterr().err
    assert code == 2 and message in _error_line(err)
    assert not (tmp_path / "run").exists()
