"""Record short trajectories of the official PVDM and LVDM DDIM samplers, for tests/test_official_samplers.py.

    python tools/official_fixtures_ddim.py --pvdm /path/to/PVDM --lvdm /path/to/LVDM --out tests/fixtures/official/ddim

``--pvdm`` is a checkout of sihyun-yu/PVDM, ``--lvdm`` one of YingqingHe/LVDM; each sampler is imported from there
and run as the official code runs it (nothing of it is copied). The LVDM modules need ``pytorch_lightning``: use a
separate environment (the official-LVDM venv), never vgen's dependencies.

- PVDM: ``losses/ddpm.py`` ``DDPM`` (the schedule of configs/latent-diffusion/base.yaml, linear_start 0.0015,
  linear_end 0.0195, 1000 steps) with ``sampling_timesteps`` = PVDM_STEPS and its default ``ddim_sampling_eta`` = 1;
  ``ddim_sample`` with its default ``clip_denoised=True``, unconditional (``cond=None``).
- LVDM: ``lvdm/samplers/ddim.py`` ``DDIMSampler.sample(S=LVDM_STEPS, eta=1.0)`` (the scripts' default eta) over a
  holder of the official schedule buffers (``lvdm.models.ddpm3d.DDPM.register_schedule``, linear_start 0.0015,
  linear_end 0.0155, 1000 steps). The sampler's ``register_buffer`` moves every tensor to "cuda"; here it keeps them
  on the CPU (placement only, no numerics change).

Both run on an elementwise stand-in for the network, eps(x, t) = c_t·x + 0.5·tanh(A·x + B·t/1000) with
c_t = sqrt(1 − alpha_bar_t) of the official schedule and fixed random A and B, so a test can run the same denoiser
through vgen's sampler. The seed is set with ``torch.manual_seed`` right before each
sampler call: the sampler draws x_T and then one noise tensor per step from the global generator, which a
``torch.Generator`` with the same seed reproduces (batch of 1).

Writes ``pvdm.safetensors`` and ``lvdm.safetensors`` (``c``, ``A``, ``B``; ``x``: every input the sampler gave the denoiser,
stacked, the first being x_T; ``t``: the timestep of each call; ``out``: the returned sample) and ``meta.json``
(seeds, steps, shapes, eta, sha256 of the official sources used).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_fixtures_lvdm import import_official as import_official_lvdm, stub_missing_torchvision  # noqa: E402

SEED = 2024
T = 1000
PVDM_STEPS = 7    # the official grid [999, 856, 713, 570, 427, 284, 141] truncates where 'trailing' rounds
PVDM_SHAPE = (1, 4, 64)  # (B, C, L) as the official flattened triplane latent, shortened
LVDM_STEPS = 12   # stride 1000 // 12 = 83 gives 13 official steps: [997, 914, ..., 84, 1]
LVDM_SHAPE = (1, 4, 2, 4, 4)  # (B, C, T, H, W)
ETA = 1.0
SOURCES = {"pvdm": ("losses/ddpm.py",),
           "lvdm": ("lvdm/samplers/ddim.py", "lvdm/models/modules/util.py", "lvdm/models/ddpm3d.py")}


class StandIn:
    """eps(x, t) = c_t·x + 0.5·tanh(A·x + B·t/1000), recording every call's input x and timestep.

    c_t = sqrt(1 − alpha_bar_t) makes c_t·x the exact eps of unit-Gaussian data, so samples stay of order one; the
    tanh term moves x0 off that, far past [−1, 1] at high noise, so PVDM's clamp acts.
    """

    def __init__(self, shape: tuple[int, ...], alphas_cumprod: torch.Tensor, generator: torch.Generator) -> None:
        self.c = (1 - alphas_cumprod.double()).sqrt().float()
        self.A = torch.randn(shape[1:], generator=generator) * 1.5
        self.B = torch.randn(shape[1:], generator=generator)
        self.xs: list[torch.Tensor] = []
        self.ts: list[int] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.xs.append(x.detach().clone())
        self.ts.append(int(t.flatten()[0]))
        column = (-1, *([1] * (x.ndim - 1)))
        return self.c[t].reshape(column) * x + 0.5 * torch.tanh(self.A * x + self.B * (t.float().reshape(column) / T))

    def record(self, out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"c": self.c, "A": self.A, "B": self.B, "x": torch.stack(self.xs), "t": torch.tensor(self.ts),
                "out": out.detach().clone()}


def pvdm_trajectory(root: Path, generator: torch.Generator) -> dict[str, torch.Tensor]:
    stub_missing_torchvision()
    sys.path.insert(0, str(root))
    ddpm = importlib.import_module("losses.ddpm")
    calls = []  # the network the sampler calls exists before the stand-in, which needs the sampler's schedule
    diffusion = ddpm.DDPM(lambda x, cond, t, self_cond=None: calls[0](x, t), timesteps=T, linear_start=0.0015,
                          linear_end=0.0195, sampling_timesteps=PVDM_STEPS, w=0.0)
    stand_in = StandIn(PVDM_SHAPE, diffusion.alphas_cumprod, generator)
    calls.append(stand_in)
    assert diffusion.ddim_sampling_eta == ETA
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = diffusion.ddim_sample(PVDM_SHAPE, None)
    return stand_in.record(out)


def lvdm_trajectory(root: Path, generator: torch.Generator) -> dict[str, torch.Tensor]:
    ddpm3d, _ = import_official_lvdm(root)
    ddim = importlib.import_module("lvdm.samplers.ddim")

    class Holder(torch.nn.Module):
        """What DDIMSampler reads of a LatentDiffusion: the official schedule buffers, the device, apply_model."""

        v_posterior, parameterization, device = 0.0, "eps", torch.device("cpu")

        def apply_model(self, x, t, cond, **kwargs):
            return stand_in(x, t)

    holder = Holder()
    ddpm3d.DDPM.register_schedule(holder, beta_schedule="linear", timesteps=T, linear_start=0.0015,
                                  linear_end=0.0155)
    stand_in = StandIn(LVDM_SHAPE, holder.alphas_cumprod, generator)
    sampler = ddim.DDIMSampler(holder)
    sampler.register_buffer = lambda name, attr: setattr(sampler, name, attr)
    torch.manual_seed(SEED)
    with torch.no_grad():
        out, _ = sampler.sample(S=LVDM_STEPS, batch_size=LVDM_SHAPE[0], shape=LVDM_SHAPE[1:], eta=ETA, verbose=False)
    return stand_in.record(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pvdm", type=Path, required=True, help="checkout of github.com/sihyun-yu/PVDM")
    parser.add_argument("--lvdm", type=Path, required=True, help="checkout of github.com/YingqingHe/LVDM")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    roots = {"pvdm": args.pvdm.resolve(), "lvdm": args.lvdm.resolve()}
    for family, root in roots.items():
        if not (root / SOURCES[family][0]).is_file():
            parser.error(f"{root} is not a checkout of the official {family.upper()} code (no {SOURCES[family][0]})")
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(SEED + 1)
    args.out.mkdir(parents=True, exist_ok=True)
    # LVDM first: pytorch_lightning must be imported before the torchvision stand-in is installed.
    for family, run in (("lvdm", lvdm_trajectory), ("pvdm", pvdm_trajectory)):
        tensors = run(roots[family], generator)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(args.out / f"{family}.safetensors"))
    meta = {"seed": SEED, "timesteps": T, "eta": ETA, "torch": torch.__version__,
            "pvdm": {"steps": PVDM_STEPS, "shape": PVDM_SHAPE, "beta": [0.0015, 0.0195]},
            "lvdm": {"steps": LVDM_STEPS, "shape": LVDM_SHAPE, "beta": [0.0015, 0.0155]},
            "stand_in": "eps(x, t) = c[t]*x + 0.5*tanh(A*x + B*t/1000)",
            "official_sources_sha256": {f"{family}:{name}": hashlib.sha256((roots[family] / name).read_bytes()).hexdigest()
                                        for family, names in SOURCES.items() for name in names}}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    for path in sorted(args.out.iterdir()):
        print(f"{path.stat().st_size:>9}  {path}")


if __name__ == "__main__":
    main()
