"""Atomic writes: failures, Ctrl-C and a full disk leave no partial output and keep the old file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_frames

from vgen.errors import VgenError
from vgen.io.atomic import atomic_path
from vgen.io.video import VideoWriter, read_all, write_video


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failed_write_leaves_nothing_and_keeps_old_content(tmp_path, error):
    target = tmp_path / "model.safetensors"
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise error()
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(error):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"new but broken")
            raise error()
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_successful_write_replaces_file_and_folder(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".bin"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    with atomic_path(folder, directory=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "out.bin"]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
def test_interrupted_video_write_keeps_previous_output(tmp_path, name):
    target = tmp_path / name
    first = synthetic_frames(6, 16, 16, seed=1)
    write_video(target, first, fps=8)
    before = read_all(target)
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(target, fps=8) as writer:
            writer.write(synthetic_frames(6, 16, 16, seed=2))
            raise KeyboardInterrupt
    np.testing.assert_array_equal(read_all(target), before)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_writer_error_mid_stream_leaves_no_file(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match="frame size changed"):
        with VideoWriter(target, fps=8) as writer:
            writer.write(synthetic_frames(4, 16, 16))
            writer.write(synthetic_frames(4, 32, 32))
    assert list(tmp_path.iterdir()) == []


def test_nothing_written_is_an_error_and_leaves_no_file(tmp_path):
    with pytest.raises(VgenError, match="no frames"):
        with VideoWriter(tmp_path / "out.mp4", fps=8):
            pass
    assert list(tmp_path.iterdir()) == []


FULL_DISK = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from vgen.errors import VgenError
    from vgen.io import VideoWriter
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # the "disk" fills after 20 kB
    noise = np.random.default_rng(0).integers(0, 256, (40, 64, 64, 3), dtype=np.uint8)
    try:
        with VideoWriter(sys.argv[1], fps=8, crf=0) as writer:
            for i in range(0, 40, 8):
                writer.write(noise[i:i + 8])
    except VgenError as exc:
        print(exc)
        sys.exit(2)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_disk_filling_up_mid_write_leaves_no_partial_file(tmp_path):
    out = tmp_path / "out" / "big.mp4"
    out.parent.mkdir()
    result = subprocess.run([sys.executable, "-c", FULL_DISK, str(out)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                                             str(Path(__file__).parent.parent)])})
    assert result.returncode == 2, result.stderr
    assert "big.mp4" in result.stdout and len(result.stdout.strip().splitlines()) == 1
    assert ".part" not in result.stdout  # the user's path, not the temporary file's
    assert list(out.parent.iterdir()) == []
