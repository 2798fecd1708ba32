"""In-between scores (``vgen evaluate --inbetween``): inserted frames against the truth, beside frame blending."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vgen.metrics.inbetween import blend, inbetween_scores, moving_pixels, usable_frames


def _moving_square(frames: int = 9, size: int = 16) -> np.ndarray:
    clip = np.zeros((frames, size, size, 3), np.uint8)
    for t in range(frames):
        clip[t, 4:8, t:t + 4] = 255
    return clip


def test_errors_are_split_into_moving_and_static_pixels():
    """Moving pixels are those where an inserted frame and its neighbouring keys disagree: the square's leading and
    trailing two columns (its middle stays white in all three frames)."""
    clip = _moving_square()
    assert moving_pixels(clip, 2).sum(axis=(1, 2)).tolist() == [4 * 4] * 4
    brighter = inbetween_scores([clip], lambda keys, i: np.where(clip == 0, 3, clip).astype(np.uint8), 2)
    assert brighter["mae_moving"] == pytest.approx(3 * 8 / 16) and brighter["mae_static"] == pytest.approx(3 * 232 / 240)
    assert brighter["blend_mae_static"] == 0 and brighter["blend_mae_moving"] == pytest.approx(127.5)
    assert brighter["moving_share"] == pytest.approx(16 / 256)


def test_blend_is_linear_between_keys_and_keeps_them():
    keys = np.stack([np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 90, np.uint8)])
    out = blend(keys, 3)
    assert out.shape[0] == 4 and [int(f[0, 0, 0]) for f in out] == [0, 30, 60, 90]
    assert usable_frames(9, 2) == 9 and usable_frames(8, 2) == 7 and usable_frames(8, 3) == 7


def test_a_model_that_moves_the_square_beats_blending_and_blending_ties_itself():
    clip = _moving_square()
    truth = inbetween_scores([clip], lambda keys, i: clip, 2)
    assert truth["psnr"] > 100 and truth["blend_psnr"] < 30 and truth["psnr_gain_db"] > 70
    same = inbetween_scores([clip, clip], lambda keys, i: blend(keys, 2), 2)
    assert same["psnr"] == pytest.approx(same["blend_psnr"]) and same["clips"] == 2
    seen = []
    inbetween_scores([clip], lambda keys, i: seen.append(keys) or clip, 2)
    assert np.array_equal(seen[0], clip[::2])  # the model gets every 2nd frame only
    with pytest.raises(ValueError, match="made"):
        inbetween_scores([clip], lambda keys, i: clip[:3], 2)


@pytest.fixture(scope="module")
def vdm_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from vgen.config import preset
    from vgen.io.checkpoint import save_network
    from vgen.models import build_networks

    config = preset("vdm-tiny")
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("vdm")
    for role, net in build_networks(config).items():
        save_network(folder / f"{role}.safetensors", net.state_dict(), config, role=role, extra={"ema": True})
    return folder


def test_evaluate_inbetween_reports_model_and_blend(tmp_path: Path, vdm_model: Path, capsys, monkeypatch):
    from vgen.cli import app
    from vgen.cli._guard import run_guarded
    from vgen.io.video import VideoWriter

    monkeypatch.setenv("VGEN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "clips").mkdir()
    for i in range(2):
        with VideoWriter(tmp_path / "clips" / f"c{i}.mp4", fps=8) as writer:
            writer.write(np.roll(_moving_square(12), i, axis=1))
    args = ["evaluate", "--model", str(vdm_model), "--inbetween", str(tmp_path / "clips"), "--frames", "9",
            "--num", "2", "--steps", "2", "--device", "cpu", "--json"]
    assert run_guarded(lambda: app(args, standalone_mode=False)) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["metrics"]) == {"psnr", "ssim", "blend_psnr", "blend_ssim", "psnr_gain_db", "mae_moving", "mae_static",
                                   "blend_mae_moving", "blend_mae_static", "moving_share"}
    assert out["protocol"]["factor"] == 2 and out["protocol"]["method"] == "mask" and out["protocol"]["set"]["clips"] == 2
    assert run_guarded(lambda: app(["evaluate", "--inbetween", str(tmp_path / "clips")], standalone_mode=False)) == 2
    assert "--inbetween needs --model" in capsys.readouterr().err
    assert run_guarded(lambda: app([*args[:-1], "--factor", "1"], standalone_mode=False)) == 2
    assert "--factor must be at least 2" in capsys.readouterr().err
