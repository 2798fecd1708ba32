"""Network checkpoints and training state: bit-exact round trips, and one clear error per defect."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch

from vgen.config import preset
from vgen.errors import VgenError
from safetensors.torch import load_file

from vgen.io.checkpoint import (FORMAT_VERSION, content_hash, load_into, load_network, load_training_state,
                                read_header, save_network, save_training_state)


def tiny_net(out: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.GroupNorm(2, 8), torch.nn.Conv2d(8, out, 1))


@pytest.fixture
def saved(tmp_path) -> Path:
    path = tmp_path / "unet.safetensors"
    net = tiny_net()
    net.register_buffer("scale_factor", torch.tensor(0.18215, dtype=torch.float64))
    save_network(path, net.state_dict(), preset("pvdm-tiny"), role="unet", extra={"ema": True, "step": 7})
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_network_round_trip_is_bit_exact(saved):
    original = tiny_net().state_dict()
    state, config, meta = load_network(saved)
    assert config == preset("pvdm-tiny")
    assert meta["role"] == "unet" and meta["extra"] == {"ema": True, "step": 7}
    assert meta["format_version"] == FORMAT_VERSION and meta["vgen_version"]
    for key, value in original.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value)
    assert state["scale_factor"].dtype == torch.float64
    metadata, index = read_header(saved)
    assert json.loads(metadata["config"])["name"] == "pvdm-tiny"
    assert index["0.weight"] == ("F32", (8, 3, 3, 3))


def test_load_into_fills_module_and_names_mismatches(saved):
    net = tiny_net()
    net.register_buffer("scale_factor", torch.tensor(0.0, dtype=torch.float64))
    for p in net.parameters():
        torch.nn.init.zeros_(p)
    config, meta = load_into(net, saved, role="unet")
    assert torch.equal(net[0].weight, tiny_net()[0].weight) and float(net.scale_factor) == pytest.approx(0.18215)
    wrong = tiny_net(out=6)
    with pytest.raises(VgenError) as info:
        load_into(wrong, saved)
    message = one_line(info)
    assert "shape mismatches" in message and "2.weight" in message and "unexpected keys" in message
    with pytest.raises(VgenError, match="'unet' network, not 'autoencoder'"):
        load_into(net, saved, role="autoencoder")


def test_flipped_byte_is_caught_by_the_hash(saved):
    data = bytearray(saved.read_bytes())
    data[-5] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(VgenError) as info:
        load_network(saved)
    assert "content hash" in one_line(info)


@pytest.mark.parametrize("keep", [4, 200, -1])
def test_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep > 0 else data[:keep - 10])
    with pytest.raises(VgenError) as info:
        load_network(saved)
    assert "truncated" in one_line(info)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"PK\x03\x04 this is a zip, or a pickle, or anything else" * 10)
    with pytest.raises(VgenError) as info:
        load_network(path)
    assert "not a safetensors file" in one_line(info)


def rewrite_metadata(path: Path, reseal: bool = False, **changes: str | None) -> None:
    """Edit a safetensors file's metadata in place (keeping the tensor bytes). ``reseal`` recomputes the
    content hash over the edited metadata, as a tool that writes a bad but consistent file would."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    for key, value in changes.items():
        if value is None:
            header["__metadata__"].pop(key, None)
        else:
            header["__metadata__"][key] = value
    if reseal:
        header["__metadata__"]["content_hash"] = content_hash(load_file(str(path)), header["__metadata__"])
    if not header["__metadata__"]:
        del header["__metadata__"]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + length:])


def test_missing_metadata(saved):
    metadata, _ = read_header(saved)
    rewrite_metadata(saved, **{key: None for key in metadata})
    with pytest.raises(VgenError) as info:
        load_network(saved)
    assert "no vgen metadata" in one_line(info)


def test_format_version_too_new(saved):
    rewrite_metadata(saved, format_version=str(FORMAT_VERSION + 1))
    with pytest.raises(VgenError) as info:
        load_network(saved)
    assert "upgrade vgen" in one_line(info)


def test_invalid_config(saved):
    rewrite_metadata(saved, reseal=True, config=json.dumps({"family": "pvdm", "name": "x", "frames": -3}))
    with pytest.raises(VgenError) as info:
        load_network(saved)
    assert "invalid config" in one_line(info)


def test_training_state_is_not_a_network(saved, tmp_path):
    save_training_state(tmp_path / "state.safetensors", {"step": torch.tensor(1)}, {})
    with pytest.raises(VgenError, match="vgen-training-state file, not a vgen-network"):
        load_network(tmp_path / "state.safetensors")


def test_training_state_round_trips_optimizer_and_rng_bit_exactly(tmp_path):
    net = tiny_net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.01)
    for _ in range(2):
        net(torch.randn(2, 3, 8, 8)).square().mean().backward()
        opt.step()
    state = {
        "optimizer": opt.state_dict(),
        "ema": {k: v.clone() for k, v in net.state_dict().items()},
        "rng": {"torch": torch.get_rng_state(), "python": (3, (1, 2, 2**40), None)},
        "half": torch.randn(3, dtype=torch.bfloat16)[::2],
        "flags": torch.tensor([True, False]),
        "__weird": {"__tensor__": "not a reference", 5: [1.5, float("inf"), -0.0]},
    }
    meta = {"step": 2, "data_position": [0, 17], "run": "mine", "lr": 1e-3}
    path = tmp_path / "training_state.safetensors"
    save_training_state(path, state, meta)
    back, meta_back = load_training_state(path)
    assert meta_back == meta

    def assert_same(a, b):
        assert type(a) is type(b)
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
        elif isinstance(a, dict):
            assert list(a) == list(b)
            for key in a:
                assert_same(a[key], b[key])
        elif isinstance(a, (list, tuple)):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                assert_same(x, y)
        else:
            assert a == b or (a != a and b != b)

    assert_same(state, back)
    # The restored optimizer continues exactly like the original.
    twin = tiny_net()
    twin.load_state_dict(net.state_dict())
    opt_twin = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    opt_twin.load_state_dict(back["optimizer"])
    x = torch.randn(2, 3, 8, 8)
    for model, optimizer in ((net, opt), (twin, opt_twin)):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters()))


def test_training_state_rejects_unsupported_values(tmp_path):
    with pytest.raises(TypeError, match="Generator"):
        save_training_state(tmp_path / "s.safetensors", {"gen": torch.Generator()}, {})
    with pytest.raises(TypeError, match="plain JSON"):
        save_training_state(tmp_path / "s.safetensors", {}, {"t": torch.zeros(1)})
    assert list(tmp_path.iterdir()) == []


def test_no_unpickling_anywhere():
    """Checkpoint code must never call torch.load or pickle on user files."""
    root = Path(__file__).parents[1] / "vgen" / "io"
    for source in root.glob("*.py"):
        text = source.read_text()
        assert "torch.load(" not in text and "import pickle" not in text, source
