"""Deterministic synthetic videos with real motion, for offline demos, tests and benchmarks.

Two generators, both pure functions of a seed and vectorised over (T, H, W) in numpy:

- ``bouncing``: 1-3 coloured circles and (rotating) squares moving with constant velocity, reflected
  elastically at the walls, optionally pulled down by gravity, drawn with anti-aliased edges over a
  per-video background colour.
- ``sky``: a vertical sky gradient (blue, sometimes with a warm horizon) under two layers of smooth
  procedural clouds that drift with a per-video wind (the upper layer slower, for parallax), evolve
  slowly, and a slow global brightness change.

Geometry is defined in continuous units where the shorter frame side is 1, and every random draw
is independent of the output size, so one seed gives the same scene at any resolution. Frames are
uint8 ``(T, H, W, 3)``, the I/O-edge format (``vgen.data.item.make_item`` turns them into training
tensors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

GeneratorKind = Literal["bouncing", "sky"]
SynthKind = Literal["bouncing", "sky", "mixed"]
GENERATOR_KINDS: tuple[GeneratorKind, ...] = ("bouncing", "sky")
Seed = int | Sequence[int]


def frame_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(H, W)`` from an int (square) or an ``(H, W)`` pair."""
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {size}")
    return int(height), int(width)


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB (all in [0, 1]); returns shape ``h.shape + (3,)``."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * np.asarray(h)[..., None]) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return np.asarray(v)[..., None] * (1.0 - np.asarray(s)[..., None] * ramp)


def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Pixel-centre coordinates in scene units (shorter side = 1) and pixels per unit."""
    pixels_per_unit = float(min(height, width))
    y = ((np.arange(height) + 0.5) / pixels_per_unit).astype(np.float32)
    x = ((np.arange(width) + 0.5) / pixels_per_unit).astype(np.float32)
    return y, x, pixels_per_unit


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Round float RGB in [0, 1] to uint8, reusing ``rgb`` (a scratch buffer) to save memory."""
    rgb *= 255.0
    rgb += 0.5
    np.clip(rgb, 0.0, 255.0, out=rgb)
    return rgb.astype(np.uint8, order="C")


# --------------------------------------------------------------------------------------------------
# Bouncing objects
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BouncingScene:
    """A simulated bouncing-objects scene; positions are in units where the shorter side is 1.

    ``centre`` is ``(T, n, 2)`` as (y, x); ``angle`` is ``(T, n)`` radians (squares rotate);
    ``extent`` is the scene's (height, width) in units.
    """

    background: np.ndarray
    shapes: tuple[Literal["circle", "square"], ...]
    radius: np.ndarray
    colour: np.ndarray
    centre: np.ndarray
    angle: np.ndarray
    gravity: float
    extent: tuple[float, float]


