"""Golden slices: a few output values of fixed-seed tiny models, per family, method and training objective.

``python -m tests.golden.slices --write`` records them in ``tests/golden/slices.json``; ``test_golden_slices.py``
recomputes every case and compares. They were recorded before the family refactor (issue #12), so a
reorganisation that changes any output, however slightly, fails a case by name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vgen.config import preset
from vgen.models import build_networks
from vgen.pipelines.generate import extend_video, interpolate_video, sample_video
from vgen.pipelines.model import LoadedModel
from vgen.pipelines.settings import SamplerSettings

PATH = Path(__file__).with_name("slices.json")


def tiny(name: str, **update: object) -> LoadedModel:
    config = preset(name).model_copy(update=update)
    torch.manual_seed(1234)
    return LoadedModel(config, build_networks(config), "cpu")


def _summary(chunks) -> dict:
    video = np.concatenate(list(chunks))
    flat = video.reshape(-1).astype(np.int64)
    middle = video[len(video) // 2].reshape(-1)
    return {"shape": list(video.shape), "sum": int(flat.sum()), "slice": middle[::97][:12].tolist()}


def _keys(model: LoadedModel, count: int) -> np.ndarray:
    g = np.random.default_rng(7)
    return g.integers(0, 256, (count, model.resolution, model.resolution, 3), dtype=np.uint8)


def _sample(name: str, frames: int, method: str | None = None, sampler: str = "ddim", steps: int = 3,
            **kw: object) -> Callable[[], dict]:
    update = kw.pop("update", {})

    def run() -> dict:
        model = tiny(name, **update)  # type: ignore[arg-type]
        settings = SamplerSettings(sampler=sampler, steps=steps, method=method, **kw)  # type: ignore[arg-type]
        return _summary(sample_video(model, settings, frames=frames, seed=5).chunks(None))
    return run


def _extend(name: str, method: str, frames: int = 6, **kw: object) -> Callable[[], dict]:
    def run() -> dict:
        model = tiny(name)
        settings = SamplerSettings(steps=3, method=method, **kw)  # type: ignore[arg-type]
        return _summary(extend_video(model, [_keys(model, model.clip_frames)], settings, frames=frames, seed=3,
                                     only_new=True).chunks(None))
    return run


def _interpolate(name: str, method: str, between: int = 1) -> Callable[[], dict]:
    def run() -> dict:
        model = tiny(name)
        return _summary(interpolate_video(model, [_keys(model, 5)], SamplerSettings(steps=3, method=method),
                                          between=between, seed=4).chunks(None))
    return run


def _objective(name: str, stage: str, **update: object) -> Callable[[], dict]:
    """The loss of one fixed micro-batch under the stage's training objective (its random draws included)."""
    def run() -> dict:
        from vgen.diffusion.schedules import schedule_from_config
        from vgen.training.options import TrainOptions
        from vgen.training.stages import clip_frames, stage_plan
        from vgen.training.trainer import Batch

        model = tiny(name, **update)
        networks = model.networks
        opts = TrainOptions(synthetic="bouncing", seed=11)
        plan = stage_plan(stage, model.config, networks, opts, schedule_from_config(model.config.diffusion),
                         torch.device("cpu"), lambda _: None)
        g = torch.Generator().manual_seed(21)
        frames = clip_frames(model.config, stage)
        video = torch.rand(2, 3, frames, model.resolution, model.resolution, generator=g) * 2 - 1
        labels = torch.tensor([0, 1]) if model.config.num_classes else None
        losses = plan.objective(Batch(video=video, labels=labels, step=0),
                                [torch.Generator().manual_seed(31 + i) for i in range(2)])
        return {role: round(float(loss), 6) for role, loss in sorted(losses.items())}
    return run


