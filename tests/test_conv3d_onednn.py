"""vgen.models.layers.Conv3d: oneDNN for CPU fp32 inference, nn.Conv3d everywhere else, same numbers either way.

PyTorch's CPU dispatch sends batch-1 3D convolutions on few threads to ``slow_conv3d`` (unfold + matmul), 2-6x slower
than oneDNN on vgen's shapes. These tests pin the path taken (so the fallback cannot come back silently) and the
results (so the faster path changes nothing but float rounding).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from vgen.config import preset
from vgen.models import build_networks
from vgen.models.layers import Conv3d

onednn = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch build has no oneDNN")

CASES = [  # (in, out, kernel, stride, padding, groups, input shape after batch and channels)
    (32, 64, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1, (8, 32, 32)),
    (7, 16, (1, 3, 3), (1, 2, 2), (0, 1, 1), 1, (5, 17, 15)),
    (8, 8, (3, 3, 3), (1, 1, 1), 0, 1, (6, 12, 12)),
    (8, 12, (3, 3, 3), (2, 2, 2), (0, 1, 1), 1, (9, 16, 16)),
    (8, 8, (3, 1, 1), (1, 1, 1), (1, 0, 0), 2, (8, 4, 4)),
    (9, 32, (1, 2, 2), (1, 2, 2), 0, 1, (5, 16, 16)),
]


def conv_calls(run) -> list[str]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    return [e.name for e in prof.events() if e.name in ("aten::slow_conv3d_forward", "aten::mkldnn_convolution")]


def pair(c_in, c_out, kernel, stride, padding, groups, bias=True):
    torch.manual_seed(0)
    ours = Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    ref = nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=padding, groups=groups, bias=bias)
    ref.load_state_dict(ours.state_dict())
    return ours, ref


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"k{c[2]}s{c[3]}")
@pytest.mark.parametrize("batch", [1, 3])
def test_inference_matches_nn_conv3d(case, batch) -> None:
    c_in, c_out, kernel, stride, padding, groups, size = case
    ours, ref = pair(c_in, c_out, kernel, stride, padding, groups)
    x = torch.randn(batch, c_in, *size, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        got, want = ours(x), ref(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-5)
    with torch.no_grad():  # no_grad as well as inference_mode
        torch.testing.assert_close(ours(x), want, rtol=1e-5, atol=2e-5)


def test_no_bias_and_non_contiguous_input() -> None:
    ours, ref = pair(6, 10, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1, bias=False)
    x = torch.randn(1, 8, 6, 16, 16).permute(0, 2, 1, 3, 4)  # (1, 6, 8, 16, 16), not contiguous
    assert not x.is_contiguous()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=2e-5)


@onednn
def test_batch_one_inference_runs_on_onednn_not_the_slow_fallback() -> None:
    ours, ref = pair(32, 64, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1)
    x = torch.randn(1, 32, 8, 32, 32)
    with torch.no_grad():
        assert conv_calls(lambda: ref(x)) == ["aten::slow_conv3d_forward"]  # why the class exists
        assert conv_calls(lambda: ours(x)) == ["aten::mkldnn_convolution"]


def test_training_keeps_the_default_path_and_its_gradients() -> None:
    ours, ref = pair(4, 6, (3, 3, 3), (1, 1, 1), (1, 1, 1), 1)
    x = torch.randn(1, 4, 5, 8, 8)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    calls = conv_calls(lambda: ours(x1).square().sum().backward())
    assert "aten::mkldnn_convolution" not in calls
    ref(x2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)


def test_one_by_one_kernels_and_other_dtypes_keep_the_default() -> None:
    """1x1x1 kernels are as fast or faster on the default path; float64 has no oneDNN kernel."""
    one, _ = pair(8, 8, 1, (1, 1, 1), 0, 1)
    with torch.no_grad():
        assert "aten::mkldnn_convolution" not in conv_calls(lambda: one(torch.randn(1, 8, 4, 8, 8)))
        wide, ref = pair(3, 4, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1)
        wide, ref = wide.double(), ref.double()
        x = torch.randn(1, 3, 4, 8, 8, dtype=torch.float64)
        assert "aten::mkldnn_convolution" not in conv_calls(lambda: wide(x))
        assert torch.equal(wide(x), ref(x))


@pytest.mark.parametrize("name", ["vdm-tiny", "vdm-mini", "lvdm-tiny", "dit-tiny"])
def test_presets_build_their_spatial_convs_from_the_fast_class(name) -> None:
    """Every 3D convolution with a kernel larger than 1x1x1 in the presets' networks is vgen's Conv3d."""
    with torch.device("meta"):
        networks = build_networks(preset(name))
    convs = [m for net in networks.values() for m in net.modules()
             if type(m) in (nn.Conv3d, Conv3d) and torch.Size(m.kernel_size).numel() > 1]
    assert convs, name
    plain = [m for m in convs if type(m) is nn.Conv3d]
    assert not plain, (name, plain[:3])


def test_torch_compile_traces_it() -> None:
    """Dynamo traces with fake tensors, which oneDNN's op refuses: under compilation the default path is traced."""
    ours, ref = pair(4, 8, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1)
    x = torch.randn(1, 4, 3, 8, 8)
    compiled = torch.compile(ours, backend="eager", fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), ref(x), rtol=1e-5, atol=2e-5)


@onednn
def test_the_harness_switch_turns_the_path_off_and_back_on() -> None:
    from vgen.models.layers import onednn_conv3d

    ours, _ = pair(8, 8, (1, 3, 3), (1, 1, 1), (0, 1, 1), 1)
    x = torch.randn(1, 8, 4, 16, 16)
    with torch.no_grad():
        with onednn_conv3d(False):
            assert conv_calls(lambda: ours(x)) == ["aten::slow_conv3d_forward"]
        assert conv_calls(lambda: ours(x)) == ["aten::mkldnn_convolution"]
