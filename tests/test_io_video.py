"""Video reading and writing: round trips per format, fitting, pipes and constant-memory streaming."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import psnr, synthetic_frames

from vgen.io.video import (VideoWriter, frames_to_tensor, open_video, read_all, tensor_to_frames,
                           write_video)


def gif_timing(data: bytes) -> tuple[list[int], int | None]:
    """Walk a GIF's blocks: per-frame delays in centiseconds and the NETSCAPE loop count."""
    assert data[:6] in (b"GIF87a", b"GIF89a")
    pos = 13
    if data[10] & 0x80:
        pos += 3 * 2 ** ((data[10] & 7) + 1)
    delays: list[int] = []
    loop = None
    frames = 0

    def skip_sub_blocks(p: int) -> int:
        while data[p]:
            p += data[p] + 1
        return p + 1

    while data[pos] != 0x3B:
        if data[pos] == 0x21:
            label = data[pos + 1]
            if label == 0xF9:
                delays.append(int.from_bytes(data[pos + 4:pos + 6], "little"))
            elif label == 0xFF and data[pos + 3:pos + 14] == b"NETSCAPE2.0":
                loop = int.from_bytes(data[pos + 16:pos + 18], "little")
            pos = skip_sub_blocks(pos + 2)
        elif data[pos] == 0x2C:
            frames += 1
            flags = data[pos + 9]
            pos += 10
            if flags & 0x80:
                pos += 3 * 2 ** ((flags & 7) + 1)
            pos = skip_sub_blocks(pos + 1)
        else:
            raise AssertionError(f"unexpected GIF block 0x{data[pos]:02x}")
    assert frames == len(delays)
    return delays, loop


def test_mp4_round_trip_keeps_quality_and_plays_in_browsers(tmp_path, ffmpeg_exe):
    clip = synthetic_frames(24, 48, 64)
    out = tmp_path / "clip.mp4"
    write_video(out, clip, fps=8)
    back = read_all(out)
    assert back.shape == clip.shape
    assert psnr(back, clip) >= 35.0
    # Browser-playable: H.264 yuv420p, moov index before the media data (+faststart).
    log = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(out)], capture_output=True, text=True).stderr
    assert "h264" in log and "yuv420p" in log
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    reader = open_video(out)
    assert (reader.width, reader.height, reader.fps, reader.num_frames) == (64, 48, 8.0, 24)


def test_mp4_crf_controls_quality(tmp_path):
    clip = synthetic_frames(16, 48, 64)
    write_video(tmp_path / "hi.mp4", clip, fps=8, crf=10)
    write_video(tmp_path / "lo.mp4", clip, fps=8, crf=40)
    assert psnr(read_all(tmp_path / "hi.mp4"), clip) > psnr(read_all(tmp_path / "lo.mp4"), clip) + 5


def test_mp4_odd_size_is_padded_to_even(tmp_path):
    clip = synthetic_frames(8, 35, 51)
    write_video(tmp_path / "odd.mp4", clip, fps=8)
    back = read_all(tmp_path / "odd.mp4")
    assert back.shape == (8, 36, 52, 3)
    assert psnr(back[:, :35, :51], clip) >= 35.0


def test_gif_frame_count_timing_and_loop(tmp_path):
    clip = synthetic_frames(20, 48, 64)
    out = tmp_path / "clip.gif"
    write_video(out, clip, fps=8)
    delays, loop = gif_timing(out.read_bytes())
    assert len(delays) == 20
    assert all(abs(d - 12.5) <= 1 for d in delays)  # 1/8 s in centiseconds
    assert abs(sum(delays) - 250) <= 2
    assert loop == 0  # 0 = loop forever
    back = read_all(out)
    assert back.shape == clip.shape
    assert psnr(back, clip) >= 25.0  # 256-colour palette


def test_frame_folder_round_trip_is_exact(tmp_path):
    clip = synthetic_frames(12, 48, 64)
    write_video(tmp_path / "frames", clip, fps=8)
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{i:06d}.png" for i in range(12)]
    reader = open_video(tmp_path / "frames")
    assert (reader.fps, reader.num_frames) == (8.0, 12)
    np.testing.assert_array_equal(read_all(tmp_path / "frames"), clip)
    np.testing.assert_array_equal(read_all(tmp_path / "frames", start=3, max_frames=4), clip[3:7])
    assert open_video(tmp_path / "frames", fps=24).fps == 24.0


