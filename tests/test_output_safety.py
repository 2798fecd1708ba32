"""Outputs that never hurt the user's system: devices and FIFOs are streamed into (never renamed over),
write errors on stdout are errors, nothing is overwritten without --overwrite, errors name the user's
path, and GIF/MP4 timing is exact."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from fractions import Fraction
from math import floor
from pathlib import Path
from typing import Callable, Optional

import pytest
from conftest import synthetic_frames

from vgen.errors import VgenError
from vgen.io.atomic import atomic_path, removing_new_folders
from vgen.io.video import VideoWriter, infer_format, read_all, write_video

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False
needs_root = pytest.mark.skipif(not ROOT, reason="making device nodes (mknod) needs root")
STEPS = ["--steps", "1"]


def vgen(*args: str, cwd: Path, stdout: object = subprocess.PIPE, stdin: object = None,
         preexec: Optional[Callable[[], None]] = None) -> subprocess.CompletedProcess:
    """Run ``python -m vgen`` with the bundled demo model and an empty model store."""
    env = {**os.environ, "VGEN_HOME": str(cwd / ".vgen-home"), "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "vgen", *args], cwd=cwd, env=env, stdout=stdout, stdin=stdin,
                          stderr=subprocess.PIPE, preexec_fn=preexec, timeout=300)


def one_line(res: subprocess.CompletedProcess) -> str:
    err = res.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def make_device(path: Path, major: int, minor: int, block: bool = False) -> Path:
    """A private device node (a copy of /dev/null is 1,3; /dev/full is 1,7)."""
    kind = stat.S_IFBLK if block else stat.S_IFCHR
    os.mknod(path, 0o666 | kind, os.makedev(major, minor))
    return path


def packet_times(path: Path) -> tuple[Fraction, list[tuple[int, int]]]:
    """(time base, [(pts, duration), ...]) of the packets of a video, as the bundled ffmpeg demuxes them."""
    import imageio_ffmpeg

    # -copyts: keep the file's own timestamps (ffmpeg otherwise shifts the input to start at 0).
    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-copyts", "-i", str(path), "-c", "copy",
                          "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    num, den = re.search(r"#tb 0: (\d+)/(\d+)", out).groups()
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    return Fraction(int(num), int(den)), [(int(row[2]), int(row[3])) for row in rows]


# --------------------------------------------------------------------------- devices and FIFOs


def test_a_fifo_is_streamed_into_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = bytearray()

    def reader() -> None:
        with open(fifo, "rb") as handle:
            received.extend(handle.read())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    frames = synthetic_frames(6, 16, 16)
    try:
        assert infer_format(fifo, None) == "mp4"  # no suffix: a stream gets MP4, not a folder of frames
        write_video(fifo, frames, fps=8)
    finally:
        if not received and thread.is_alive():
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # release a reader still waiting for a writer
        thread.join(timeout=60)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left next to it
    copy = tmp_path / "got.mp4"
    copy.write_bytes(received)
    assert read_all(copy).shape == frames.shape


def test_atomic_writes_refuse_to_rename_over_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(VgenError, match="is a FIFO"):
        with atomic_path(fifo):
            pass
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.mp4"
    real.write_bytes(b"old")
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    write_video(link, synthetic_frames(4, 16, 16), fps=8)
    assert link.is_symlink() and read_all(real).shape == (4, 16, 16, 3)


@needs_root
def test_sample_to_a_character_device_streams_into_it(tmp_path: Path) -> None:
    null = make_device(tmp_path / "null", 1, 3)
    res = vgen("sample", "-o", str(null), *STEPS, cwd=tmp_path)  # no --format: MP4, not a folder of PNGs
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout == b""
    for fmt in ("mp4", "gif"):
        write_video(null, synthetic_frames(4, 16, 16), fps=8, format=fmt)
    info = os.stat(null)
    assert stat.S_ISCHR(info.st_mode) and (os.major(info.st_rdev), os.minor(info.st_rdev)) == (1, 3)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".vgen-home"] == ["null"]  # no temporary file left
    with pytest.raises(VgenError, match="folder of frames cannot be written to the character device"):
        VideoWriter(null, fps=8, format="frames")


@needs_root
def test_a_block_device_is_refused(tmp_path: Path) -> None:
    disk = make_device(tmp_path / "disk", 7, 0, block=True)
    with pytest.raises(VgenError, match="is a block device"):
        VideoWriter(disk, fps=8)
    with pytest.raises(VgenError, match="is a block device"):
        with atomic_path(disk):
            pass
    assert stat.S_ISBLK(os.stat(disk).st_mode)


# --------------------------------------------------------------------------- stdout and stdin


@needs_root
@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_a_full_stdout_is_an_error(tmp_path: Path, fmt: str) -> None:
    full = make_device(tmp_path / "full", 1, 7)
    with open(full, "wb") as out:
        res = vgen("sample", "-o", "-", "--format", fmt, *STEPS, cwd=tmp_path, stdout=out)
    assert res.returncode == 2
    assert "disk full while writing stdout" in one_line(res)


@needs_root
@pytest.mark.parametrize("command", [["sample", "-o", "out.mp4", "--json", "-q", *STEPS], ["models", "--json"]])
def test_a_json_summary_to_a_full_stdout_is_an_error(tmp_path: Path, command: list[str]) -> None:
    full = make_device(tmp_path / "full", 1, 7)
    with open(full, "wb") as out:
        res = vgen(*command, cwd=tmp_path, stdout=out)
    assert res.returncode == 2
    assert "disk full" in one_line(res)


def test_a_file_size_limit_on_stdout_is_an_error(tmp_path: Path) -> None:
    """Without root: stdout is a file that may not grow past 1 kB (EFBIG), the video is bigger."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    with open(tmp_path / "out.mp4", "wb") as out:
        res = vgen("sample", "-o", "-", "--format", "mp4", "--frames", "16", *STEPS, cwd=tmp_path, stdout=out,
                   preexec=limit)
    assert res.returncode == 2
    assert "cannot write stdout" in one_line(res)


