"""int8 of conv + ReLU6 (EfficientNet-Lite's activation): the int8 range must be the clipped
output's [0, 6], not the conv's pre-clip range. Before the fix, XNNPACK's quantizer gave
hardtanh the conv output's observer, and efficientnet_lite0's int8 .pte lost 7 points of
balanced accuracy and failed its parity gate."""
import pytest
import torch
from torch import nn

pytest.importorskip("executorch")


def quantized(model: nn.Module, calibration: torch.Tensor) -> nn.Module:
    from executorch.backends.xnnpack.quantizer import xnnpack_quantizer as xq
    from torchao.quantization.pt2e import quantize_pt2e as pt2e

    from skinedge.targets.executorch import _relu6_as_fused_activation

    quantizer = xq.XNNPACKQuantizer().set_global(
        xq.get_symmetric_quantization_config(is_per_channel=True))
    gm = torch.export.export(model, (calibration,)).module()
    with _relu6_as_fused_activation():
        prepared = pt2e.prepare_pt2e(gm, quantizer)
    with torch.no_grad():
        prepared(calibration)
    return pt2e.convert_pt2e(prepared)


def test_conv_relu6_keeps_int8_resolution_of_the_clipped_range():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    with torch.no_grad():  # half the channels far outside [0, 6]: ReLU6 clips them
        conv.bias.copy_(torch.tensor([0, 0, 0, 0, 100, -100, 100, -100]))
    model = nn.Sequential(conv, nn.ReLU6()).eval()
    x = torch.rand(32, 3, 16, 16)
    with torch.no_grad():
        want = model(x)
        got = quantized(model, x)(x)
        assert float(conv(x).abs().max()) > 50
    # Where ReLU6 does not clip, the error is a fraction of one int8 step of [0, 6] (6/255,
    # about 0.024), not of one step of the pre-clip range (about 200/255).
    inside = (want > 0) & (want < 6)
    assert inside.float().mean() > 0.02
    assert float((got - want)[inside].abs().mean()) < 0.05


def test_the_quantizer_is_left_as_it_was():
    from executorch.backends.xnnpack.quantizer import xnnpack_quantizer_utils as utils

    from skinedge.targets.executorch import _relu6_as_fused_activation

    before = utils.is_relu_node
    with _relu6_as_fused_activation():
        assert utils.is_relu_node is not before
    assert utils.is_relu_node is before
