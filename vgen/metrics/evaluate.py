"""The evaluation passes behind ``vgen evaluate``: real-set statistics (cached), fake-set scores, reconstruction.

Everything here works on uint8 clips ``(T, H, W, 3)`` decoded once; scores come back with the facts
needed to reproduce them (counts, skips, resolutions, whether the cache was used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch
from einops import rearrange

from vgen.errors import VgenError
from vgen.metrics.clips import ClipSet, fingerprint
from vgen.metrics.distances import FeatureStats, fvd, polynomial_mmd2
from vgen.metrics.features import Callback, Extractor, batched, extract
from vgen.metrics.inception_score import inception_score
from vgen.metrics.reconstruction import psnr_per_video, ssim_per_video
from vgen.metrics.stats_cache import load_stats, save_stats, stats_key

MIN_CLIPS = 2  # the fewest clips a covariance (FVD) and the unbiased MMD (KVD) are defined for


@dataclass
class SetInfo:
    """What went into one clip set."""

    clips: int = 0
    skipped_short: int = 0
    skipped_unreadable: int = 0
    resolution: tuple[int, int] | None = None
    cached: bool = False

    @classmethod
    def of(cls, clipset: ClipSet, clips: int) -> "SetInfo":
        return cls(clips=clips, skipped_short=clipset.skipped_short, skipped_unreadable=clipset.skipped_unreadable,
                   resolution=clipset.resolution)

    def as_dict(self) -> dict[str, Any]:
        return {"clips": self.clips, "skipped_short": self.skipped_short, "skipped_unreadable": self.skipped_unreadable,
                "resolution": list(self.resolution) if self.resolution else None, "cached": self.cached}


def real_statistics(clipset: ClipSet, num: int, i3d: Extractor, extractor: dict[str, Any], *, batch_size: int,
                    callback: Callback | None = None) -> tuple[FeatureStats, SetInfo]:
    """I3D statistics of the real clips, from the cache when the data, clip protocol and ``extractor`` match.

    Decoding at ``clipset.size`` leaves videos already of that size untouched, so statistics made from
    the videos at their own size also serve a run that asks for that size (``--fake`` and ``--model``
    runs on the same real set share them). They are stored under the own-size key whenever no video
    was resized. Fewer than ``MIN_CLIPS`` usable clips is a ``VgenError`` (nothing is cached).
    """
    data = fingerprint(clipset.sources)
    fields = {**clipset.key_fields(), "num": num, **extractor}
    key, own_size_key = stats_key(data, fields), stats_key(data, {**fields, "load_size": None})
    hit = load_stats(key)
    if hit is None and clipset.size is not None:
        hit = load_stats(own_size_key)
        if hit is not None and hit[1].get("native_resolution") != [clipset.size, clipset.size]:
            hit = None
    if hit is not None:
        stats, info = hit
        return stats, SetInfo(clips=info["clips"], skipped_short=info["skipped_short"],
                              skipped_unreadable=info["skipped_unreadable"],
                              resolution=tuple(info["resolution"]) if info["resolution"] else None, cached=True)
    features = extract(clipset.clips(num), {"i3d": i3d}, batch_size=batch_size, total=num, callback=callback)["i3d"]
    info = SetInfo.of(clipset, len(features))
    if len(features) < MIN_CLIPS:
        raise VgenError(f"only {len(features)} usable clip in {clipset.path} ({info.skipped_short} videos too short, "
                        f"{info.skipped_unreadable} unreadable); FVD/KVD need at least {MIN_CLIPS}: add videos or lower {clipset.options_hint}")
    stats = FeatureStats.from_features(features)
    native = clipset.native_resolution
    resized = clipset.size is not None and native != (clipset.size, clipset.size)
    save_stats(key if resized else own_size_key, stats,
               {**{k: v for k, v in info.as_dict().items() if k != "cached"}, "native_resolution": list(native) if native else None})
    return stats, info


def scores(real: FeatureStats | None, fake_features: np.ndarray | None, probs: np.ndarray | None,
           metrics: Iterable[str]) -> dict[str, float]:
    """FVD, KVD and IS (mean, std) for the requested metrics."""
    wanted = set(metrics)
    out: dict[str, float] = {}
    if real is not None and fake_features is not None:
        fake = FeatureStats.from_features(fake_features)
        if "fvd" in wanted:
            out["fvd"] = fvd(real, fake)
        if "kvd" in wanted:
            out["kvd"] = polynomial_mmd2(real.features, fake.features)
    if "is" in wanted and probs is not None:
        out["is_mean"], out["is_std"] = inception_score(probs)
    return out


def reconstruction_scores(clips: Iterable[np.ndarray], encode: Callable[[torch.Tensor], torch.Tensor],
                          decode: Callable[[torch.Tensor], torch.Tensor], device: torch.device, *,
                          i3d: Extractor | None, batch_size: int, total: int = 0,
                          callback: Callback | None = None) -> dict[str, float | int]:
    """Autoencoder round trip of uint8 clips: mean PSNR and SSIM on [0, 1], and FVD(real, reconstructed).

    PSNR and SSIM are per video (see :mod:`vgen.metrics.reconstruction`) and averaged over videos; the
    FVD (``rfvd``) needs an ``i3d`` and at least ``MIN_CLIPS`` clips.
    """
    psnr: list[float] = []
    ssim: list[float] = []
    real_rows: list[np.ndarray] = []
    rec_rows: list[np.ndarray] = []
    for batch in batched(clips, batch_size):
        x = rearrange(torch.as_tensor(np.stack(batch), device=device).float(), "b t h w c -> b c t h w") / 127.5 - 1.0
        with torch.inference_mode():
            x_rec = decode(encode(x)).clamp(-1, 1)
        real01, rec01 = (x + 1) / 2, (x_rec + 1) / 2
        psnr += psnr_per_video(real01, rec01).tolist()
        ssim += ssim_per_video(real01, rec01).tolist()
        if i3d is not None:
            rec_uint8 = rearrange(((x_rec + 1) * 127.5).round().clamp(0, 255).to(torch.uint8), "b c t h w -> b t h w c")
            real_rows.append(i3d(batch))
            rec_rows.append(i3d(list(rec_uint8.cpu().numpy())))
        if callback is not None:
            callback(len(psnr), max(total, len(psnr)), {"psnr": float(np.mean(psnr))})
    out: dict[str, float | int] = {"clips": len(psnr), "psnr": float(np.mean(psnr)), "ssim": float(np.mean(ssim))}
    if i3d is not None and len(psnr) >= MIN_CLIPS:
        out["rfvd"] = fvd(FeatureStats.from_features(np.concatenate(real_rows)), FeatureStats.from_features(np.concatenate(rec_rows)))
    return out