@pytest.mark.parametrize("args", [["-o", "-", "--format", "mp4"], ["-o", "x.mp4", "--json"]])
def test_a_closed_stdout_is_one_line_before_any_work(tmp_path: Path, args: list[str]) -> None:
    res = vgen("sample", *args, *STEPS, cwd=tmp_path, stdout=None, preexec=lambda: os.close(1))
    assert res.returncode == 2
    assert "stdout is closed" in one_line(res)
    assert not (tmp_path / "x.mp4").exists()


def test_a_closed_stdin_is_not_called_a_terminal(tmp_path: Path) -> None:
    res = vgen("extend", "-", "-o", "x.mp4", *STEPS, cwd=tmp_path, preexec=lambda: os.close(0))
    assert res.returncode == 2
    err = one_line(res)
    assert "stdin is closed" in err and "terminal" not in err


def test_mp4_on_stdout_starts_at_zero(tmp_path: Path, capfdbinary: pytest.CaptureFixture) -> None:
    write_video("-", synthetic_frames(12, 16, 16), fps=8, format="mp4")
    path = tmp_path / "piped.mp4"
    path.write_bytes(capfdbinary.readouterr().out)
    base, packets = packet_times(path)
    assert len(packets) == 12
    assert min(pts for pts, _ in packets) == 0  # was 2 frames (0.25 s) in: the B-frame delay


# --------------------------------------------------------------------------- GIF timing


def start_cs(k: int, fps: int) -> int:
    return floor(Fraction(100 * k, fps) + Fraction(1, 2))


@pytest.mark.parametrize("fps,count", [(8, 16), (8, 7), (24, 33), (30, 16)])
def test_gif_frames_start_on_the_exact_centisecond(tmp_path: Path, fps: int, count: int) -> None:
    path = tmp_path / "t.gif"
    write_video(path, synthetic_frames(count, 16, 16), fps=fps)
    base, packets = packet_times(path)
    assert base == Fraction(1, 100) and len(packets) == count
    assert [pts for pts, _ in packets] == [start_cs(k, fps) for k in range(count)]
    last_pts, last_duration = packets[-1]
    assert last_pts + last_duration == start_cs(count, fps)  # N frames last round(100 N / fps) cs
    if fps == 8:
        assert {d for _, d in packets} == {12, 13}


def test_gif_on_stdout_has_the_same_exact_timing(tmp_path: Path, capfdbinary: pytest.CaptureFixture) -> None:
    write_video("-", synthetic_frames(16, 16, 16), fps=8, format="gif")
    path = tmp_path / "piped.gif"
    path.write_bytes(capfdbinary.readouterr().out)
    _, packets = packet_times(path)
    assert sum(d for _, d in packets) == 200


# --------------------------------------------------------------------------- never overwrite silently


