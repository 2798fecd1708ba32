"""``vgen train --stage ae --decoder-only``: the decoder of a trained model trains, its encoder, latent statistics and
diffusion model stay bit for bit, so the fine-tuned model samples from the same latents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vgen.cli import app
from vgen.cli._guard import run_guarded
from vgen.pipelines.model import load_model


def vgen(*args: str) -> int:
    return run_guarded(lambda: app(list(args), standalone_mode=False))


_LATENT_STATS = ("scale_factor", "shift_factor")  # LVDM/DiT latent normalisation, fitted after an ae stage


def _split(model) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(encoder side incl. buffers, the rest of the autoencoder, the denoiser) of a loaded model, as CPU copies."""
    autoencoder = model.networks["autoencoder"]
    encoder_ids = {id(t) for m in autoencoder.encoder_modules() for t in (*m.parameters(), *m.buffers())}
    encoder, decoder = {}, {}
    for name, tensor in (*autoencoder.named_parameters(), *autoencoder.named_buffers()):
        (encoder if id(tensor) in encoder_ids or name in _LATENT_STATS else decoder)[name] = tensor.detach().clone()
    unet = {name: t.detach().clone() for name, t in model.networks["unet"].state_dict().items()}
    return encoder, decoder, unet


@pytest.mark.parametrize("preset, extra", [
    ("pvdm-tiny", ["--gan-start", "0"]),  # the adversarial fine-tune of the PVDM decoder
    ("lvdm-tiny", []),  # latent statistics are fitted after an ae stage: not after a decoder-only one
    ("dit-tiny", []),
])
def test_decoder_only_changes_the_decoder_and_nothing_else(preset: str, extra: list[str], tmp_path: Path,
                                                           monkeypatch, capsys, tmp_vgen_home: Path):
    monkeypatch.chdir(tmp_path)
    data = ["--synthetic", "bouncing", "--synthetic-videos", "4", "--batch-size", "2"]
    assert vgen("train", "--model", preset, *data, "--steps", "2", "--name", "base") == 0, capsys.readouterr().err
    capsys.readouterr()
    # Another seed: latent statistics refitted on other clips would differ.
    assert vgen("train", "--from", "base", "--stage", "ae", "--decoder-only", *extra, *data, "--steps", "3",
                "--seed", "1", "--lr", "1e-2", "--name", "sharp") == 0
    err = capsys.readouterr().err
    assert "decoder only:" in err and "the encoder is frozen" in err, err

    base_enc, base_dec, base_unet = _split(load_model("base", device="cpu"))
    enc, dec, unet = _split(load_model("sharp", device="cpu"))
    assert base_enc.keys() == enc.keys() and base_dec.keys() == dec.keys() and len(enc) > 0 and len(dec) > 0
    moved_encoder = [k for k in enc if not torch.equal(enc[k], base_enc[k])]
    assert not moved_encoder, f"encoder tensors changed: {moved_encoder[:3]}"
    assert all(torch.equal(unet[k], base_unet[k]) for k in unet)
    moved_decoder = [k for k in dec if not torch.equal(dec[k], base_dec[k])]
    assert len(moved_decoder) >= len(dec) // 2, f"only {len(moved_decoder)} of {len(dec)} decoder tensors trained"

    # The same latent decodes differently, and the model still samples.
    out = tmp_path / "s.mp4"
    assert vgen("sample", "--model", "sharp", "--steps", "2", "-o", str(out)) == 0 and out.stat().st_size > 0


@pytest.mark.parametrize("args, message", [
    (["--model", "pvdm-tiny", "--stage", "ae"], "--decoder-only needs a trained encoder to keep: pass --from"),
    (["--from", "pvdm-mini-bouncing"], "--decoder-only trains an autoencoder's decoder: pass --stage ae (not all)"),
    (["--from", "pvdm-mini-bouncing", "--stage", "diffusion"], "pass --stage ae (not diffusion)"),
    (["--from", "vdm-mini-bouncing", "--stage", "ae"], "no autoencoder"),
    (["--from", "pvdm-mini-bouncing", "--stage", "ae", "--set", "autoencoder.proj_readout=first"],
     "--decoder-only keeps the encoder as it is: drop --set autoencoder.proj_readout"),
])
def test_decoder_only_refusals_are_one_line_and_write_nothing(args: list[str], message: str, tmp_path: Path,
                                                              monkeypatch, capsys, tmp_vgen_home: Path):
    monkeypatch.chdir(tmp_path)
    code = vgen("train", *args, "--decoder-only", "--synthetic", "bouncing", "--steps", "1")
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert list(tmp_path.iterdir()) == [tmp_vgen_home] and list(tmp_vgen_home.iterdir()) == []


def test_resume_keeps_decoder_only(tmp_path: Path, monkeypatch, capsys, tmp_vgen_home: Path):
    """The option is saved with the run: a resumed run freezes the same encoder without being told again."""
    monkeypatch.chdir(tmp_path)
    data = ["--synthetic", "bouncing", "--synthetic-videos", "4", "--batch-size", "2"]
    assert vgen("train", "--model", "pvdm-tiny", *data, "--steps", "1", "--name", "base") == 0
    run = tmp_path / "run"
    assert vgen("train", "--from", "base", "--stage", "ae", "--decoder-only", *data, "--steps", "2", "--out", str(run),
                "--name", "sharp") == 0
    capsys.readouterr()
    assert vgen("train", "--out", str(run), "--resume", "--steps", "3", "--dry-run") == 0
    assert json.loads(capsys.readouterr().out)["training"]["decoder_only"] is True
    assert vgen("train", "--out", str(run), "--resume", "--decoder-only", "--steps", "3", "--dry-run") == 0  # a repeat


def test_resume_refuses_to_add_decoder_only(tmp_path: Path, monkeypatch, capsys, tmp_vgen_home: Path):
    """A run that trained the whole autoencoder cannot continue as a decoder-only one (its optimiser state holds the
    encoder's moments): one line saying so, not a damaged-state error."""
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert vgen("train", "--model", "pvdm-tiny", "--stage", "ae", "--synthetic", "bouncing", "--synthetic-videos", "4",
                "--batch-size", "2", "--steps", "1", "--out", str(run), "--name", "whole") == 0
    capsys.readouterr()
    assert vgen("train", "--out", str(run), "--resume", "--decoder-only", "--steps", "2") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--decoder-only cannot change on --resume" in lines[0], lines
