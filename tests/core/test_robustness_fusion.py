"""Fusion under hostile input: a camera frame the fusion cannot use (size unlike its camera_info, mismatched
outputs, no calibration, a non-finite transform) sends the sweep out LiDAR-only with the reason, never drops it;
the stamp matcher pairs sweeps and camera frames correctly whatever order they arrive in."""
import itertools

import numpy as np
import pytest

from perception.core.fusion.calibration import FusionCalibration
from perception.core.fusion.fuse import FusionConfig
from perception.core.fusion.pipeline import CameraOutputs, SceneFusion, SceneFusionConfig
from perception.core.fusion.sync import StampMatcher, SyncConfig
from perception.core.geometry import CameraIntrinsics
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
CAR, ROAD = TAXONOMY.id_of('car'), TAXONOMY.id_of('road')
FUSION = SceneFusion(SceneFusionConfig(fusion=FusionConfig(calibration=FusionCalibration(
    camera_weight=1.0, lidar_weight=1.0, camera_confusion=(), lidar_confusion=()))))
CAMERA = CameraIntrinsics.pinhole(200, 100, 100.0, 100.0, 99.5, 49.5)


def sweep(n=500, seed=0):
    rng = np.random.default_rng(seed)
    points = np.c_[rng.uniform(-2, 2, n), rng.uniform(-1, 1, n), rng.uniform(4, 20, n), rng.uniform(0, 1, n)]
    return (points.astype(np.float32), np.full(n, ROAD, np.uint8), np.full(n, 0.4, np.float32),
            np.zeros(n, np.uint32))


def camera_frame(height=100, width=200, label=CAR, panoptic=True):
    return CameraOutputs(labels=np.full((height, width), label, np.uint8),
                         confidence=np.full((height, width), 0.99, np.float32),
                         panoptic=np.full((height, width), label * 1000, np.int32) if panoptic else None)


def fuse(camera, camera_model=CAMERA, transform=np.eye(4)):
    return FUSION.process(*sweep(), camera=camera, camera_model=camera_model, camera_T_lidar=transform)


def test_a_usable_camera_frame_is_fused():
    result = fuse(camera_frame())
    assert result.camera_fused and result.lidar_only_reason == ''
    assert (result.points['label'][result.camera_seen] == CAR).all() and result.camera_seen.sum() > 100


@pytest.mark.parametrize('camera, camera_model, transform, reason', [
    (None, CAMERA, np.eye(4), 'no camera frame within the slop'),
    (camera_frame(), None, np.eye(4), 'no camera_info'),
    (camera_frame(), CAMERA, None, 'no LiDAR->camera transform'),
    (camera_frame(120, 160), CAMERA, np.eye(4), 'camera frame is 160x120 but camera_info says 200x100'),
    (CameraOutputs(labels=np.zeros((100, 200), np.uint8), confidence=np.zeros((50, 200), np.float32),
                   panoptic=None), CAMERA, np.eye(4), 'camera outputs differ in size'),
    (CameraOutputs(labels=np.zeros((100, 200), np.uint8), confidence=np.zeros((100, 200), np.float32),
                   panoptic=np.zeros((100, 201), np.int32)), CAMERA, np.eye(4), 'camera outputs differ in size'),
    (camera_frame(), CAMERA, np.full((4, 4), np.nan), 'LiDAR->camera transform is not a finite 4x4 matrix'),
    (camera_frame(), CAMERA, np.eye(3), 'LiDAR->camera transform is not a finite 4x4 matrix'),
])
def test_an_unusable_camera_side_gives_a_lidar_only_scene_with_the_reason(camera, camera_model, transform, reason):
    result = fuse(camera, camera_model, transform)
    assert not result.camera_fused and result.lidar_only_reason.startswith(reason)
    assert len(result.points) == 500 and (result.points['label'] == ROAD).all()
    assert fuse(camera_frame()).camera_fused  # and the next usable frame fuses


def test_camera_labels_out_of_the_taxonomy_give_a_lidar_only_scene():
    result = fuse(camera_frame(label=250, panoptic=False))
    assert not result.camera_fused and 'camera labels' in result.lidar_only_reason


STAMPS = [1_000_000_000 + i * 100_000_000 for i in range(4)]  # 10 Hz