def test_frame_folder_natural_sort_gray_and_rgba_become_rgb(tmp_path, ffmpeg_exe):
    folder = tmp_path / "shots"
    folder.mkdir()
    values = [10, 200, 90]
    # Names that sort wrongly as plain strings: img2 < img10 only in natural order.
    for name, value, pix in zip(["img2.png", "img10.png", "img1.jpg"], values, ["gray", "rgba", "rgb24"]):
        channels = {"gray": 1, "rgba": 4, "rgb24": 3}[pix]
        data = np.full((16, 24, channels), value, np.uint8)
        subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", pix, "-s", "24x16",
                        "-i", "-", "-frames:v", "1", str(folder / name)], input=data.tobytes(), check=True)
    frames = read_all(folder)
    assert frames.shape == (3, 16, 24, 3)
    np.testing.assert_allclose(frames.reshape(3, -1).mean(axis=1), [90, 10, 200], atol=2)


def test_read_fits_fps_and_centre_crop_on_non_square_video_with_audio(tmp_path, ffmpeg_exe):
    # 640x272 at 29.97 fps with 5.1 audio: red | grey | blue, the grey (the middle half, wider than
    # the centred 272x272 square) encoding the frame index.
    n, w, h = 60, 640, 272
    frames = np.zeros((n, h, w, 3), np.uint8)
    frames[:, :, : w // 4] = (255, 0, 0)
    frames[:, :, 3 * w // 4:] = (0, 0, 255)
    frames[:, :, w // 4: 3 * w // 4] = (60 + 3 * np.arange(n))[:, None, None, None]
    src = tmp_path / "wide.mp4"
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-framerate", "30000/1001", "-i", "-", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
                    "-shortest", "-c:v", "libx264", "-crf", "10", "-c:a", "aac", "-ac", "6", str(src)],
                   input=frames.tobytes(), check=True)
    reader = open_video(src, fps=8, size=32)
    assert (reader.source_width, reader.source_height) == (640, 272)
    assert abs(reader.source_fps - 29.97) < 0.01
    assert (reader.width, reader.height, reader.fps) == (32, 32, 8.0)
    out = read_all(src, fps=8, size=32)
    assert out.shape[1:] == (32, 32, 3)
    assert abs(len(out) - round(n / 29.97 * 8)) <= 1
    # Centre crop keeps only the grey band; its level says which source frame was picked.
    assert np.abs(out.astype(int) - out.mean(axis=(1, 2, 3), keepdims=True)).max() <= 12
    # Output frame k shows the latest source frame at or before k/8 s (sample and hold).
    picked = (out.mean(axis=(1, 2, 3)) - 60) / 3
    expected = np.floor(np.arange(len(out)) / 8 * (30000 / 1001))
    assert np.abs(picked - expected).max() <= 0.7
    squashed = read_all(src, fps=8, size=(32, 48), fit="squash", start=5, max_frames=4)
    assert squashed.shape == (4, 32, 48, 3)
    assert squashed[:, :, :10, 0].mean() > 200 and squashed[:, :, -10:, 2].mean() > 200
    np.testing.assert_allclose((squashed[:, :, 24].mean(axis=(1, 2)) - 60) / 3, expected[5:9], atol=0.7)


@pytest.mark.parametrize("name,size,fps", [("qcif.avi", (144, 176), 29.97), ("clip.mov", (48, 64), 8),
                                           ("clip.mkv", (40, 30), 12), ("clip.gif", (48, 64), 10),
                                           ("clip.webm", (48, 64), 10)])
def test_reads_common_containers(make_clip_file, name, size, fps):
    path = make_clip_file(name, t=10, h=size[0], w=size[1], fps=fps)
    reader = open_video(path)
    assert (reader.height, reader.width) == size
    assert abs(reader.fps - fps) < 0.01
    frames = read_all(path)
    assert frames.shape == (10, *size, 3)
    assert psnr(frames, synthetic_frames(10, *size)) > (18 if name.endswith(".gif") else 25)


def test_phone_rotation_and_anamorphic_pixels_give_display_orientation(make_clip_file, ffmpeg_exe, tmp_path):
    src = make_clip_file("clip.mp4", t=6, h=48, w=64)
    portrait, wide = tmp_path / "portrait.mp4", tmp_path / "wide.mkv"
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-display_rotation", "90", "-i", str(src), "-c", "copy",
                    str(portrait)], check=True)
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-i", str(src), "-vf", "setsar=2/1", "-c:v", "libx264",
                    str(wide)], check=True)
    assert read_all(portrait).shape == (6, 64, 48, 3)
    # Rotating back (90 degrees anticlockwise display rotation) recovers the stored frames.
    assert psnr(np.rot90(read_all(portrait), k=-1, axes=(1, 2)), synthetic_frames(6, 48, 64)) > 30
    assert read_all(wide).shape == (6, 48, 128, 3)


