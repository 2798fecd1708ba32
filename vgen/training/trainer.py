"""One training stage: the optimisation loop shared by every family and stage.

Per optimisation step ``k`` (0-based):
1. the global batch is ``global_batch_indices(seed, stage, k)``; this rank takes its slice of each of
   the ``accumulate`` micro-batches, and sample ``p`` of the global batch draws all its randomness
   (timesteps, noise, masks, label dropout) from a generator seeded by (seed, stage, k, p);
2. each named loss the objective returns is differentiated w.r.t. its own module only (the GAN
   discriminator never receives the generator's gradient and vice versa), divided by ``accumulate``;
3. gradients are averaged over ranks, the loss is checked for finiteness (a non-finite step is skipped
   and counted; ``max_bad_steps`` consecutive ones stop the run), gradients are clipped, AdamW steps
   with a linearly warmed-up learning rate, and the EMA is updated.

Everything is a function of (seed, step), so resuming from a checkpoint continues bit-exactly.
"""

from __future__ import annotations

import math
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from vgen.config.base import ModelConfigBase
from vgen.devices import autocast
from vgen.errors import VgenError
from vgen.training import distributed as ddp
from vgen.training import runfolder
from vgen.training.ema import EMA
from vgen.training.options import Stage, TrainOptions
from vgen.training.order import global_batch_indices, micro_batch_slice, sample_generators, step_seed


@dataclass
class Batch:
    """One micro-batch on the device: ``video`` (b, 3, T, H, W) in [-1, 1], ``labels`` (b,) long or None,
    and the optimisation ``step`` it belongs to (0-based)."""

    video: torch.Tensor
    labels: torch.Tensor | None
    step: int


Objective = Callable[[Batch, list[torch.Generator]], dict[str, torch.Tensor]]
"""Maps a micro-batch and one generator per sample to named per-sample-mean losses (one per trainable module)."""


@dataclass
class StagePlan:
    """What a stage trains: ``trainable[name]`` is optimised with ``losses[name]``; ``networks`` are saved."""

    stage: Stage
    networks: dict[str, nn.Module]
    trainable: dict[str, nn.Module]
    objective: Objective
    clip_frames: int
    ema_role: str | None = None
    betas: dict[str, tuple[float, float]] = field(default_factory=dict)
    finish: Callable[[torch.utils.data.Dataset], None] | None = None


@dataclass
class StepRecord:
    step: int
    stage: str
    loss: float
    lr: float
    grad_norm: float
    sec_per_step: float
    parts: dict[str, float]
    skipped: bool = False


class _StopFlag:
    """SIGINT (Ctrl-C) or SIGTERM (batch schedulers) asks the loop to stop after the current step and save.

    A second signal aborts at once. After the save, ``forward`` hands the signal to the handler that
    was in place before training (the CLI's: exit 130 for Ctrl-C, 143 for SIGTERM; Python's default
    raises ``KeyboardInterrupt`` for Ctrl-C). Signals ignored before training stay ignored.
    """

    _SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def __enter__(self) -> "_StopFlag":
        for signum in self._SIGNALS:
            previous = signal.getsignal(signum)
            if previous is None or previous == signal.SIG_IGN:
                continue
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: signals reach the main thread's handlers instead
                break
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            self.forward(signum)
        self.signum = signum

    def _restore(self) -> dict[int, Any]:
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        return previous

    def forward(self, signum: int | None = None) -> None:
        """Restore the handlers of before and deliver the signal (by default the one that asked to stop) to
        its own; raises ``KeyboardInterrupt`` if that handler does not raise."""
        signum = self.signum if signum is None else signum
        handler = self._restore().get(signum) if signum is not None else None
        if callable(handler):
            handler(signum, None)
        elif handler == signal.SIG_DFL and signum is not None:
            signal.raise_signal(signum)  # the default action: for SIGTERM, the process ends here
        raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        self._restore()


def _outlive_sigterm(worker_id: int) -> None:
    """Data-loading workers ignore SIGTERM: a scheduler signals the whole job, and the main process must
    finish its step and save first. They exit when it shuts them down (or when it dies)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def collate(items: list[Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Stack dataset items (``vgen.data.item`` dicts, ``(video, label)`` pairs or tensors) into a batch.

    Labels are kept only when every item has one (``-1`` means unlabelled)."""
    videos, labels = [], []
    for item in items:
        if isinstance(item, dict):
            videos.append(item["video"])
            label = item.get("label")
            labels.append(None if label is None or int(label) < 0 else label)
        elif isinstance(item, (tuple, list)):
            videos.append(item[0])
            labels.append(item[1] if len(item) > 1 else None)
        else:
            videos.append(item)
            labels.append(None)
    video = torch.stack([torch.as_tensor(v, dtype=torch.float32) for v in videos])
    label = None if any(x is None for x in labels) else torch.tensor([int(x) for x in labels], dtype=torch.long)
    return video, label


