"""``vgen sample`` / ``extend`` / ``interpolate`` end to end: real subprocesses on tiny model folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from test_pipelines_model import save_tiny
from vgen.io.video import list_frames, read_all, write_video

STEPS = ["--steps", "2"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("vgen-home")
    for name in ("pvdm-tiny", "vdm-tiny", "lvdm-tiny"):
        save_tiny(name, root / "models" / name)
    return root


def vgen(home: Path, *args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "VGEN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "vgen", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True, timeout=300)


def frames_in(path: Path) -> np.ndarray:
    return read_all(path)


@pytest.mark.parametrize("name,frames", [("pvdm-tiny", 11), ("vdm-tiny", 11), ("lvdm-tiny", 11)])
def test_sample_writes_trimmed_long_video(home: Path, tmp_path: Path, name: str, frames: int) -> None:
    out = tmp_path / "clip"
    res = vgen(home, "sample", "--model", name, "--frames", str(frames), *STEPS, "-o", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    assert len(list_frames(out)) == frames
    assert f"{frames} frames" in res.stderr.decode()


@pytest.mark.slow
def test_num_k_video_i_equals_seed_s_plus_i_alone(home: Path, tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    res = vgen(home, "sample", "--model", "vdm-tiny", "--num", "2", "--seed", "5", *STEPS, "-o", str(many),
               "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)
    assert report["seeds"] == [5, 6] and report["output"] == [str(many / "sample-s5.mp4"), str(many / "sample-s6.mp4")]
    res = vgen(home, "sample", "--model", "vdm-tiny", "--seed", "6", *STEPS, "-o", "one.mp4", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    second, alone = frames_in(many / "sample-s6.mp4"), frames_in(tmp_path / "one.mp4")
    assert np.array_equal(second, alone)
    assert not np.array_equal(frames_in(many / "sample-s5.mp4"), alone)


def _input_with_audio(path: Path) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=48x36:rate=12:duration=1", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)


def test_extend_fits_a_non_square_video_with_audio(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.mp4"
    _input_with_audio(src)
    fitted = read_all(src, fps=8, size=16)           # what vdm-tiny sees: 8 fps, 16x16 centre crop
    res = vgen(home, "extend", str(src), "--model", "vdm-tiny", "--frames", "3", *STEPS, "-o", "out.mp4", "--json",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    report = json.loads(res.stdout)
    assert report["frames"] == len(fitted) + 3 and report["size"] == [16, 16] and report["fps"] == 8
    assert len(frames_in(tmp_path / "out.mp4")) == len(fitted) + 3


def test_interpolate_key_images_are_kept_exactly(home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    paths = []
    for i, key in enumerate(keys):
        folder = tmp_path / f"k{i}"
        write_video(folder, key[None], fps=8, format="frames")
        paths.append(str(list_frames(folder)[0]))
    res = vgen(home, "interpolate", *paths, "--model", "vdm-tiny", "--frames", "2", *STEPS, "-o", "mid",
               cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    out = read_all(tmp_path / "mid")
    assert len(out) == 2 * 3 + 1
    assert np.array_equal(out[::3], keys)


@pytest.mark.slow
def test_three_commands_through_real_pipes(home: Path, tmp_path: Path) -> None:
    py = f"{sys.executable} -m vgen"
    cmd = (f"{py} sample --model vdm-tiny --steps 2 -o - --format mp4 "
           f"| {py} extend - --model vdm-tiny --frames 4 --steps 2 -o - --format mp4 "
           f"| {py} interpolate - --model vdm-tiny --factor 2 --steps 2 -o out.mp4")
    res = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=tmp_path, capture_output=True, timeout=300,
                         env={**os.environ, "VGEN_HOME": str(home)})
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    assert len(frames_in(tmp_path / "out.mp4")) == (8 + 4 - 1) * 2 + 1


BAD = [
    (["sample", "--model", "vdm-tiny", "--frames", "0"], "--frames must be positive"),
    (["sample", "--model", "vdm-tiny", "--steps", "0"], "--steps must be positive"),
    (["sample", "--model", "vdm-tiny", "--sampler", "euler"], "unknown sampler"),
    (["sample", "--model", "vdm-tiny", "-o", "-", "--format", "avi"], "unknown output format"),
    (["sample", "--model", "vdm-tiny", "-o", "-"], "needs a format"),
    (["sample", "--model", "vdm-tiny", "-o", "nodir/out.mp4"], "does not exist"),
    (["sample", "--model", "vdm-tiny", "-o", "-", "--format", "mp4", "--json"], "--json needs -o to be a file"),
    (["sample", "--model", "nosuch", "-o", "out.mp4"], "vgen train"),
    (["sample", "--model", "vdm-tiny", "--method", "latent", "-o", "out.mp4"], "choose one of"),
    (["extend", "missing.mp4", "--model", "vdm-tiny", "-o", "out.mp4"], "not found"),
    (["extend", "notes.txt", "--model", "vdm-tiny", "-o", "out.mp4"], "cannot read video"),
    (["extend", "broken.mp4", "--model", "vdm-tiny", "-o", "out.mp4"], "cannot read video"),
    (["extend", "short", "--model", "vdm-tiny", "-o", "out.mp4"], "needs at least 4"),
    (["interpolate", "short", "--model", "pvdm-tiny", "-o", "out.mp4"], "cannot interpolate"),
    (["interpolate", "short", "--model", "vdm-tiny", "--factor", "9", "-o", "out.mp4"], "at most 6"),
    (["interpolate", "notes.txt", "broken.mp4", "--model", "vdm-tiny", "-o", "out.mp4"], "two or more key images"),
    (["interpolate", "short", "-o", "out.mp4", "--strength", "2"], "--strength must lie in (0, 1]"),
    (["sample", "--steps", "abc"], "Invalid value for '--steps'"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a[:4]) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_no_output(home: Path, tmp_path: Path, args: list[str], message: str,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    from vgen.cli import main
    from vgen.cli._common import STATE

    (tmp_path / "notes.txt").write_text("not a video\n")
    (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    write_video(tmp_path / "short", np.zeros((3, 16, 16, 3), np.uint8), fps=8, format="frames")
    monkeypatch.setenv("VGEN_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["vgen", *args])
    before = set(os.listdir(tmp_path))
    with pytest.raises(SystemExit) as exit_info:
        main()
    STATE.update(debug=False, quiet=False)
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert message in err and len(err.splitlines()) == 1, err
    assert set(os.listdir(tmp_path)) == before
