"""Copy a trained model with its sampling fields changed: its default sampler, steps, frame noise, grid, x0 clamp.

    python tools/set_defaults.py --model vdm-mini-bouncing --set diffusion.sampler=ddpm --name vdm-ddpm
    vgen sample --model vdm-ddpm -o out.mp4          # samples with DDPM unless --sampler says otherwise

What a model samples with when ``--sampler``/``--steps`` are not given is in its config (``diffusion.sampler``,
``diffusion.sampling_steps``; README "Generating videos"). After measuring which settings suit a trained model, this
writes a copy of it into the store with those fields set: the same weights, bit for bit, and the same card, if it
has one. ``--set`` takes what ``vgen train --set`` takes, for the fields read only at sampling
(``SAMPLING_FIELDS``); any other field is refused (it would change what the weights mean), and so is a name that
exists. One error line and exit code 2 on bad input; nothing is written then.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from vgen.config.overrides import apply_sets, parse_set
from vgen.errors import VgenError
from vgen.io.atomic import atomic_path
from vgen.io.checkpoint import load_network, save_network
from vgen.io.store import check_model_name, model_config, models_dir, resolve_model


# The fields read only at sampling: a copy with the same weights stays the same network. Fields such as the
# prediction target or the noise schedule change what the weights mean and would make it sample noise.
SAMPLING_FIELDS = ("diffusion.sampler", "diffusion.sampling_steps", "diffusion.frame_noise",
                   "diffusion.schedule_grid", "diffusion.clip_x0")


def copy_with_defaults(source: Path, target: Path, sets: list[str]) -> list[str]:
    """Write ``source`` (a model folder) with ``sets`` applied into the new folder ``target``; the changed keys."""
    config, _ = model_config(source)
    parsed = [parse_set(text) for text in sets]
    for key, _ in parsed:
        if key not in SAMPLING_FIELDS:
            raise VgenError(f"--set {key}: this tool changes only how a model samples ({', '.join(SAMPLING_FIELDS)}); "
                            "to change what its weights mean, fine-tune it: vgen train --model NAME --set ...")
    changed = apply_sets(config, parsed)  # sampling fields shape no weight: no network needs building to check
    if changed == config:
        raise VgenError("the --set values are the model's already; nothing to change")
    with atomic_path(target, directory=True) as tmp:
        for path in sorted(source.glob("*.safetensors")):
            state, _, meta = load_network(path)
            save_network(tmp / path.name, state, changed, role=meta["role"], extra=meta["extra"])
        if (source / "card.json").is_file():
            shutil.copyfile(source / "card.json", tmp / "card.json")
    return [key for key, _ in parsed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a trained model: store name, bundled name or folder")
    parser.add_argument("--set", dest="sets", action="append", required=True, metavar="KEY=VALUE",
                        help="a config field that shapes no weight, e.g. diffusion.sampler=ddpm (repeatable)")
    parser.add_argument("--name", required=True, help="store name of the copy (must not exist)")
    parser.add_argument("--debug", action="store_true", help="show a traceback on errors")
    args = parser.parse_args(argv)
    try:
        check_model_name(args.name, "--name")
        target = models_dir() / args.name
        if target.exists():
            raise VgenError(f"model {args.name!r} already exists in the store; choose another --name")
        source = resolve_model(args.model)
        target.parent.mkdir(parents=True, exist_ok=True)
        keys = copy_with_defaults(source, target, args.sets)
    except VgenError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {target}: {args.model} with {', '.join(keys)} set", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