def test_sample_refuses_an_existing_output_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out.mp4").write_bytes(b"mine")
    # The model does not exist: refusing the output first proves nothing was loaded or generated.
    res = vgen("sample", "--model", "nosuch", "-o", "out.mp4", *STEPS, cwd=tmp_path)
    assert res.returncode == 2
    err = one_line(res)
    assert "'out.mp4' already exists" in err and "--overwrite" in err
    assert (tmp_path / "out.mp4").read_bytes() == b"mine"
    res = vgen("sample", "-o", "out.mp4", "-y", *STEPS, cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    assert read_all(tmp_path / "out.mp4").shape[0] == 16  # one clip of the bundled default model


def test_every_output_of_num_k_is_checked_up_front(tmp_path: Path) -> None:
    (tmp_path / "run-s1.mp4").write_bytes(b"mine")
    res = vgen("sample", "--num", "2", "-o", "run.mp4", *STEPS, cwd=tmp_path)
    assert res.returncode == 2 and "'run-s1.mp4' already exists" in one_line(res)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["run-s1.mp4"]


def test_extend_names_its_output_after_the_input_and_never_overwrites(tmp_path: Path) -> None:
    write_video(tmp_path / "clip.mp4", synthetic_frames(16, 32, 32), fps=8)  # one clip of the default model
    (tmp_path / "extended.mp4").write_bytes(b"an older result")
    res = vgen("extend", "clip.mp4", "--frames", "16", *STEPS, cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    assert read_all(tmp_path / "clip-extended.mp4").shape[0] == 32
    assert (tmp_path / "extended.mp4").read_bytes() == b"an older result"
    before = (tmp_path / "clip-extended.mp4").read_bytes()
    res = vgen("extend", "clip.mp4", "--frames", "16", "--seed", "1", *STEPS, cwd=tmp_path)
    assert res.returncode == 2 and "'clip-extended.mp4' already exists" in one_line(res)
    assert (tmp_path / "clip-extended.mp4").read_bytes() == before


def test_default_output_names() -> None:
    from vgen.io.output import derived_output

    assert derived_output("videos/clip.mp4", "extended", None) == "clip-extended.mp4"
    assert derived_output("clip.mov", "interpolated", "gif") == "clip-interpolated.gif"
    assert derived_output("shots/", "extended", "frames") == "shots-extended"
    assert derived_output("-", "extended", None) == "extended.mp4"


def test_a_new_output_folder_is_not_left_behind_on_an_early_error(tmp_path: Path) -> None:
    res = vgen("sample", "--model", "nosuch", "-o", "new/", *STEPS, cwd=tmp_path)
    assert res.returncode == 2
    one_line(res)
    assert not (tmp_path / "new").exists()


def test_removing_new_folders_keeps_what_existed_or_holds_files(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    with pytest.raises(RuntimeError):
        with removing_new_folders([tmp_path / "old" / "a", tmp_path / "b" / "c", tmp_path / "d"]):
            (tmp_path / "d" / "done.mp4").write_bytes(b"x")
            raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "old"]
    assert list((tmp_path / "old").iterdir()) == []


def test_data_synth_refuses_existing_videos(tmp_path: Path) -> None:
    (tmp_path / "toy" / "bouncing").mkdir(parents=True)
    (tmp_path / "toy" / "bouncing" / "bouncing_0000.mp4").write_bytes(b"mine")
    args = ["data", "synth", "toy", "--num", "1", "--frames", "2", "--size", "8"]
    res = vgen(*args, cwd=tmp_path)
    assert res.returncode == 2 and "already exists" in one_line(res)
    assert (tmp_path / "toy" / "bouncing" / "bouncing_0000.mp4").read_bytes() == b"mine"
    res = vgen(*args, "--overwrite", cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode()
    assert read_all(tmp_path / "toy" / "bouncing" / "bouncing_0000.mp4").shape == (2, 8, 8, 3)


# --------------------------------------------------------------------------- errors name the user's path


def test_errors_name_the_users_path_not_the_temporary_file() -> None:
    with pytest.raises(VgenError) as info:
        write_video("/proc/vgen-out.mp4", synthetic_frames(2, 16, 16), fps=8)
    assert "'/proc/vgen-out.mp4'" in str(info.value) and ".part" not in str(info.value)


def test_data_synth_under_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    res = vgen("data", "synth", "notes.txt/toy", "--num", "1", "--frames", "2", cwd=tmp_path)
    assert res.returncode == 2
    assert "'notes.txt' in 'notes.txt/toy' is a file" in one_line(res)


def _can_mount_privately() -> bool:
    if not ROOT or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs -o ro tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_privately(), reason="needs root and unshare to mount a read-only file system")
@pytest.mark.parametrize("sub", ["", "/toy"])
def test_data_synth_on_a_read_only_file_system_is_one_line(tmp_path: Path, sub: str) -> None:
    """chmod does not stop root, so the folder is a read-only tmpfs mounted in a private mount namespace."""
    folder = tmp_path / "ro"
    folder.mkdir()
    script = 'mount -t tmpfs -o ro tmpfs "$1" && exec "$2" -m vgen data synth "$1$3" --num 1 --frames 2 --size 8'
    res = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder),
                          sys.executable, sub], capture_output=True, timeout=300,
                         env={**os.environ, "NO_COLOR": "1"})
    assert res.returncode == 2
    assert f"output folder {str(folder)!r} is not writable" in one_line(res)
    assert list(folder.iterdir()) == []
