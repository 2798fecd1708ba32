"""The benchmark harness (benchmarks/harness.py) runs end to end; no timing is asserted.

The smoke run must pass with or without the peer packages (video-diffusion-pytorch, diffusers): a missing peer is
skipped with a note. The attention test guards what every timing of the harness assumes: the PVDM and VDM networks hand
``scaled_dot_product_attention`` inputs its fused CPU kernel accepts, so the slow math fallback cannot come back
silently.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
HARNESS = ROOT / "benchmarks" / "harness.py"


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("vgen_bench_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_smoke_run_writes_every_section(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(HARNESS), "--smoke", "--out", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    for name in ("cli", "matmul", "forward", "compile", "conv3d", "sample", "training", "peers", "pvdm_vs_vdm",
                 "dit_vs_unet"):
        section = report[name]
        assert "error" not in section, (name, section.get("error"))
        assert section["load_average_before"] and section["load_average_after"]
        if name != "peers":
            assert "skipped" not in section, name
        assert name in proc.stdout  # each section has a table

    cli = report["cli"]
    assert [row["command"] for row in cli["rows"]] == ["vgen --help", "import vgen.cli"]
    assert all(row["median_s"] > 0 for row in cli["rows"]) and cli["heavy_modules_imported"] == []
    assert report["matmul"]["peak_gflops_s"] > 0 and report["matmul"]["threads"] >= 1
    forward = {row["model"]: row for row in report["forward"]["rows"]}
    assert {"pvdm-tiny", "vdm-tiny", "lvdm-tiny", "dit-tiny", "bundled:pvdm-mini-bouncing"} <= set(forward)
    for row in forward.values():
        assert row["gflops"] > 0 and row["median_s"] > 0 and 0 < row["share_of_peak"]
        assert row["fused_eligible"] is True, row["model"]
        assert row["aten_ops"] > 10 and row["dispatch_floor_us"] > 0
        assert 0 < row["ceiling_share_of_peak"] <= 1, row["model"]
        if torch.backends.mkldnn.is_available():  # no 3D convolution left on PyTorch's slow fallback
            assert row["slow_conv3d"] == 0, row["model"]
    assert forward["vdm-tiny"]["onednn_conv"] > 0 or not torch.backends.mkldnn.is_available()
    compiled = report["compile"]
    assert compiled["backend"] == "eager" and [row["model"] for row in compiled["rows"]] == ["pvdm-tiny"]
    row = compiled["rows"][0]
    assert row["compile_s"] > 0 and row["eager_median_s"] > 0 and row["compiled_median_s"] > 0
    assert row["max_abs_difference"] < 1e-4  # the eager backend runs the same kernels
    conv3d = report["conv3d"]["rows"]
    assert [(row["model"], row["part"]) for row in conv3d] == [("vdm-tiny", "denoise")]
    assert conv3d[0]["speedup"] > 0 and conv3d[0]["max_abs_difference"] < 1e-4
    if torch.backends.mkldnn.is_available():
        assert conv3d[0]["slow_conv3d_default"] > 0 and conv3d[0]["slow_conv3d_onednn"] == 0
    sample = report["sample"]
    assert [row["frames"] for row in sample["rows"]] == [16, 32] and sample["steps"] == 2
    assert all(row["peak_rss_mib"] > 0 and row["runs"][0]["frames"] == row["frames"] for row in sample["rows"])
    stages = {(row["model"], row["stage"]) for row in report["training"]["rows"]}
    assert {("pvdm-tiny", "ae"), ("pvdm-tiny", "diffusion"), ("vdm-tiny", "diffusion")} <= stages
    assert all(row["steps_s"] > 0 for row in report["training"]["rows"])
    compare = report["pvdm_vs_vdm"]
    assert compare["vdm_over_pvdm_flops"] > 0 and compare["vdm_over_pvdm_time"] > 0
    dit = report["dit_vs_unet"]
    assert dit["dit"] == "dit-tiny" and len(dit["rows"]) == 2
    assert all(row["gflops"] > 0 and row["median_s"] > 0 for row in dit["rows"])

    peers = report["peers"]
    for dist, installed in report["machine"]["peers_installed"].items():
        if installed is None:
            assert "not installed" in peers["peers"][dist]["skipped"]
        else:
            assert peers["peers"][dist]["version"] == installed
    if "skipped" not in peers:
        networks = {row["network"] for row in peers["rows"]}
        assert {"vgen VDMUNet", "vgen LVDMUNet"} <= networks
        ours = {row["input"]: row for row in peers["rows"] if row["network"].startswith("vgen ")}
        for row in peers["rows"]:
            if row["network"].startswith("vgen "):
                assert "vgen_time_ratio" not in row
                continue
            vgen_row = ours[row["input"]]
            assert row["vgen_time_ratio"] == pytest.approx(vgen_row["median_s"] / row["median_s"], rel=1e-2)  # rounded
            at_peak = vgen_row["gflops"] / report["matmul"]["peak_gflops_s"] / row["median_s"]
            assert row["vgen_ratio_at_peak"] == pytest.approx(at_peak, rel=1e-2)


def test_unet_width_search_matches_the_dit_s_flop_budget(harness) -> None:
    """The UNet of the dit_vs_unet section costs what dit-s costs per forward (within 10%), on dit-s's own latent."""
    flops, latent, _, _ = harness.denoise_flops(harness.preset("dit-s"))
    assert latent == (8, 5, 16, 16)

    def unet_flops(width: int) -> int:
        with torch.device("meta"):
            net = harness.unet_on_latent(latent, width, 17)
            return harness.meta_flops(harness.vgen_call(net, torch.empty(1, *latent)))

    width, matched = harness.closest_width(unet_flops, list(range(8, 1025, 4)), flops)
    assert abs(matched / flops - 1) <= harness.FLOP_TOLERANCE, (width, matched, flops)
    assert unet_flops(width + 16) > matched  # the search is over a cost that grows with width


