"""The scripts in tools/: the bundled-model recipe, the gallery's PNG writer and the diagnosis measures."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import diagnose  # noqa: E402
import gallery  # noqa: E402
import train_bundled  # noqa: E402


def test_recipe_chains_its_stages_and_resumes_a_started_one(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    stages = train_bundled.RECIPES["pvdm-mini-bouncing"]
    first = train_bundled.command_for("pvdm-mini-bouncing", stages[0], runs)
    assert first[first.index("--model") + 1] == "pvdm-mini"
    assert "--resume" not in first
    assert first[first.index("--device") + 1] == "auto" and first[first.index("--num-workers") + 1] == "0"
    on_gpu = train_bundled.command_for("pvdm-mini-bouncing", stages[0], runs, "cuda", 3)
    assert on_gpu[on_gpu.index("--device") + 1] == "cuda" and on_gpu[on_gpu.index("--num-workers") + 1] == "3"
    later = train_bundled.command_for("pvdm-mini-bouncing", stages[-1], runs)
    assert later[later.index("--model") + 1] == f"pvdm-mini-bouncing--{stages[-2].name}"
    # A stage whose run folder was started (even if killed before its first checkpoint) is continued.
    started = runs / f"pvdm-mini-bouncing--{stages[0].name}"
    started.mkdir(parents=True)
    (started / "config.json").write_text("{}")
    assert "--resume" in train_bundled.command_for("pvdm-mini-bouncing", stages[0], runs)


def recipe_dry_run(model: str, tmp_path: Path) -> list[str]:
    """The step lines ``tools/train_bundled.py MODEL --dry-run`` prints (``[stage] command``)."""
    env = {"VGEN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "train_bundled.py"), model,
                             "--runs", str(tmp_path / "runs"), "--dry-run"], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("[")]


def test_recipe_dry_run_prints_every_stage_and_runs_nothing(tmp_path: Path) -> None:
    lines = recipe_dry_run("lvdm-mini-bouncing", tmp_path)
    assert [line.split("]")[0][1:] for line in lines] == [s.name for s in train_bundled.RECIPES["lvdm-mini-bouncing"]]
    assert not (tmp_path / "home").exists()


def test_gallery_png_is_valid(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = tmp_path / "x.png"
    gallery.write_png(path, image)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = {}, 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks[kind] = body
        offset += 12 + length
    assert struct.unpack(">II", chunks[b"IHDR"][:8]) == (7, 5)
    rows = zlib.decompress(chunks[b"IDAT"])
    decoded = np.frombuffer(rows, dtype=np.uint8).reshape(5, 1 + 7 * 3)[:, 1:].reshape(5, 7, 3)
    assert np.array_equal(decoded, image)


def test_grid_ratio_sees_a_patch_grid_and_not_smooth_video() -> None:
    g = torch.Generator().manual_seed(0)
    smooth = torch.linspace(0, 1, 32).repeat(32, 1)[None, None, None].expand(1, 3, 2, 32, 32)
    assert abs(diagnose.grid_ratio(smooth, 4) - 1.0) < 1e-4
    blocks = torch.rand(1, 3, 2, 8, 8, generator=g).repeat_interleave(4, dim=3).repeat_interleave(4, dim=4)
    assert diagnose.grid_ratio(blocks + 0.01 * smooth, 4) > 10


def test_seam_report_compares_conditions_and_takes_guidance() -> None:
    from test_pipelines_model import tiny_model

    model = tiny_model("pvdm-tiny")
    plain = diagnose.seam_report(model, seeds=2, steps=2)
    keys = {f"seam_change_{k}" for k in ("true_previous", "null", "wrong_previous", "reencoded_previous")}
    assert keys <= plain.keys() and all(plain[k] > 0 for k in keys)
    assert plain["guidance"] == 0.0 and plain["inside_clip_change"] > 0
    guided = diagnose.seam_report(model, seeds=2, steps=2, guidance=3.0)
    assert guided["guidance"] == 3.0
    assert guided["seam_change_true_previous"] != plain["seam_change_true_previous"]
    assert guided["seam_change_null"] == pytest.approx(plain["seam_change_null"], rel=1e-5)  # a no-op on the null latent


def test_upscale_seams_measures_every_window_scheme_at_its_boundaries() -> None:
    import upscale_seams
    from test_pipelines_model import tiny_model
    from vgen.pipelines.settings import SamplerSettings

    model = tiny_model("sr-tiny")  # 8-frame windows
    videos = [np.random.default_rng(i).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8) for i in range(2)]
    result = upscale_seams.measure(model, videos, SamplerSettings(steps=2), overlap=2, seed=0, level=None)
    assert set(result) == {"fresh", "shared", "overlap", "truth", "bicubic"}
    assert (result["fresh"]["every"], result["overlap"]["every"], result["truth"]["every"]) == (8, 6, 6)
    assert result["truth"]["psnr"] is None and all(result[name]["psnr"] > 0 for name in ("fresh", "bicubic"))
    assert all(row["seam_ratio"] > 0 for row in result.values())
    fresh = upscale_seams.upscale_with(model, videos[0][:, ::2, ::2], SamplerSettings(steps=2), overlap=0,
                                       seeds=lambda k: k, level=None)
    shared = upscale_seams.upscale_with(model, videos[0][:, ::2, ::2], SamplerSettings(steps=2), overlap=0,
                                        seeds=lambda k: 0, level=None)
    assert np.array_equal(fresh[:8], shared[:8]) and not np.array_equal(fresh[8:], shared[8:])


@pytest.mark.parametrize("tool,args", [
    ("diagnose", ["--model", "no-such-model", "--json"]),
    ("inflation_report", ["--image", "no-such-model", "--video", "no-such-model", "--json"]),
    ("upscale_seams", ["--model", "no-such-model", "--data", "nowhere", "--json"]),
])
def test_reports_refuse_an_existing_json_before_any_work(tool: str, args: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    import importlib

    existing = tmp_path / "report.json"
    existing.write_text("keep")
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(tool).main([*args, str(existing)])
    assert exc.value.code == 2 and existing.read_text() == "keep"
    assert f"--json {existing} already exists; choose another path" in capsys.readouterr().err


def test_write_text_atomic_replaces_whole_files_and_refuses_a_fifo(tmp_path: Path) -> None:
    import os

    from vgen.errors import VgenError
    from vgen.io.atomic import write_text_atomic

    target = tmp_path / "r.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(VgenError, match="not a regular file"):
        write_text_atomic(tmp_path / "pipe", "x")


def test_reconstructions_are_written_as_lossless_frame_folders(tmp_path: Path) -> None:
    from test_pipelines_model import tiny_model

    from vgen.io.video import read_all, tensor_to_frames

    model = tiny_model("pvdm-tiny")
    clips = diagnose.held_out_clips(model, "bouncing", 3, 1000, model.clip_frames)
    recon = diagnose.reconstruct(model, clips, batch=2)
    paths = diagnose.write_reconstructions(recon, tmp_path / "recon", model.config.fps)
    assert [p.name for p in paths] == ["clip_0000", "clip_0001", "clip_0002"]
    with torch.no_grad():
        expected = tensor_to_frames(model.decode(model.encode(clips[2:3])).clamp(-1, 1)[0])
    assert np.array_equal(read_all(paths[2]), expected)


def test_recon_frames_refuses_an_existing_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "recon").mkdir()
    with pytest.raises(SystemExit) as info:
        diagnose.main(["--model", "pvdm-mini-bouncing", "--recon-frames", str(tmp_path / "recon")])
    assert info.value.code == 2 and "already exists" in capsys.readouterr().err


def test_recon_frames_keeps_every_autoencoder_figure(tmp_path: Path, tmp_vgen_home: Path) -> None:
    """The bundled PVDM model on 2 clips: the reconstructions are written and the seam figures are still reported."""
    out = tmp_path / "recon"
    assert diagnose.main(["--model", "pvdm-mini-bouncing", "--clips", "2", "--recon-frames", str(out),
                          "--json", str(tmp_path / "d.json")]) == 0
    report = json.loads((tmp_path / "d.json").read_text())["autoencoder"]
    assert {"psnr_db", "seams", "recon_frames"} <= report.keys()
    assert sorted(p.name for p in out.iterdir()) == ["clip_0000", "clip_0001"]


def test_widened_latent_decodes_and_denoises_exactly_as_before(tmp_vgen_home: Path, capsys) -> None:
    """tools/widen_latent.py: the widened bundled PVDM model reconstructs the same pixels, its UNet predicts the same
    old channels (whatever the new ones hold) and zero for the new ones; bad input is one line and exit 2."""
    import widen_latent

    from vgen.pipelines.model import load_model

    assert widen_latent.main(["--model", "pvdm-mini-bouncing", "--channels", "6", "--name", "wide"]) == 0
    before, after = load_model("pvdm-mini-bouncing"), load_model("wide")
    assert after.config.autoencoder.latent_channels == 6
    clips = diagnose.held_out_clips(before, "bouncing", 2, 1000, before.clip_frames)
    with torch.no_grad():
        z_old, z_new = before.encode(clips), after.encode(clips)
        assert z_new.shape[1] == 6 and torch.equal(z_new[:, :4], z_old)
        assert z_new[:, 4:].abs().amax() > 0.01  # the new channels carry something
        assert torch.equal(after.decode(z_new), before.decode(z_old))
        g = torch.Generator().manual_seed(0)
        x_t, cond = torch.randn(z_new.shape, generator=g), torch.randn(z_new.shape, generator=g)
        out_old, out_new = before.denoise(x_t[:, :4], 500, cond[:, :4]), after.denoise(x_t, 500, cond)
    assert torch.allclose(out_new[:, :4], out_old, atol=1e-5) and torch.equal(out_new[:, 4:], torch.zeros_like(out_new[:, 4:]))
    assert json.loads((tmp_vgen_home / "models" / "wide" / "card.json").read_text())["widened_from"] == "pvdm-mini-bouncing"
    capsys.readouterr()
    for args, message in ((["--model", "wide", "--channels", "8", "--name", "wide"], "already exists"),
                          (["--model", "wide", "--channels", "6", "--name", "w2"], "must be larger"),
                          (["--model", "vdm-mini-bouncing", "--channels", "8", "--name", "w3"], "only PVDM")):
        assert widen_latent.main(args) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_vgen_home / "models").iterdir()) == ["wide"]


def test_set_defaults_copies_the_weights_with_new_sampling_defaults(tmp_vgen_home: Path, capsys) -> None:
    """tools/set_defaults.py: the copy has the same weights bit for bit and the card, its config the new sampler, and
    sampling it without --sampler equals sampling the original with it; a weight-shaping field, an existing name and
    a no-op are one line and exit 2, writing nothing."""
    import set_defaults

    from vgen.io.checkpoint import load_network
    from vgen.io.store import resolve_model

    assert set_defaults.main(["--model", "vdm-mini-bouncing", "--set", "diffusion.sampler=ddim", "--set",
                              "diffusion.sampling_steps=3", "--name", "vdm-ddpm"]) == 0
    source, copy = resolve_model("vdm-mini-bouncing"), tmp_vgen_home / "models" / "vdm-ddpm"
    state_a, config_a, _ = load_network(source / "unet.safetensors")
    state_b, config_b, _ = load_network(copy / "unet.safetensors")
    assert state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert (config_b.diffusion.sampler, config_b.diffusion.sampling_steps) == ("ddim", 3)
    assert (config_a.diffusion.sampler, config_a.diffusion.sampling_steps) == ("ddpm", 50)
    assert config_b.model_copy(update={"diffusion": config_a.diffusion}) == config_a
    assert (copy / "card.json").read_bytes() == (source / "card.json").read_bytes()

    from vgen.pipelines.generate import sample_video
    from vgen.pipelines.model import load_model
    from vgen.pipelines.settings import SamplerSettings

    def frames(name: str, settings: SamplerSettings) -> np.ndarray:
        return np.concatenate(list(sample_video(load_model(name), settings, frames=8, seed=1).chunks(None)))

    assert np.array_equal(frames("vdm-ddpm", SamplerSettings()),
                          frames("vdm-mini-bouncing", SamplerSettings(sampler="ddim", steps=3)))
    capsys.readouterr()
    for args, message in ((["--set", "diffusion.sampler=ddim", "--name", "vdm-ddpm"], "already exists"),
                          (["--set", "unet.model_channels=16", "--name", "n1"], "changes only how a model samples"),
                          (["--set", "diffusion.prediction=eps", "--name", "n4"], "changes only how a model samples"),
                          (["--set", "diffusion.sampler=ddim", "--set", "diffusion.sampling_steps=3", "--name", "n2"],
                           "nothing to change"),
                          (["--set", "diffusion.sampler=fast", "--name", "n3"], "invalid --set diffusion.sampler")):
        model = "vdm-ddpm" if "nothing to change" in message else "vdm-mini-bouncing"
        assert set_defaults.main(["--model", model, *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in (tmp_vgen_home / "models").iterdir()) == ["vdm-ddpm"]


def test_recipe_ends_with_the_shipped_sampling_defaults(tmp_path: Path) -> None:
    """The recipe's last step stores the sampling defaults the bundled model ships with, and they are the ones it has."""
    from vgen.config.overrides import parse_set
    from vgen.io.store import model_config, resolve_model

    last = recipe_dry_run("vdm-mini-bouncing", tmp_path)[-1]
    assert last.startswith("[defaults] ") and "--set diffusion.sampler=ddpm" in last
    config, _ = model_config(resolve_model("vdm-mini-bouncing"))
    shipped = config.model_dump()
    for text in train_bundled.DEFAULTS["vdm-mini-bouncing"]:
        key, value = parse_set(text)
        section, field = key.split(".")
        assert shipped[section][field] == value, key
    assert not (tmp_path / "home").exists()