class _StepBatches(torch.utils.data.Sampler):
    """The rank's micro-batches of steps ``start..stop-1`` in order: ``accumulate`` lists of (epoch, index) keys."""

    def __init__(self, opts: TrainOptions, stage: str, start: int, stop: int, size: int, info: ddp.DistInfo) -> None:
        self.opts, self.stage, self.start, self.stop, self.size, self.info = opts, stage, start, stop, size, info

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        o = self.opts
        for step in range(self.start, self.stop):
            indices = global_batch_indices(o.seed, self.stage, step, o.batch_size, self.size)
            for micro in range(o.accumulate):
                yield indices[micro_batch_slice(o.batch_size, o.accumulate, self.info.world_size, micro, self.info.rank)]

    def __len__(self) -> int:
        return (self.stop - self.start) * self.opts.accumulate


def learning_rate(opts: TrainOptions, step: int) -> float:
    """Linear warm-up over ``warmup`` steps, then constant (LDM/LVDM use a constant rate), or with
    ``lr_decay="cosine"`` a half cosine from ``lr`` after the warm-up to 0 at the stage's last step."""
    rate = opts.lr if opts.warmup <= 0 else opts.lr * min(1.0, (step + 1) / opts.warmup)
    if opts.lr_decay == "cosine" and step >= opts.warmup:
        progress = (step - opts.warmup) / max(opts.steps - opts.warmup, 1)
        rate *= 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return rate


