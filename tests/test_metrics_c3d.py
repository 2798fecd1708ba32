"""C3D for the video Inception Score: architecture shapes, the Chainer npz loader and its mean file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vgen.errors import VgenError
from vgen.metrics.c3d import C3D, CONVS, C3DClassifier


@pytest.fixture(scope="module")
def chainer_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random checkpoint with TGANv2's key names and layouts (conv (out, in, 3, 3, 3), linear (out, in))."""
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray] = {}
    for name, c_in, c_out in (*CONVS, ("fc6", 8192, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 101)):
        shape = (c_out, c_in, 3, 3, 3) if name.startswith("conv") else (c_out, c_in)
        fan_in = int(np.prod(shape[1:]))
        # fc6/fc7 (50M weights) are zero to keep the fixture cheap to build; their biases are random.
        big = name in ("fc6", "fc7")
        arrays[f"{name}/W"] = np.zeros(shape, np.float32) if big else rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2 / fan_in))
        arrays[f"{name}/b"] = rng.standard_normal(c_out, dtype=np.float32) * np.float32(0.1)
    path = tmp_path_factory.mktemp("c3d") / "conv3d_deepnetA_ucf.npz"
    np.savez(path, **arrays)
    return path


def test_c3d_has_the_deepnet_a_size() -> None:
    with torch.device("meta"):
        net = C3D()
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(78e6, rel=0.02)


def test_chainer_npz_with_mean_gives_probabilities(tmp_path: Path, chainer_npz: Path) -> None:
    mean = tmp_path / "mean2.npz"
    sports1m_mean = np.zeros((3, 16, 128, 171), np.float32)
    sports1m_mean[0] = 100.0  # blue channel (BGR) of the mean
    np.savez(mean, mean=sports1m_mean)
    classifier = C3DClassifier(chainer_npz, mean, torch.device("cpu"))
    assert classifier.format == "tgan2-chainer-npz"
    clips = np.random.default_rng(0).integers(0, 256, size=(1, 16, 64, 80, 3), dtype=np.uint8)
    probs = classifier(clips)
    assert probs.shape == (1, 101) and np.allclose(probs.sum(1), 1.0)
    # TGANv2 preprocessing: [-1, 1] -> (x + 1) * 128, RGB -> BGR, minus the mean clip.
    flat = np.zeros((1, 16, 64, 80, 3), np.uint8)
    flat[..., 2] = 255  # pure blue in RGB
    x = classifier._preprocess(torch.as_tensor(flat))
    assert x.shape == (1, 3, 16, 112, 112)
    torch.testing.assert_close(x[0, :, 0, 50, 50], torch.tensor([256.0 - 100.0, 0.0, 0.0]))


def test_npz_without_mean_and_wrong_files_are_refused(tmp_path: Path, chainer_npz: Path) -> None:
    with pytest.raises(VgenError, match="--c3d-mean"):
        C3DClassifier(chainer_npz, None, torch.device("cpu"))
    with pytest.raises(VgenError, match="not found"):
        C3DClassifier(tmp_path / "missing.npz", None, torch.device("cpu"))
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(VgenError, match="TGANv2"):
        C3DClassifier(other, tmp_path / "mean2.npz", torch.device("cpu"))
    with pytest.raises(VgenError, match="not a C3D"):
        C3DClassifier(Path(__file__), None, torch.device("cpu"))