def simulate_bouncing(
    rng: np.random.Generator,
    frames: int,
    aspect: float = 1.0,
    *,
    num_objects: int | None = None,
) -> BouncingScene:
    """Simulate 1-3 objects with velocity, optional gravity and elastic wall reflection.

    ``aspect`` is width / height. Each step applies semi-implicit Euler (v += g, p += v) and then
    reflects any coordinate that left ``[r, extent - r]`` back inside, flipping that velocity, so
    every object stays fully inside the frame.
    """
    extent = np.array([1.0, aspect]) if aspect >= 1.0 else np.array([1.0 / aspect, 1.0])
    n = int(num_objects) if num_objects is not None else int(rng.integers(1, 4))
    if n < 1:
        raise ValueError(f"num_objects must be >= 1, got {num_objects}")

    bg_hue, bg_sat, bg_val = rng.uniform(0, 1), rng.uniform(0.1, 0.45), rng.uniform(0.15, 0.6)
    background = _hsv_to_rgb(np.array(bg_hue), np.array(bg_sat), np.array(bg_val))
    # Object hues are spread around the wheel and away from the background's so objects stay visible.
    hues = (bg_hue + 0.25 + 0.5 * (np.arange(n) + rng.uniform(0, 1, n)) / n) % 1.0
    colour = _hsv_to_rgb(hues, rng.uniform(0.6, 1.0, n), rng.uniform(0.8, 1.0, n))
    shapes = tuple("circle" if s else "square" for s in rng.uniform(0, 1, n) < 0.5)
    radius = rng.uniform(0.08, 0.16, n)

    low, high = radius[:, None], extent[None, :] - radius[:, None]
    position = low + rng.uniform(0, 1, (n, 2)) * (high - low)
    speed = rng.uniform(0.015, 0.05, n)
    heading = rng.uniform(0, 2 * np.pi, n)
    velocity = np.stack([np.sin(heading), np.cos(heading)], axis=1) * speed[:, None]
    gravity = float(rng.uniform(0.0008, 0.002)) if rng.uniform() < 0.5 else 0.0
    angle0, spin = rng.uniform(0, np.pi / 2, n), rng.uniform(-0.08, 0.08, n)

    centre = np.empty((frames, n, 2))
    for t in range(frames):
        centre[t] = position
        velocity[:, 0] += gravity
        position = position + velocity
        below, above = position < low, position > high
        position = np.where(below, 2 * low - position, position)
        position = np.where(above, 2 * high - position, position)
        velocity = np.where(below | above, -velocity, velocity)
        # A step longer than the free span could leave the box after one reflection; clamp it.
        position = np.clip(position, low, high)
    angle = angle0[None, :] + spin[None, :] * np.arange(frames)[:, None]
    return BouncingScene(
        background=background, shapes=shapes, radius=radius, colour=colour, centre=centre,
        angle=angle, gravity=gravity, extent=(float(extent[0]), float(extent[1])),
    )