def test_recipe_rebuilds_a_stale_defaults_copy_before_installing(tmp_vgen_home: Path, tmp_path: Path) -> None:
    """A finished recipe run installs its last stage with DEFAULTS applied, rebuilt even when an older
    ``<model>--defaults`` copy (another stage's weights, other defaults) is in the store."""
    from set_defaults import copy_with_defaults

    from vgen.io.checkpoint import load_network
    from vgen.io.store import resolve_model

    bundled, store = resolve_model("vdm-mini-bouncing"), tmp_vgen_home / "models"
    store.mkdir(parents=True)
    plain = ["diffusion.sampler=ddim", "diffusion.sampling_steps=20", "diffusion.frame_noise=independent"]
    copy_with_defaults(bundled, store / "vdm-mini-bouncing--diffusion", plain)  # the "trained" last stage
    copy_with_defaults(bundled, store / "vdm-mini-bouncing--defaults", ["diffusion.sampler=dpm++"])  # a stale copy
    pointer = tmp_path / "runs" / "vdm-mini-bouncing--diffusion" / "checkpoints" / "latest"
    pointer.parent.mkdir(parents=True)
    pointer.write_text("diffusion-done\n")
    assert train_bundled.main(["vdm-mini-bouncing", "--runs", str(tmp_path / "runs"),
                               "--install", str(tmp_path / "installed")]) == 0
    state, config, _ = load_network(tmp_path / "installed" / "vdm-mini-bouncing" / "unet.safetensors")
    assert (config.diffusion.sampler, config.diffusion.sampling_steps, config.diffusion.frame_noise) == \
        ("ddpm", 50, "shared-mean")
    expected, _, _ = load_network(bundled / "unet.safetensors")
    assert all(torch.equal(state[k], expected[k]) for k in expected)
