"""Bad video inputs and outputs: each gives a one-line VgenError that names the problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import synthetic_frames

from vgen.errors import VgenError
from vgen.io.video import VideoWriter, open_video, read_all, write_video


def one_line_error(call, *args, **kwargs) -> str:
    """Run ``call`` expecting a VgenError; return its message after checking it is one line."""
    with pytest.raises(VgenError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message and 10 < len(message) < 400
    assert "ffmpeg version" not in message and "Stream #" not in message
    return message


def test_missing_file():
    assert "not found" in one_line_error(open_video, "/nonexistent/clip.mp4")


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert "empty" in one_line_error(open_video, tmp_path / "empty.mp4")


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("these are my holiday notes, not a video\n" * 20)
    message = one_line_error(open_video, tmp_path / "notes.mp4")
    assert "notes.mp4" in message and "not a video" in message


def test_truncated_mp4(tmp_path):
    path = tmp_path / "clip.mp4"
    write_video(path, synthetic_frames(32, 48, 64, seed=3), fps=8)
    data = path.read_bytes()
    # Cut inside the media data (index intact) and inside the header (index lost).
    (tmp_path / "half.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "head.mp4").write_bytes(data[:400])
    assert "truncated" in one_line_error(read_all, tmp_path / "half.mp4")
    assert "truncated" in one_line_error(read_all, tmp_path / "head.mp4")


def test_folder_without_frames(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    assert "no PNG/JPG frames" in one_line_error(open_video, tmp_path)


def test_video_with_zero_frames(tmp_path, ffmpeg_exe):
    import subprocess

    path = tmp_path / "zero.avi"
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48",
                    "-frames:v", "0", "-c:v", "mjpeg", str(path)], check=True)
    assert "no frames" in one_line_error(read_all, path)


def test_audio_only_file(tmp_path, ffmpeg_exe):
    import subprocess

    path = tmp_path / "song.m4a"
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine", "-t", "0.5", str(path)],
                   check=True)
    assert "no video stream" in one_line_error(open_video, path)


def test_start_past_the_end(make_clip_file):
    assert "smaller start" in one_line_error(read_all, make_clip_file(t=8), start=50)


def test_bad_fit_options(make_clip_file):
    path = make_clip_file(t=4)
    assert "fit" in one_line_error(open_video, path, fit="stretch")
    assert "frame rate" in one_line_error(open_video, path, fps=0)


def test_output_folder_missing(tmp_path):
    message = one_line_error(write_video, tmp_path / "nope" / "out.mp4", synthetic_frames(2, 16, 16), fps=8)
    assert str(tmp_path / "nope") in message and "does not exist" in message


def test_output_folder_not_writable(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK) or os.geteuid() == 0:  # root ignores permissions; /sys is read-only
        folder = Path("/sys")
    try:
        message = one_line_error(write_video, folder / "out.mp4", synthetic_frames(2, 16, 16), fps=8)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert str(folder) in message and "not writable" in message


def test_stdout_needs_a_known_format():
    assert "--format" in one_line_error(VideoWriter, "-", fps=8)
    assert "unknown output format" in one_line_error(VideoWriter, "-", fps=8, format="avi")
    assert "stdout" in one_line_error(VideoWriter, "-", fps=8, format="frames")
    assert ".webm" in one_line_error(VideoWriter, "out.webm", fps=8)


def test_frame_folder_output_never_replaces_foreign_files(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"precious")
    assert "other files" in one_line_error(write_video, folder, synthetic_frames(2, 16, 16), fps=8)
    assert (folder / "holiday.jpg").read_bytes() == b"precious"
