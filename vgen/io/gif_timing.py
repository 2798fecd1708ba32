"""Exact GIF frame timing: GIF delays are whole centiseconds, so frame k is set to start at round(100·k/fps) cs.

At 8 fps the delays then alternate 13, 12, 13, 12 ... cs and any N frames last round(100·N/fps) cs,
so the clip plays at exactly 8 fps on average. ffmpeg's GIF muxer rounds the start times the same
way but repeats the previous delay for the last frame, which makes a short loop up to 1 cs too long
(8 frames at 8 fps lasted 1.01 s); rewriting every delay here fixes that and pins the rule.
"""

from __future__ import annotations

import mmap
import os
from fractions import Fraction
from math import floor

_EXTENSION, _IMAGE, _TRAILER, _GRAPHIC_CONTROL = 0x21, 0x2C, 0x3B, 0xF9


def start_centiseconds(index: int, rate: Fraction) -> int:
    """When frame ``index`` starts at ``rate`` frames per second, in whole centiseconds (halves round up)."""
    return floor(Fraction(100 * index) / rate + Fraction(1, 2))


def _color_table_size(flags: int) -> int:
    return 3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0


def _skip_sub_blocks(data: mmap.mmap, pos: int) -> int:
    """Position just after a chain of data sub-blocks (length byte, bytes ..., ending with a zero length)."""
    while data[pos]:
        pos += data[pos] + 1
    return pos + 1


def retime_gif(path: str | os.PathLike[str], rate: Fraction) -> int:
    """Rewrite, in place, the delay of every frame of the GIF at ``path`` for ``rate`` fps; returns the frame count.

    Walks the GIF block structure (header, colour tables, extensions, images, trailer) and sets the
    delay field of each frame's graphic control extension to
    ``start_centiseconds(k + 1) - start_centiseconds(k)``. A malformed file (which ffmpeg never
    writes) raises ``ValueError``; running past the end of the data raises ``IndexError``.
    """
    with open(path, "r+b") as handle, mmap.mmap(handle.fileno(), 0) as data:
        if data[:6] not in (b"GIF87a", b"GIF89a"):
            raise ValueError("not a GIF file")
        pos = 13 + _color_table_size(data[10])
        frames = 0
        while data[pos] != _TRAILER:
            if data[pos] == _EXTENSION:
                if data[pos + 1] == _GRAPHIC_CONTROL:
                    delay = start_centiseconds(frames + 1, rate) - start_centiseconds(frames, rate)
                    data[pos + 4:pos + 6] = min(delay, 0xFFFF).to_bytes(2, "little")
                    frames += 1
                pos = _skip_sub_blocks(data, pos + 2)
            elif data[pos] == _IMAGE:
                pos = _skip_sub_blocks(data, pos + 10 + _color_table_size(data[pos + 9]) + 1)
            else:
                raise ValueError(f"malformed GIF: unknown block {data[pos]:#x} at byte {pos}")
        data.flush()
    return frames
