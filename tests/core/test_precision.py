"""Camera precision: bf16 runs the network in bfloat16 and hands float32 outputs on; unknown or unsupported
precisions are refused with a clear error."""
import numpy as np
import pytest
import torch

from perception.core.camera.precision import Bfloat16CameraNet, check_precision
from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.eval.metrics import ConfusionMatrix
from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig

NATIVE_BF16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
needs_bf16 = pytest.mark.skipif(not NATIVE_BF16, reason='this CPU does not compute bf16 natively')


def test_unknown_precision_and_onnx_bf16_are_refused(tmp_path):
    with pytest.raises(ValueError, match='precision must be one of'):
        check_precision('fp16', torch.device('cpu'))
    with pytest.raises(ValueError, match='onnx camera backend'):
        CameraSegmenter(CameraSegmenterConfig(backend='onnx', weights=tmp_path / 'camera.json', precision='bf16'))


@pytest.mark.skipif(NATIVE_BF16, reason='this CPU computes bf16 natively')
def test_bf16_is_refused_without_native_support():
    with pytest.raises(ValueError, match='natively'):
        check_precision('bf16', torch.device('cpu'))


@needs_bf16
def test_bf16_network_gives_float32_outputs_close_to_fp32():
    torch.manual_seed(0)
    net = CameraNet(CameraNetConfig(21, BackboneConfig(widths=(8, 16, 16, 32), blocks=(1, 1, 1, 1)), 16)).eval()
    image = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        fp32 = net.features(image)
        bf16 = Bfloat16CameraNet(net, torch.device('cpu')).features(image)
        logits = Bfloat16CameraNet(net, torch.device('cpu')).semantic(bf16)
    assert all(bf16[level].dtype == torch.float32 for level in fp32) and logits.dtype == torch.float32
    for level in fp32:
        scale = fp32[level].abs().max()
        assert 0 < (bf16[level] - fp32[level]).abs().max() <= 0.05 * scale  # rounded, not recomputed in fp32
    assert (logits.argmax(1) == net.semantic(fp32).argmax(1)).float().mean() > 0.95


@needs_bf16
def test_shipped_camera_in_bf16_keeps_its_accuracy(held_out_clip):
    """The shipped camera on the held-out clip: bf16 labels agree with fp32 on almost every pixel and the mIoU
    moves by less than a point."""
    scores, labels = {}, {}
    for precision in ('fp32', 'bf16'):
        segmenter = CameraSegmenter(CameraSegmenterConfig(device='cpu', precision=precision, panoptic=False,
                                                          propagation=PropagationConfig(policy='fixed', interval=1)))
        confusion = ConfusionMatrix(segmenter.taxonomy.num_classes)
        labels[precision] = []
        for frame in held_out_clip:
            result = segmenter.process(frame.image, frame.stamp_ns)
            confusion.update(result.labels, frame.semantic)
            labels[precision].append(result.labels)
        scores[precision] = 100 * confusion.miou()
    agreement = np.mean([np.mean(a == b) for a, b in zip(labels['fp32'], labels['bf16'])])
    assert agreement > 0.97 and abs(scores['bf16'] - scores['fp32']) < 1.0, (agreement, scores)