class Trainer:
    """Runs one :class:`StagePlan` from ``start_step`` to ``options.steps``; rank 0 writes ``run_dir``."""

    def __init__(
        self,
        plan: StagePlan,
        config: ModelConfigBase,
        opts: TrainOptions,
        dataset: torch.utils.data.Dataset,
        device: torch.device,
        info: ddp.DistInfo,
        run_dir: Path | None,
        *,
        callback: Callable[[int, int, dict[str, Any]], None] | None = None,
        on_warning: Callable[[str], None] = lambda message: None,
        on_preview: Callable[[int, dict[str, nn.Module]], None] | None = None,
    ) -> None:
        self.plan, self.config, self.opts, self.dataset = plan, config, opts, dataset
        self.device, self.info, self.run_dir = device, info, run_dir
        self.callback, self.on_warning, self.on_preview = callback, on_warning, on_preview
        self.step = 0
        self.saved_on_stop: Path | None = None  # the checkpoint saved when a signal stopped the run
        self.optimizers = {
            name: torch.optim.AdamW(
                [p for p in module.parameters() if p.requires_grad], lr=opts.lr, weight_decay=opts.weight_decay,
                betas=plan.betas.get(name, (0.9, 0.999)),
            )
            for name, module in plan.trainable.items()
        }
        self.ema = EMA(plan.networks[plan.ema_role], opts.ema_decay) if plan.ema_role else None
        precision = opts.precision
        fp16 = device.type == "cuda" and (
            precision == "fp16" or (precision == "auto" and not torch.cuda.is_bf16_supported())
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=fp16)

    def parameter_counts(self) -> tuple[int, int]:
        """(trained, frozen) parameters of the stage's networks and trained modules, each counted once."""
        params = {id(p): p for module in (*self.plan.networks.values(), *self.plan.trainable.values())
                  for p in module.parameters()}
        trained = {id(p) for opt in self.optimizers.values() for group in opt.param_groups for p in group["params"]}
        total = sum(p.numel() for p in params.values())
        count = sum(params[i].numel() for i in trained if i in params)
        return count, total - count

    # ------------------------------------------------------------------ checkpoint state

    def ema_networks(self) -> dict[str, nn.Module]:
        """The networks with EMA weights where an EMA exists (fresh copies; training weights untouched)."""
        import copy

        out: dict[str, nn.Module] = {}
        for role, net in self.plan.networks.items():
            if self.ema is not None and role == self.plan.ema_role:
                net = copy.deepcopy(net)
                net.load_state_dict(self.ema.state_dict(self.plan.networks[role]))
            out[role] = net.eval()
        return out

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Training state as (tensors, meta) for ``save_training_state``: raw weights, AdamW, EMA, step."""
        tensors: dict[str, Any] = {
            "raw": {name: module.state_dict() for name, module in self.plan.trainable.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
        }
        meta: dict[str, Any] = {
            "stage": self.plan.stage, "step": self.step, "seed": self.opts.seed,
            "batch_size": self.opts.batch_size, "dataset_size": len(self.dataset),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
        }
        if self.ema is not None:
            tensors["ema"] = self.ema.shadow
            meta["ema_updates"] = self.ema.updates
        return tensors, meta

    def restore(self, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
        """Load raw weights, optimiser moments, EMA and the step from a training state."""
        for name, module in self.plan.trainable.items():
            module.load_state_dict(tensors["raw"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(tensors["optimizers"][name])
        if self.ema is not None:
            self.ema.load({k: v.to(self.device) for k, v in tensors["ema"].items()}, meta["ema_updates"])
        if meta.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(meta["scaler"])
        self.step = int(meta["step"])

    def save_checkpoint(self, done: bool = False) -> Path | None:
        """Write ``checkpoints/<stage>-<step|done>/`` (model dir + train state) and point ``latest`` at it.

        A failed write (full disk, lost permission) removes the partial checkpoint and is one
        ``VgenError`` line: the previous checkpoint stays the latest, and the message says how to resume.
        """
        if self.run_dir is None:
            return None
        from vgen.io.atomic import os_error_message

        tag = runfolder.checkpoint_tag(self.plan.stage, self.step, done)
        try:
            tmp = runfolder.tmp_checkpoint_dir(self.run_dir, tag)
            try:
                self._write_checkpoint(tmp, done)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            return runfolder.commit_checkpoint(self.run_dir, tmp, tag, self.opts.keep_checkpoints)
        except (OSError, VgenError) as exc:
            where = Path(exc.filename) if isinstance(exc, OSError) and exc.filename else self.run_dir / "checkpoints"
            message = os_error_message(exc, where) if isinstance(exc, OSError) else str(exc)
            raise VgenError(f"cannot save checkpoint {str(self.run_dir / 'checkpoints' / tag)!r} ({message}); the last "
                            f"complete checkpoint is kept: continue with: vgen train --out {self.run_dir} --resume") from None

    def _write_checkpoint(self, folder: Path, done: bool) -> None:
        """The model dir (EMA weights where there is an EMA) and the training state, into ``folder``."""
        from vgen.io.checkpoint import save_network, save_training_state

        (folder / "model").mkdir()
        for role, net in self.plan.networks.items():
            weights = self.ema.state_dict(net) if (self.ema is not None and role == self.plan.ema_role) else net.state_dict()
            save_network(folder / "model" / f"{role}.safetensors", weights, self.config, role=role,
                         extra={"stage": self.plan.stage, "step": self.step, "ema": role == self.plan.ema_role})
        tensors, meta = self.state()
        meta["done"] = done
        save_training_state(folder / "train_state.safetensors", tensors, meta)

    # ------------------------------------------------------------------ the loop

    def _loader(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        sampler = _StepBatches(self.opts, self.plan.stage, self.step, self.opts.steps, len(self.dataset), self.info)
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=self.opts.num_workers, collate_fn=collate,
            generator=torch.Generator().manual_seed(self.opts.seed),
            persistent_workers=False, pin_memory=self.device.type == "cuda",
            worker_init_fn=_outlive_sigterm if self.opts.num_workers else None,
        )
        return iter(loader)

    def run(self) -> None:
        """Train until ``options.steps``. On Ctrl-C or SIGTERM finish the step, save a checkpoint (rank 0,
        ``saved_on_stop``) and hand the signal on (``KeyboardInterrupt`` from the CLI's handlers)."""
        opts = self.opts
        for net in self.plan.networks.values():
            net.eval()
        for module in self.plan.trainable.values():
            module.train()
        bad_streak = 0
        with _StopFlag() as stop:
            batches = self._loader()  # worker processes inherit the stop flag's handlers, not the CLI's
            while self.step < opts.steps:
                started = time.perf_counter()
                record = self._one_step(batches)
                if record.skipped:
                    bad_streak += 1
                    self.on_warning(
                        f"non-finite loss or gradient at {record.stage} step {record.step}; skipped "
                        f"({bad_streak}/{opts.max_bad_steps} in a row)"
                    )
                    if bad_streak >= opts.max_bad_steps:
                        raise VgenError(
                            f"{bad_streak} consecutive non-finite losses in the {record.stage} stage; lower --lr, "
                            "use --precision fp32, or check the data"
                        )
                else:
                    bad_streak = 0
                record.sec_per_step = time.perf_counter() - started
                if self.run_dir is not None:
                    runfolder.append_metrics(self.run_dir, {
                        "step": record.step, "stage": record.stage, "loss": record.loss, "lr": record.lr,
                        "grad_norm": record.grad_norm, "sec_per_step": round(record.sec_per_step, 5),
                        **({"skipped": True} if record.skipped else {}),
                        **{f"loss_{k}": v for k, v in record.parts.items()},
                    })
                if self.callback is not None:
                    self.callback(self.step, opts.steps, {"stage": record.stage, "loss": record.loss})
                stop_now = stop.requested
                if self.info.active:
                    # Every rank stops after the same step, whichever of them saw the Ctrl-C.
                    stop_now = bool(ddp.mean_scalar(torch.tensor(float(stop_now), device=self.device), self.info) > 0)
                if stop_now:
                    self.saved_on_stop = self.save_checkpoint() if self.info.is_main else None
                    stop.forward()
                if self.step < opts.steps and self.step % opts.save_every == 0:
                    self.save_checkpoint()
                if self.on_preview is not None and opts.preview_every and self.step % opts.preview_every == 0:
                    self.on_preview(self.step, self.ema_networks())
        if self.plan.finish is not None:
            self.plan.finish(self.dataset)

    def _one_step(self, batches: Iterator[tuple[torch.Tensor, torch.Tensor | None]]) -> StepRecord:
        opts, info, plan = self.opts, self.info, self.plan
        step = self.step
        lr = learning_rate(opts, step)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad(set_to_none=True)
        params = {name: [p for p in m.parameters() if p.requires_grad] for name, m in plan.trainable.items()}
        totals = {name: torch.zeros((), device=self.device) for name in plan.trainable}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            # Network-internal randomness (dropout) is a function of (seed, step, rank) too.
            torch.manual_seed(step_seed(opts.seed, plan.stage, step, info.rank))
            for micro in range(opts.accumulate):
                video, labels = next(batches)
                video = video.to(self.device, non_blocking=True)
                labels = labels.to(self.device) if labels is not None else None
                positions = micro_batch_slice(opts.batch_size, opts.accumulate, info.world_size, micro, info.rank)
                gens = sample_generators(opts.seed, plan.stage, step, range(positions.start, positions.stop))
                with autocast(self.device, opts.precision):
                    losses = plan.objective(Batch(video, labels, step), gens)
                names = list(losses)
                for i, name in enumerate(names):
                    loss = losses[name].float() / opts.accumulate
                    grads = torch.autograd.grad(
                        self.scaler.scale(loss), params[name], allow_unused=True, retain_graph=i < len(names) - 1
                    )
                    for p, g in zip(params[name], grads):
                        if g is not None:
                            p.grad = g if p.grad is None else p.grad + g
                    totals[name] += loss.detach()
        for name in plan.trainable:
            ddp.average_gradients(params[name], info)
            totals[name] = ddp.mean_scalar(totals[name], info)
        norms: dict[str, float] = {}
        for name, opt in self.optimizers.items():
            self.scaler.unscale_(opt)
            max_norm = opts.grad_clip if opts.grad_clip is not None else math.inf
            grads = [p for p in params[name] if p.grad is not None]
            norms[name] = float(torch.nn.utils.clip_grad_norm_(grads, max_norm)) if grads else 0.0
        parts = {name: float(v) for name, v in totals.items()}
        main = next(iter(plan.trainable))
        finite = all(math.isfinite(v) for v in parts.values()) and all(math.isfinite(v) for v in norms.values())
        if finite or self.scaler.is_enabled():
            # With fp16 loss scaling an overflow is expected now and then: the scaler skips that step itself.
            for opt in self.optimizers.values():
                self.scaler.step(opt)
            self.scaler.update()
            if self.ema is not None and finite:
                self.ema.update(plan.networks[plan.ema_role])
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)
        self.step += 1
        return StepRecord(
            step=self.step, stage=plan.stage, loss=parts[main], lr=lr, grad_norm=norms[main], sec_per_step=0.0,
            parts=parts if len(parts) > 1 else {}, skipped=not finite,
        )