CASES: dict[str, Callable[[], dict]] = {
    "pvdm/sample/one-clip": _sample("pvdm-tiny", 8),
    "pvdm/sample/latent": _sample("pvdm-tiny", 20, "latent"),
    "pvdm/sample/latent-guidance": _sample("pvdm-tiny", 12, "latent", guidance=1.5),
    "pvdm/sample/reconstruction": _sample("pvdm-tiny", 12, "reconstruction", recon_weight=3.0),
    "pvdm/sample/ddpm": _sample("pvdm-tiny", 8, sampler="ddpm"),
    "pvdm/sample/dpm++": _sample("pvdm-tiny", 8, sampler="dpm++"),
    "pvdm/sample/langevin": _sample("pvdm-tiny", 8, sampler="langevin"),
    "pvdm/sample/ddim-eta": _sample("pvdm-tiny", 8, eta=1.0),
    "pvdm/extend/latent": _extend("pvdm-tiny", "latent"),
    "pvdm/extend/reconstruction": _extend("pvdm-tiny", "reconstruction"),
    "vdm/sample/one-clip": _sample("vdm-tiny", 8),
    "vdm/sample/reconstruction": _sample("vdm-tiny", 14, "reconstruction"),
    "vdm/sample/replacement": _sample("vdm-tiny", 14, "replacement"),
    "vdm/sample/mask": _sample("vdm-tiny", 14, "mask"),
    "vdm/sample/class-guidance": _sample("vdm-tiny", 8, class_label=1, guidance=2.0, update={"num_classes": 3}),
    "vdm/extend/mask": _extend("vdm-tiny", "mask"),
    "vdm/extend/replacement": _extend("vdm-tiny", "replacement"),
    "vdm/extend/reconstruction": _extend("vdm-tiny", "reconstruction"),
    "vdm/interpolate/mask": _interpolate("vdm-tiny", "mask"),
    "vdm/interpolate/replacement": _interpolate("vdm-tiny", "replacement", between=2),
    "vdm/interpolate/reconstruction": _interpolate("vdm-tiny", "reconstruction"),
    "lvdm/sample/one-clip": _sample("lvdm-tiny", 8),
    "lvdm/sample/hierarchical": _sample("lvdm-tiny", 30, "hierarchical"),
    "lvdm/sample/autoregressive": _sample("lvdm-tiny", 14, "autoregressive"),
    "lvdm/sample/guidance": _sample("lvdm-tiny", 14, "autoregressive", guidance=0.5),
    "lvdm/extend/mask": _extend("lvdm-tiny", "mask"),
    "lvdm/extend/replacement": _extend("lvdm-tiny", "replacement"),
    "lvdm/extend/reconstruction": _extend("lvdm-tiny", "reconstruction"),
    "lvdm/interpolate/reconstruction": _interpolate("lvdm-tiny", "reconstruction"),
    "lvdm-aligned/interpolate/mask": _interpolate("lvdm-mini", "mask"),
    "pvdm/train/ae": _objective("pvdm-tiny", "ae"),
    "pvdm/train/diffusion": _objective("pvdm-tiny", "diffusion"),
    "vdm/train/diffusion": _objective("vdm-tiny", "diffusion"),
    "vdm/train/diffusion-keys-classes": _objective("vdm-mini", "diffusion", num_classes=2),
    "lvdm/train/ae": _objective("lvdm-tiny", "ae"),
    "lvdm/train/diffusion": _objective("lvdm-tiny", "diffusion"),
    "inflated/sample/one-clip": _sample("inflated-tiny", 8),
    "inflated/sample/reconstruction": _sample("inflated-tiny", 14, "reconstruction"),
    "inflated/sample/replacement": _sample("inflated-tiny", 14, "replacement", sampler="dpm++"),
    "inflated-image/sample/independent": _sample("inflated-tiny", 14, update={"temporal": False}),
    "inflated/extend/reconstruction": _extend("inflated-tiny", "reconstruction"),
    "inflated/interpolate/replacement": _interpolate("inflated-tiny", "replacement"),
    "inflated/train/image": _objective("inflated-tiny", "image", temporal=False),
    "inflated/train/temporal": _objective("inflated-tiny", "temporal"),
}


def compute(name: str) -> dict:
    torch.set_num_threads(1)
    with torch.no_grad():
        return CASES[name]()


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m tests.golden.slices --write")
    lines = [f"  {json.dumps(name)}: {json.dumps(compute(name))}" for name in CASES]
    PATH.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    print(f"wrote {len(CASES)} cases to {PATH}", file=sys.stderr)