def test_missing_peers_are_skipped_with_a_note(harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("video_diffusion_pytorch", "diffusers"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed: find_spec answers None
    out = tmp_path / "peers.json"
    assert harness.main(["--smoke", "--only", "peers", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert "not installed" in report["peers"]["skipped"]
    assert set(report["peers"]["peers"]) == {"video-diffusion-pytorch", "diffusers"}
    assert report["forward"] == {"skipped": "not selected (--only)"}


def test_torchvision_stand_in_serves_the_import_and_is_removed(harness) -> None:
    if "torchvision" in sys.modules:
        pytest.skip("a torchvision is already imported; the stand-in is not used then")
    with harness.inert_torchvision():
        from torchvision import transforms as T, utils  # noqa: F401

        T.ToTensor()  # evaluated at import time by video-diffusion-pytorch (a default argument)
    assert not any(name == "torchvision" or name.startswith("torchvision.") for name in sys.modules)


@pytest.mark.parametrize("name", ["pvdm-tiny", "vdm-tiny"])
def test_attention_inputs_suit_the_fused_kernel(harness, name: str) -> None:
    torch.manual_seed(0)
    model = harness.cpu_model(harness.preset(name))
    x = torch.randn(1, *model.latent_shape())
    calls = harness.attention_inputs(lambda: model.denoise(x, 500))
    assert calls, f"{name} made no scaled_dot_product_attention call"
    for call in calls:
        assert call["dims"] == [4, 4, 4], call
        assert call["last_stride"] == [1, 1, 1], call
        assert len(set(call["dtypes"])) == 1 and len(set(call["head_widths"])) == 1, call
        assert call["fused_eligible"]


def test_attention_check_flags_inputs_the_fused_kernel_refuses(harness) -> None:
    q = torch.randn(2, 4, 8, 16)
    strided = torch.randn(2, 4, 16, 8).transpose(-1, -2)  # stride 8 along the head channels
    calls = harness.attention_inputs(lambda: (torch.nn.functional.scaled_dot_product_attention(q, q, q),
                                              torch.nn.functional.scaled_dot_product_attention(q, strided, q)))
    assert [call["fused_eligible"] for call in calls] == [True, False]
    assert calls[1]["last_stride"] == [1, 8, 1]


def test_operator_count_and_overhead_ceiling(harness) -> None:
    x = torch.ones(4)
    assert harness.aten_ops(lambda: (x + 1) * 2 - x) == 3
    # 1 GFLOP at 100 GFLOP/s is 10 ms; 5,000 operators at 2 µs add 10 ms more: at best half the peak.
    assert harness.overhead_ceiling(10 ** 9, 5000, 2e-6, 100.0) == 0.5
    assert harness.overhead_ceiling(10 ** 9, 0, 2e-6, 100.0) == 1.0
    assert harness.overhead_ceiling(10 ** 9, 5000, 2e-6, None) is None


def test_readme_install_lines_pin_exactly_the_bench_extra() -> None:
    tomllib = pytest.importorskip("tomllib")
    extra = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"])
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    pins = {word for line in readme.splitlines() if line.strip().startswith("pip install")
            for word in line.split() if "==" in word}
    assert pins == extra
