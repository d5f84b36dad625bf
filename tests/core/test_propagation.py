"""Flow-guided propagation: warping moves features where the flow says, DIS recovers known motion, the key-frame
policy fires on the right cues, and the segmenter resets on first frame, time gaps and resolution changes."""
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from perception.core.camera.propagation import (FlowEstimator, PropagationConfig, decide_key_frame, warp,
                                                warp_pyramid)
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net


def textured(height=192, width=640, seed=0):
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(0, 256, (height // 8, width // 8), np.uint8), (width, height),
                       interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(noise, (3, 3), 0)


def test_integer_shift_moves_features_exactly():
    features = torch.randn(1, 5, 12, 20)
    flow = torch.zeros(1, 2, 12, 20)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # current pixel (x, y) shows key pixel (x + 3, y - 2)
    warped = warp(features, flow)
    torch.testing.assert_close(warped[..., 2:, :17], features[..., :10, 3:])


def test_pyramid_levels_get_the_flow_divided_by_their_stride():
    pyramid = {level: torch.randn(1, 4, 192 // s, 640 // s) for level, s in
               (('res2', 4), ('res3', 8), ('res4', 16), ('res5', 32))}
    flow = np.zeros((192, 640, 2), np.float32)
    flow[..., 0] = 32.0  # 8 px at stride 4, 4 at 8, 2 at 16, 1 at 32
    warped = warp_pyramid(pyramid, flow)
    for level, s in (('res2', 4), ('res3', 8), ('res4', 16), ('res5', 32)):
        shift = 32 // s
        torch.testing.assert_close(warped[level][..., :-shift], pyramid[level][..., shift:])


def test_dis_flow_recovers_a_known_translation():
    key = textured()
    current = np.roll(key, (3, -6), axis=(0, 1))  # current(p) = key(p + (6, -3))
    flow = FlowEstimator(PropagationConfig(flow_preset='medium'))(current, key)
    inner = flow[20:-20, 20:-20]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 2), 0), [6.0, -3.0], atol=0.5)


def test_fixed_policy_keys_every_interval():
    config = PropagationConfig(policy='fixed', interval=3)
    grey = textured()
    keys = [decide_key_frame(config, n, grey, grey, np.zeros((*grey.shape, 2), np.float32)).key for n in (1, 2, 3)]
    assert keys == [False, False, True]


def test_adaptive_policy_fires_on_motion_and_on_scene_cuts():
    config = PropagationConfig(policy='adaptive', interval=10, max_flow_px=5.0)
    key = textured()
    still = decide_key_frame(config, 1, key, key, np.zeros((*key.shape, 2), np.float32))
    assert not still.key and still.photometric_error < 0.01 and still.scene_change < 0.01
    moved = decide_key_frame(config, 1, key, key, np.full((*key.shape, 2), 8.0, np.float32))
    assert moved.key and moved.reason == 'flow'
    cut = np.full_like(key, 30)
    assert decide_key_frame(config, 1, cut, key, np.zeros((*key.shape, 2), np.float32)).reason == 'scene_change'


def test_adaptive_policy_fires_when_part_of_the_frame_is_unexplained_by_the_flow():
    """A new object covering part of the frame: the mean error stays low, the share of unexplained pixels does not."""
    config = PropagationConfig(policy='adaptive', interval=10, max_photometric_error=1.0, max_unexplained=0.15)
    key = textured()
    still = np.zeros((*key.shape, 2), np.float32)
    for covered, fires in ((0.05, False), (0.3, True)):
        current = key.copy()
        current[:, :round(covered * key.shape[1])] = textured(seed=1)[:, :round(covered * key.shape[1])]
        decision = decide_key_frame(config, 1, current, key, still)
        assert decision.key == fires and decision.reason == ('unexplained' if fires else '')
        assert decision.unexplained == pytest.approx(covered, abs=0.1)


@pytest.fixture(scope='module')
def tiny_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'camera.pt'
    torch.manual_seed(0)
    save_camera_net(path, CameraNet(CameraNetConfig(21)))
    return path


def test_segmenter_keys_and_resets(tiny_weights):
    config = CameraSegmenterConfig(weights=tiny_weights, device='cpu', panoptic=False,
                                   propagation=PropagationConfig(policy='fixed', interval=3, max_gap_s=0.25))
    segmenter = CameraSegmenter(config)
    frame = np.dstack([textured(96, 160)] * 3)
    reasons = [segmenter.process(frame, int(i * 1e8)).key_reason for i in range(5)]
    assert reasons == ['first', '', '', 'interval', '']
    assert segmenter.process(frame, int(10e8)).key_reason == 'reset'  # 0.6 s gap
    assert segmenter.process(frame, int(9e8)).key_reason == 'reset'  # time went back
    out = segmenter.process(np.dstack([textured(100, 150)] * 3), int(9.1e8))
    assert out.key_reason == 'reset' and out.labels.shape == (100, 150) and out.confidence.shape == (100, 150)
    assert out.labels.dtype == np.uint8 and 0 < out.confidence.min() <= out.confidence.max() <= 1
    assert {'backbone', 'semantic_head', 'total'} <= set(out.timing_ms)
    assert 'warp' in segmenter.process(np.dstack([textured(100, 150)] * 3), int(9.2e8)).timing_ms


@pytest.mark.parametrize('image, message', [
    (np.zeros((96, 160), np.uint8), r'\(H, W, 3\) uint8'),
    (np.zeros((96, 160, 4), np.uint8), r'\(H, W, 3\) uint8'),
    (np.zeros((96, 160, 3), np.float32), r'\(H, W, 3\) uint8'),
    (np.zeros((0, 0, 3), np.uint8), 'too small'),
    ('not an image', r'\(H, W, 3\) uint8'),
])
def test_segmenter_rejects_bad_images(tiny_weights, image, message):
    segmenter = CameraSegmenter(replace(CameraSegmenterConfig(), weights=tiny_weights, device='cpu', panoptic=False))
    with pytest.raises(ValueError, match=message):
        segmenter.process(image)
