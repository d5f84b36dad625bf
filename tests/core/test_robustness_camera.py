"""Camera core under hostile input: image sizes DIS optical flow cannot take (tiny, extreme aspect ratios, wider
than OpenCV's remap limit) make key frames instead of raising cv2.error; unusable flow inputs raise ValueError."""
import numpy as np
import pytest
import torch

from perception.core.camera.propagation import FlowEstimator, PropagationConfig, decide_key_frame, flow_size
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net

# (height, width) pairs that made cv2.DISOpticalFlow.calc raise (or crash) at the default flow scale 0.5
DIS_BREAKERS = [(16, 16), (12, 12), (20, 20), (10, 10000), (10, 1000), (24, 5000)]


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'camera.pt'
    torch.manual_seed(0)
    save_camera_net(path, CameraNet(CameraNetConfig(21)))
    return path


@pytest.mark.parametrize('preset', ['ultrafast', 'fast', 'medium'])
@pytest.mark.parametrize('height, width', DIS_BREAKERS + [(8, 8), (10000, 10), (40, 33000)])
def test_flow_of_sizes_dis_cannot_take_is_none(preset, height, width):
    rng = np.random.default_rng(0)
    current, key = (rng.integers(0, 256, (height, width), np.uint8) for _ in range(2))
    assert FlowEstimator(PropagationConfig(flow_preset=preset))(current, key) is None


def test_flow_is_estimated_at_full_resolution_when_the_scaled_image_would_be_too_small():
    assert flow_size(40, 640, 0.5) == (32, 320)  # the short side is kept at the minimum, not halved to 20
    assert flow_size(192, 640, 0.5) == (96, 320)
    assert flow_size(20, 640, 0.5) is None
    assert flow_size(32, 10000, 0.5) == (32, 5000)  # raised at (16, 5000)
    rng = np.random.default_rng(1)
    key = rng.integers(0, 256, (40, 640), np.uint8)
    flow = FlowEstimator(PropagationConfig())(key, key)
    assert flow.shape == (40, 640, 2) and np.abs(flow).mean() < 0.5


@pytest.mark.parametrize('current, key, message', [
    (np.zeros((64, 64), np.uint8), np.zeros((64, 80), np.uint8), 'same size'),
    (np.zeros((64, 64), np.float32), np.zeros((64, 64), np.float32), 'uint8'),
    (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), 'uint8'),
])
def test_unusable_flow_inputs_raise_value_error(current, key, message):
    with pytest.raises(ValueError, match=message):
        FlowEstimator(PropagationConfig())(current, key)


@pytest.mark.parametrize('policy', ['fixed', 'adaptive'])
def test_a_frame_without_flow_is_a_key_frame(policy):
    grey = np.zeros((16, 16), np.uint8)
    decision = decide_key_frame(PropagationConfig(policy=policy, interval=5), 1, grey, grey, None)
    assert decision.key and decision.reason == 'no_flow'


@pytest.mark.parametrize('input_width', [None, 640])  # at the input's own size (no flow there) or resized
@pytest.mark.parametrize('height, width', [(16, 16), (12, 12), (10, 10000), (10000, 10)])
def test_two_consecutive_odd_sized_images_are_segmented_and_the_next_valid_one_too(tiny_weights, height, width,
                                                                                   input_width):
    segmenter = CameraSegmenter(CameraSegmenterConfig(weights=tiny_weights, device='cpu', panoptic=False,
                                                      input_width=input_width))
    rng = np.random.default_rng(2)
    for i in range(2):
        image = rng.integers(0, 256, (height, width, 3), np.uint8)
        result = segmenter.process(image, i * 100_000_000)
        assert result.labels.shape == (height, width)
        assert result.key_frame or input_width is not None  # flow cannot be estimated at these sizes themselves
    valid = np.repeat(rng.integers(0, 256, (96, 160, 1), np.uint8), 3, axis=2)
    assert segmenter.process(valid, 200_000_000).labels.shape == (96, 160)
    assert not segmenter.process(valid, 300_000_000).key_frame  # propagation works again
