"""The camera's any-size policy: working width with the aspect ratio kept, padding to multiples of 32, outputs
mapped back to the input size; and the segmenter's input_width hook."""
import numpy as np
import pytest
import torch

from perception.core.camera.image_size import (PAD_MULTIPLE, confidence_to_input, labels_to_input, to_working,
                                               working_geometry)
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net


@pytest.mark.parametrize('height, width, resized', [
    (360, 480, (480, 640)),    # CamVid 4:3
    (1024, 2048, (320, 640)),  # Cityscapes 2:1
    (900, 1600, (360, 640)),   # nuScenes 16:9
    (375, 1242, (193, 640)),   # KITTI 3.3:1
    (333, 501, (425, 640)),    # odd, enlarged
    (4000, 1000, (1280, 320)),  # portrait: at most two working widths tall
    (10000, 10, (1280, 1)),    # a strip: bounded memory
])
def test_geometry_keeps_the_aspect_ratio_and_pads_to_the_stride(height, width, resized):
    geometry = working_geometry(height, width)
    assert geometry.input == (height, width) and geometry.resized == resized
    assert all(p % PAD_MULTIPLE == 0 and 0 <= p - r < PAD_MULTIPLE for p, r in zip(geometry.padded, resized))
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3)).astype(np.uint8)
    working = to_working(image, geometry)
    assert working.shape == (*geometry.padded, 3) and working.dtype == np.uint8
    # padding replicates the last row and column of the resized image
    np.testing.assert_array_equal(working[resized[0]:, :resized[1]], np.broadcast_to(
        working[resized[0] - 1, :resized[1]], (geometry.padded[0] - resized[0], resized[1], 3)))


def test_outputs_return_to_the_input_size_without_the_padding():
    geometry = working_geometry(720, 1280)  # exactly twice the working size: 360x640, padded to 384x640
    assert geometry.padded == (384, 640)
    working = np.repeat(np.arange(640, dtype=np.int32)[None] % 7, 384, axis=0)
    working[360:] = 99  # padding rows must be cropped away
    labels = labels_to_input(working, geometry)
    assert labels.shape == (720, 1280) and labels.dtype == np.int32 and 99 not in labels
    np.testing.assert_array_equal(labels, np.repeat(np.repeat(working[:360], 2, 0), 2, 1))
    confidence = confidence_to_input(np.full((384, 640), 0.25, np.float32), geometry)
    assert confidence.shape == (720, 1280) and np.allclose(confidence, 0.25)
    with pytest.raises(ValueError, match='expected an output of'):
        labels_to_input(np.zeros((100, 100), np.uint8), geometry)


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'camera.pt'
    torch.manual_seed(0)
    save_camera_net(path, CameraNet(CameraNetConfig(21)))
    return path


@pytest.mark.parametrize('height, width', [(96, 128), (90, 160), (77, 131)])  # 4:3, 16:9, odd
def test_segmenter_with_input_width_segments_any_size_at_the_working_size(tiny_weights, height, width):
    image = np.random.default_rng(1).integers(0, 256, (height, width, 3)).astype(np.uint8)
    resizing = CameraSegmenter(CameraSegmenterConfig(weights=tiny_weights, device='cpu', panoptic=False,
                                                     input_width=64))
    native = CameraSegmenter(CameraSegmenterConfig(weights=tiny_weights, device='cpu', panoptic=False,
                                                   input_width=None))
    result = resizing.process(image)
    assert result.labels.shape == result.confidence.shape == (height, width)
    geometry = working_geometry(height, width, 64)
    expected = native.process(to_working(image, geometry))
    np.testing.assert_array_equal(result.labels, labels_to_input(expected.labels, geometry))
    np.testing.assert_allclose(result.confidence, confidence_to_input(expected.confidence, geometry), rtol=1e-5)