def _patch_axis(
    centre: np.ndarray, reach: float, pixels_per_unit: float, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pixel indices ``(T, P)`` of a window of +-``reach`` pixels around ``centre`` (units)
    on one axis, clamped inside the frame, and the offsets of those pixel centres from ``centre``."""
    size = min(length, int(np.ceil(2 * reach)) + 2)
    start = np.clip(np.floor(centre * pixels_per_unit - size / 2 + 0.5).astype(np.int64), 0, length - size)
    index = start[:, None] + np.arange(size)[None, :]
    offset = ((index + 0.5) / pixels_per_unit - centre[:, None]).astype(np.float32)
    return index, offset


def render_bouncing(scene: BouncingScene, size: int | tuple[int, int]) -> np.ndarray:
    """Draw a simulated scene as uint8 ``(T, H, W, 3)``.

    Coverage is ``clip(0.5 - d, 0, 1)`` with ``d`` the signed distance to the shape's edge in
    pixels: a one-pixel anti-aliased edge. Objects are composited in order (later ones on top).
    """
    height, width = frame_size(size)
    y, x, ppu = _pixel_grid(height, width)
    frames = scene.centre.shape[0]
    # A faint vertical gradient keeps the background from being a flat field.
    shade = 1.0 + 0.15 * (0.5 - y / y[-1])
    video = np.broadcast_to(
        (scene.background[None, :] * shade[:, None]).astype(np.float32)[None, :, None, :],
        (frames, height, width, 3),
    ).copy()
    steps = np.arange(frames)[:, None, None]
    for i, shape in enumerate(scene.shapes):
        # Only a patch around the object can be covered: draw there instead of the whole frame.
        reach = scene.radius[i] * (np.sqrt(2.0) if shape == "square" else 1.0) * ppu + 1.0
        rows, dy = _patch_axis(scene.centre[:, i, 0], reach, ppu, height)
        cols, dx = _patch_axis(scene.centre[:, i, 1], reach, ppu, width)
        dy, dx = dy[:, :, None], dx[:, None, :]
        if shape == "circle":
            distance = np.sqrt(dy * dy + dx * dx)
        else:
            cos = np.cos(scene.angle[:, i]).astype(np.float32)[:, None, None]
            sin = np.sin(scene.angle[:, i]).astype(np.float32)[:, None, None]
            distance = np.maximum(np.abs(cos * dx + sin * dy), np.abs(cos * dy - sin * dx))
        alpha = np.clip(0.5 - (distance - np.float32(scene.radius[i])) * ppu, 0.0, 1.0)[..., None]
        index = (steps, rows[:, :, None], cols[:, None, :])
        patch = video[index]
        video[index] = patch + alpha * (scene.colour[i].astype(np.float32) - patch)
    return _to_uint8(video)


def bouncing_video(
    seed: Seed, frames: int, size: int | tuple[int, int], *, num_objects: int | None = None
) -> np.ndarray:
    """A bouncing-objects video, uint8 ``(T, H, W, 3)``; the same seed gives the same video."""
    height, width = frame_size(size)
    scene = simulate_bouncing(np.random.default_rng(seed), frames, width / height, num_objects=num_objects)
    return render_bouncing(scene, (height, width))


# --------------------------------------------------------------------------------------------------
# Drifting sky
# --------------------------------------------------------------------------------------------------


def _cloud_field(
    rng: np.random.Generator,
    frames: int,
    y: np.ndarray,
    x: np.ndarray,
    pixels_per_unit: float,
    wind: np.ndarray,
    components: int = 48,
) -> np.ndarray:
    """Smooth noise ``(T, H, W)`` (unit variance) translated by ``wind`` units per frame.

    A random sum of plane waves ``sum_k a_k cos(2 pi k.(p - w t) + phi_k + omega_k t)`` with
    ``|a_k| ~ |k|^-1.4`` (a fractal, cloud-like spectrum) and small ``omega_k`` so the clouds also
    evolve. Each wave factorises over y and x, so all frames together are one matrix product.
    Waves above the pixel Nyquist rate are attenuated, so small renders do not alias.
    """
    magnitude = np.exp(rng.uniform(np.log(0.7), np.log(14.0), components))
    direction = rng.uniform(0, 2 * np.pi, components)
    k = np.stack([np.sin(direction), np.cos(direction)], axis=1) * magnitude[:, None]
    amplitude = magnitude**-1.4 * np.exp(-((magnitude / (0.35 * pixels_per_unit)) ** 2))
    amplitude /= np.sqrt(np.sum(magnitude**-2.8) / 2.0)
    phase0 = rng.uniform(0, 2 * np.pi, components)
    omega = rng.normal(0, 0.01, components)

    t = np.arange(frames)[:, None]
    phase_t = phase0[None, :] + omega[None, :] * t - 2 * np.pi * (k @ wind)[None, :] * t
    coeff = (amplitude[None, :] * np.exp(1j * phase_t)).astype(np.complex64)  # (T, K)
    wave_y = np.exp(2j * np.pi * y[:, None] * k[None, :, 0]).astype(np.complex64)  # (H, K)
    wave_x = np.exp(2j * np.pi * x[:, None] * k[None, :, 1]).astype(np.complex64)  # (W, K)
    rows = (coeff[:, None, :] * wave_y[None, :, :]).reshape(-1, components)  # (T*H, K)
    # Re(rows @ wave_x^T) as one real product: [Re, -Im] @ [Re; Im].
    field = np.concatenate([rows.real, -rows.imag], axis=1) @ np.concatenate([wave_x.real.T, wave_x.imag.T], axis=0)
    return field.reshape(frames, y.size, x.size)


def sky_video(
    seed: Seed, frames: int, size: int | tuple[int, int], *, wind_angle: float | None = None
) -> np.ndarray:
    """A drifting-clouds sky video, uint8 ``(T, H, W, 3)``; the same seed gives the same video.

    ``wind_angle`` (radians, 0 = towards +x, pi/2 = downwards) fixes the drift direction; by default
    it is drawn from the seed.
    """
    rng = np.random.default_rng(seed)
    height, width = frame_size(size)
    y, x, ppu = _pixel_grid(height, width)

    zenith = _hsv_to_rgb(np.array(rng.uniform(0.55, 0.66)), np.array(rng.uniform(0.45, 0.85)),
                         np.array(rng.uniform(0.45, 0.85)))
    warm = rng.uniform() < 0.3
    horizon = _hsv_to_rgb(np.array(rng.uniform(0.04, 0.11) if warm else rng.uniform(0.52, 0.6)),
                          np.array(rng.uniform(0.3, 0.6) if warm else rng.uniform(0.1, 0.3)),
                          np.array(rng.uniform(0.85, 1.0)))
    height_units = height / ppu
    mix = ((y / height_units) ** rng.uniform(0.8, 2.0))[:, None]
    sky = ((1 - mix) * zenith + mix * horizon).astype(np.float32).T  # (3, H)

    angle = rng.uniform(0, 2 * np.pi) if wind_angle is None else float(wind_angle)
    speed = rng.uniform(0.004, 0.012)
    wind = np.array([np.sin(angle), np.cos(angle)]) * speed
    coverage = rng.uniform(-0.3, 0.6)
    cloud_white = np.array([1.0, 1.0, 1.0]) if not warm else _hsv_to_rgb(np.array(0.08), np.array(0.15), np.array(1.0))

    white = cloud_white.astype(np.float32)[:, None, None, None]
    # Channel-first (3, T, H, W) while compositing: numpy broadcasts far faster over a leading axis.
    video: np.ndarray = sky[:, None, :, None]
    # Upper, slower and thinner layer first; the lower layer passes in front of it. Each layer is
    # "over" compositing: video = video (1 - a) + a cloud, with thick cores slightly grey.
    for wind_scale, opacity, offset in ((0.55, 0.6, 0.4), (1.0, 1.0, 0.0)):
        field = _cloud_field(rng, frames, y, x, ppu, wind * wind_scale)
        density = np.clip((field - coverage - offset) / 0.9, 0.0, 1.0)
        alpha = opacity * density * density * (3 - 2 * density)  # smoothstep: soft cloud edges
        thickness = np.clip((field - coverage - offset - 0.6) / 1.5, 0.0, 1.0)
        video = video * (1.0 - alpha) + (alpha * (1.0 - 0.2 * thickness)) * white

    period, amplitude = rng.uniform(80, 400), rng.uniform(0.0, 0.12)
    brightness = 1.0 + amplitude * np.sin(2 * np.pi * np.arange(frames) / period + rng.uniform(0, 2 * np.pi))
    video *= brightness.astype(np.float32)[:, None, None]
    return _to_uint8(np.moveaxis(video, 0, -1))


# --------------------------------------------------------------------------------------------------
# One entry point for datasets and the CLI
# --------------------------------------------------------------------------------------------------


def synthetic_item_spec(
    kind: SynthKind, index: int, num_classes: int | None
) -> tuple[GeneratorKind, int, dict[str, float | int]]:
    """What video ``index`` of a synthetic set is: generator, label and generator options.

    - ``mixed``: kinds alternate (even = bouncing, odd = sky); label = kind id (0 bouncing, 1 sky).
    - ``bouncing`` with ``num_classes=C``: video i has ``i % C + 1`` objects; label = objects - 1.
    - ``sky`` with ``num_classes=C``: the wind blows towards direction sector ``i % C`` (of C equal
      sectors, 0 = towards +x, counter-clockwise on screen); label = sector.
    - otherwise the label is -1 (unconditional) and the generator draws everything from the seed.
    """
    if kind == "mixed":
        generator: GeneratorKind = GENERATOR_KINDS[index % 2]
        return generator, index % 2, {}
    if num_classes is None:
        return kind, -1, {}
    label = index % num_classes
    if kind == "bouncing":
        return kind, label, {"num_objects": label + 1}
    return kind, label, {"wind_angle": -2 * np.pi * (label + 0.5) / num_classes}


def synthetic_video(
    kind: GeneratorKind, seed: Seed, frames: int, size: int | tuple[int, int], **options: float | int
) -> np.ndarray:
    """Dispatch to :func:`bouncing_video` or :func:`sky_video`."""
    if kind == "bouncing":
        return bouncing_video(seed, frames, size, **options)  # type: ignore[arg-type]
    if kind == "sky":
        return sky_video(seed, frames, size, **options)
    raise ValueError(f"unknown synthetic kind {kind!r}; choose one of {GENERATOR_KINDS}")