@pytest.mark.parametrize('order', list(itertools.permutations(range(3))))
def test_out_of_order_stamps_pair_every_sweep_with_its_own_camera_frame(order):
    """Sweeps and camera frames of t, t+0.1, t+0.2 s arriving in any order (each sweep with its camera frame, the
    camera a little earlier): every sweep goes out with the camera frame of its own stamp."""
    matcher = StampMatcher(SyncConfig(slop_s=0.05, camera_timeout_s=0.5))
    out = []
    for now, i in enumerate(order):
        matcher.add_camera(STAMPS[i] + 10_000_000, f'camera {i}')
        matcher.add_sweep(STAMPS[i], f'sweep {i}', received_ns=now * 10_000_000)
        out += matcher.ready(now_ns=now * 10_000_000)
    out += matcher.ready(now_ns=10**9, flush=True)
    assert sorted((sweep_item, camera) for _, sweep_item, camera in out) == [
        (f'sweep {i}', f'camera {i}') for i in range(3)]


@pytest.mark.parametrize('camera_order', list(itertools.permutations(range(3))))
@pytest.mark.parametrize('sweep_order', list(itertools.permutations(range(3))))
def test_camera_frames_arriving_first_in_any_order_pair_with_sweeps_in_any_order(camera_order, sweep_order):
    """The issue's case: stamps t, t-0.1, t-0.2 s, the camera outputs ahead of the slower LiDAR segmentation."""
    matcher = StampMatcher(SyncConfig(slop_s=0.05, camera_timeout_s=0.5))
    for i in camera_order:
        matcher.add_camera(STAMPS[i] - 5_000_000, f'camera {i}')
    out = []
    for now, i in enumerate(sweep_order):
        matcher.add_sweep(STAMPS[i], f'sweep {i}', received_ns=now * 10_000_000)
        out += matcher.ready(now_ns=now * 10_000_000)
    assert sorted((s, c) for _, s, c in out) == [(f'sweep {i}', f'camera {i}') for i in range(3)]


@pytest.mark.parametrize('order', list(itertools.permutations(range(3))))
def test_out_of_order_sweeps_arriving_before_their_camera_frames_still_pair(order):
    """Sweeps first, then their camera frames in the same order (both streams going back alike)."""
    matcher = StampMatcher(SyncConfig(slop_s=0.05, camera_timeout_s=0.5))
    out = []
    for now, i in enumerate(order):
        matcher.add_sweep(STAMPS[i], f'sweep {i}', received_ns=now * 10_000_000)
        out += matcher.ready(now_ns=now * 10_000_000)
    for now, i in enumerate(order, start=3):
        matcher.add_camera(STAMPS[i], f'camera {i}')
        out += matcher.ready(now_ns=now * 10_000_000)
    out += matcher.ready(now_ns=10**9, flush=True)
    assert sorted((s, c) for _, s, c in out) == [(f'sweep {i}', f'camera {i}') for i in range(3)]


def test_a_stamp_going_back_far_still_goes_out_and_late_sweeps_never_block_newer_ones():
    matcher = StampMatcher(SyncConfig(slop_s=0.05, camera_timeout_s=0.5))
    matcher.add_camera(STAMPS[3], 'camera 3')
    matcher.add_sweep(STAMPS[3], 'sweep 3', received_ns=0)
    matcher.add_sweep(STAMPS[0], 'sweep 0', received_ns=0)  # 0.3 s older, its camera frame never comes
    out = matcher.ready(now_ns=0)
    assert ('sweep 3', 'camera 3') in [(s, c) for _, s, c in out]
    out += matcher.ready(now_ns=600_000_000)
    assert sorted((s, c) for _, s, c in out) == [('sweep 0', None), ('sweep 3', 'camera 3')]


@pytest.mark.parametrize('change, message', [
    (lambda s: (s[0][:, :3],) + s[1:], r'must be \(N, 4\)'),
    (lambda s: (s[0], s[1][:-1]) + s[2:], '500 points but 499 labels'),
    (lambda s: (s[0], np.full(500, 40, np.uint8)) + s[2:], 'labels outside the taxonomy'),
])
def test_lidar_inputs_that_make_no_scene_are_value_errors(change, message):
    with pytest.raises(ValueError, match=message):
        FUSION.process(*change(sweep()), camera=camera_frame(), camera_model=CAMERA, camera_T_lidar=np.eye(4))
    assert fuse(camera_frame()).camera_fused
