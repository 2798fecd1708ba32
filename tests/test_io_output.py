"""Output naming and validation for one or many generated videos (no model needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vgen.errors import VgenError
from vgen.io.output import plan_outputs, write_chunks


def test_one_video_keeps_the_given_name(tmp_path: Path) -> None:
    (target,) = plan_outputs(str(tmp_path / "out.gif"), [3], None)
    assert target.path == str(tmp_path / "out.gif") and target.format == "gif"


def test_many_videos_are_named_by_seed(tmp_path: Path) -> None:
    targets = plan_outputs(str(tmp_path / "out.mp4"), [7, 8], None)
    assert [t.path for t in targets] == [str(tmp_path / "out-s7.mp4"), str(tmp_path / "out-s8.mp4")]


def test_an_existing_folder_gets_sample_files(tmp_path: Path) -> None:
    targets = plan_outputs(str(tmp_path), [0, 1], "gif")
    assert [t.path for t in targets] == [str(tmp_path / "sample-s0.gif"), str(tmp_path / "sample-s1.gif")]
    (frames,) = plan_outputs(str(tmp_path), [4], "frames")
    assert frames.path == str(tmp_path / "sample-s4") and frames.format == "frames"


def test_stdout_rules() -> None:
    assert plan_outputs("-", [0], "mp4")[0].format == "mp4"
    with pytest.raises(VgenError, match="needs a format"):
        plan_outputs("-", [0], None)
    with pytest.raises(VgenError, match="share stdout"):
        plan_outputs("-", [0, 1], "mp4")


def test_missing_folder_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(VgenError, match="does not exist"):
        plan_outputs(str(tmp_path / "nope" / "out.mp4"), [0], None)


def test_a_trailing_slash_names_a_folder_of_videos(tmp_path: Path) -> None:
    targets = plan_outputs(str(tmp_path / "samples") + "/", [0, 1], None)
    assert not (tmp_path / "samples").exists()  # made when the first video is written, not before any work
    assert all(t.new_folder == str(tmp_path / "samples") for t in targets)
    assert [Path(t.path).name for t in targets] == ["sample-s0.mp4", "sample-s1.mp4"]
    assert all(t.format == "mp4" for t in targets)
    write_chunks(targets[0], [np.zeros((2, 16, 16, 3), np.uint8)], fps=8)
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["sample-s0.mp4"]
    with pytest.raises(VgenError, match="does not exist"):
        plan_outputs(str(tmp_path / "nope" / "samples") + "/", [0], None)
