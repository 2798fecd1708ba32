"""tools/inflation_report.py: the figures it computes from clip sets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import inflation_report  # noqa: E402


def test_report_of_known_clip_sets():
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 4, 8, 8, 3), dtype=np.uint8)
    still = np.repeat(real[:, :1], 4, axis=1)  # every clip holds its first frame
    figures = inflation_report.report(image=real, video=still, real_a=real, real_b=real)
    first = figures["frechet_first_frames"]
    assert first["video_vs_image"] == pytest.approx(0.0, abs=1e-9)  # same first frames
    assert first["real_vs_real"] == pytest.approx(0.0, abs=1e-9)
    assert figures["frechet_all_frames"]["video_vs_image"] > 0
    assert figures["motion"]["video"] == 0.0 and figures["motion"]["real"] == figures["motion"]["image"] > 50


def test_real_clips_are_the_synthetic_generator_in_uint8():
    clips = inflation_report.real_clips("bouncing", 2, 3, 16, seed=1000)
    assert clips.shape == (2, 3, 16, 16, 3) and clips.dtype == np.uint8
    assert not np.array_equal(clips, inflation_report.real_clips("bouncing", 2, 3, 16, seed=2000))


def test_main_writes_every_figure(tmp_path: Path, tmp_vgen_home: Path, capsys):
    import json

    from vgen.cli import app
    from vgen.cli._guard import run_guarded

    data = ("--synthetic", "bouncing", "--synthetic-videos", "2", "--batch-size", "2", "--steps", "1")
    for args in (("--model", "inflated-tiny", "--stage", "image", "--name", "img"),
                 ("--from", "img", "--stage", "temporal", "--name", "vid")):
        assert run_guarded(lambda: app(["train", *args, *data, "--out", str(tmp_path / args[-1])],
                                       standalone_mode=False)) == 0
    out = tmp_path / "report.json"
    assert inflation_report.main(["--image", "img", "--video", "vid", "--num", "3", "--steps", "2",
                                  "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert set(figures) == {"frechet_first_frames", "frechet_all_frames", "motion", "setup"}
    assert figures["setup"]["num"] == 3 and figures["setup"]["frames"] == 8
    assert "motion: real" in capsys.readouterr().err