@pytest.mark.parametrize("fps", [None, 8, 12, 24])
def test_num_frames_matches_what_is_read(make_clip_file, fps):
    path = make_clip_file("ntsc.mp4", t=30, h=16, w=16, fps=29.97)
    reader = open_video(path, fps=fps)
    assert reader.num_frames == sum(len(chunk) for chunk in reader.chunks(7))


def test_tensor_conversion_round_trip():
    clip = synthetic_frames(4, 16, 16)
    video = frames_to_tensor(clip)
    assert video.shape == (1, 3, 4, 16, 16)
    assert float(video.min()) >= -1 and float(video.max()) <= 1
    np.testing.assert_array_equal(tensor_to_frames(video), clip)


PIPE_WRITER = textwrap.dedent("""
    from conftest import synthetic_frames
    from vgen.io import VideoWriter
    clip = synthetic_frames(16, 48, 64)
    with VideoWriter("-", fps=8, format="mp4") as writer:
        writer.write(clip[:7])
        writer.write(clip[7:])
""")
PIPE_READER = textwrap.dedent("""
    import sys
    from conftest import psnr, synthetic_frames
    from vgen.io import open_video
    reader = open_video("-")
    frames = [chunk for chunk in reader.chunks(5)]
    import numpy as np
    video = np.concatenate(frames)
    print(video.shape, reader.fps, round(psnr(video, synthetic_frames(16, 48, 64)), 1))
""")


def test_stdin_to_stdout_through_a_real_pipe(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent), "TMPDIR": str(tmp_path)}
    writer = subprocess.Popen([sys.executable, "-c", PIPE_WRITER], stdout=subprocess.PIPE, env=env)
    reader = subprocess.run([sys.executable, "-c", PIPE_READER], stdin=writer.stdout, capture_output=True,
                            text=True, env=env, timeout=60)
    writer.stdout.close()
    assert writer.wait(timeout=60) == 0
    assert reader.returncode == 0, reader.stderr
    shape, fps, quality = reader.stdout.rsplit(" ", 2)
    assert shape.strip() == "(16, 48, 64, 3)" and float(fps) == 8.0
    assert float(quality) >= 35.0
    assert list(tmp_path.iterdir()) == []  # the stdin spool file was deleted


def test_gif_to_stdout(tmp_path):
    script = "from conftest import synthetic_frames\nfrom vgen.io import write_video\n" \
             "write_video('-', synthetic_frames(6, 16, 16), fps=5, format='gif')"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)})
    assert result.returncode == 0
    delays, loop = gif_timing(result.stdout)
    assert delays == [20] * 6 and loop == 0


def test_streaming_read_keeps_memory_bounded(tmp_path, ffmpeg_exe):
    n = 3000
    src = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=25",
                    "-frames:v", str(n), "-c:v", "libx264", "-preset", "ultrafast", str(src)], check=True)
    full_size = n * 64 * 64 * 3  # 36.9 MB decoded
    tracemalloc.start()
    try:
        count = 0
        for chunk in open_video(src).chunks(32):
            count += len(chunk)
            assert chunk.shape[1:] == (64, 64, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < full_size / 20


def test_stopping_early_ends_ffmpeg(make_clip_file):
    path = make_clip_file("clip.mp4", t=40)
    chunks = open_video(path).chunks(4)
    first = next(chunks)
    chunks.close()
    assert first.shape == (4, 48, 64, 3)


def test_writer_streams_chunks(tmp_path):
    clip = synthetic_frames(30, 32, 32)
    with VideoWriter(tmp_path / "s.mp4", fps=10) as writer:
        for i in range(0, 30, 7):
            writer.write(clip[i:i + 7])
        writer.write(clip[:0])  # an empty chunk is harmless
    assert writer.frames_written == 30
    assert psnr(read_all(tmp_path / "s.mp4"), clip) >= 35.0
