"""perception-export camera on a small random-weight network: ONNX Runtime (and OpenVINO, where installed) give
PyTorch's outputs at any size, INT8 quantisation runs, and the exported network runs through the camera segmenter
with flow propagation unchanged."""
import importlib.util

import numpy as np
import pytest
import torch

from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net
from perception.models.correction import CorrectionConfig
from perception.models.mask2former import Mask2FormerConfig

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from perception.export.camera import (check_against_pytorch, export_camera, image_tensor,  # noqa: E402
                                      quantize_camera, read_manifest)
from perception.export.runtime import RuntimeCameraNet  # noqa: E402

PANOPTIC_SIZE = (64, 96)


def tiny_net() -> CameraNet:
    widths = (8, 8, 16, 16)
    panoptic = Mask2FormerConfig(21, in_channels=widths, hidden_dim=32, num_queries=6, encoder_layers=1,
                                 decoder_layers=3, ffn_dim=32)
    torch.manual_seed(0)
    net = CameraNet(CameraNetConfig(21, BackboneConfig(widths=widths, blocks=(1, 1, 1, 1)), 16, panoptic,
                                    CorrectionConfig(channels=8)))
    with torch.no_grad():  # a correction branch that is not the identity, so that its export is checked
        for fusion in net.correction.fuse.values():
            fusion.update.weight.normal_(0, 0.5)
            fusion.gate.bias.fill_(1.0)
    return net.eval()


def textured(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return np.repeat(np.repeat(small, 8, 0), 8, 1)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp('export')
    net = tiny_net()
    save_camera_net(folder / 'camera.pt', net)
    manifest = export_camera(net, folder, folder / 'camera.pt', panoptic_size=PANOPTIC_SIZE)
    return net, manifest


@torch.inference_mode()
def test_onnx_matches_pytorch_at_any_size(exported):
    net, manifest = exported
    runtime = RuntimeCameraNet(manifest, 'onnx', threads=1)
    assert set(read_manifest(manifest)['models']) == {'features', 'semantic', 'panoptic', 'correction'}
    for height, width in ((64, 96), (128, 224)):  # the exported size and another one
        image = image_tensor(textured(height, width, seed=height))
        pyramid, exported_pyramid = net.features(image), runtime.features(image)
        for level in pyramid:
            assert torch.allclose(pyramid[level], exported_pyramid[level], atol=1e-4)
        later = image_tensor(textured(height, width, seed=height + 1))  # corrected by another frame
        corrected, exported_corrected = net.corrected(later, pyramid), runtime.corrected(later, pyramid)
        for level in corrected:
            assert torch.allclose(corrected[level], exported_corrected[level], atol=1e-4)
            assert level == 'res2' or not torch.allclose(corrected[level], pyramid[level], atol=1e-3)
        logits, exported_logits = net.semantic(pyramid), runtime.semantic(exported_pyramid)
        assert exported_logits.shape == logits.shape == (1, 21, height // 4, width // 4)
        assert (logits - exported_logits).abs().max() < 1e-3
    pyramid = net.features(image_tensor(textured(*PANOPTIC_SIZE, seed=1)))
    reference, outputs = net.panoptic(pyramid), runtime.panoptic(pyramid)
    for key in ('pred_logits', 'pred_masks'):
        assert (reference[key] - outputs[key]).abs().max() < 1e-3
    with pytest.raises(ValueError, match='panoptic head takes'):
        runtime.panoptic(net.features(image_tensor(textured(128, 224, seed=2))))


def test_check_and_int8_quantisation(exported):
    net, manifest = exported
    images = [textured(64, 96, seed) for seed in range(4)]  # resized to width 640 inside
    check = check_against_pytorch(net, RuntimeCameraNet(manifest, 'onnx'), images)
    assert check.frames == 4 and check.max_abs_difference < 1e-3 and check.label_agreement > 0.999
    int8_manifest = quantize_camera(manifest, images)
    int8 = read_manifest(int8_manifest)
    assert int8['precision'] == 'int8' and int8['models']['features'] == 'features.int8.onnx'
    import onnx
    graph = onnx.load(str(int8_manifest.parent / int8['models']['features'])).graph
    assert sum(node.op_type == 'QuantizeLinear' for node in graph.node) > 3
    logits = RuntimeCameraNet(int8_manifest, 'onnx').semantic(net.features(image_tensor(images[0])))
    assert logits.shape == (1, 21, 16, 24) and torch.isfinite(logits).all()


def _segment(config: CameraSegmenterConfig, frames: list[np.ndarray]):
    segmenter = CameraSegmenter(config)
    return [segmenter.process(frame, stamp_ns=index * 100_000_000) for index, frame in enumerate(frames)]


@pytest.mark.parametrize('runtime', ['onnx', 'openvino'])
def test_exported_backend_runs_through_the_segmenter(exported, runtime):
    if runtime == 'openvino' and importlib.util.find_spec('openvino') is None:
        pytest.skip('openvino is not installed')
    _, manifest = exported
    base = textured(64, 96, seed=5)
    frames = [np.roll(base, shift, axis=1) for shift in (0, 2, 4, 6)]  # a slow pan: key frame, then propagated
    propagation = PropagationConfig(policy='fixed', interval=3)
    native = _segment(CameraSegmenterConfig(weights=manifest.parent / 'camera.pt', device='cpu', panoptic=True,
                                            input_width=None, propagation=propagation), frames)
    exported_results = _segment(CameraSegmenterConfig(weights=manifest, backend=runtime, panoptic=True,
                                                      input_width=None, propagation=propagation), frames)
    assert [r.key_frame for r in exported_results] == [r.key_frame for r in native] == [True, False, False, True]
    for ours, theirs in zip(exported_results, native):
        assert {'warp', 'correction'} <= set(ours.timing_ms) or ours.key_frame
        assert (ours.labels == theirs.labels).mean() > 0.999
        assert np.abs(ours.confidence - theirs.confidence).max() < 1e-3
        assert ours.panoptic.shape == theirs.panoptic.shape


def test_backend_without_manifest_is_an_error():
    with pytest.raises(ValueError, match='needs model.weights'):
        CameraSegmenter(CameraSegmenterConfig(weights=None, backend='onnx', panoptic=False))
