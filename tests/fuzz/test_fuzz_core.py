"""Fuzzing the core layers with tiny models: the camera segmenter (image sizes incl. tiny and extreme aspect ratios,
stamps going back), optical flow at any size, the LiDAR segmenter (NaN/inf/huge points, any count), the camera
model and projection, the fusion pipeline (any camera side) and the stamp matcher (any arrival order). Nothing but
the documented ValueError escapes, and the next valid input is processed correctly."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

from fuzz_strategies import FLOATS, FUZZ, SLOW_FUZZ
from perception.core.camera.propagation import FlowEstimator, PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.fusion.calibration import FusionCalibration
from perception.core.fusion.fuse import FusionConfig
from perception.core.fusion.pipeline import CameraOutputs, SceneFusion, SceneFusionConfig
from perception.core.fusion.sync import StampMatcher, SyncConfig
from perception.core.geometry import CameraIntrinsics
from perception.core.lidar.segmenter import LidarModel, LidarSegmenter, LidarSegmenterConfig
from perception.models.camera_net import BackboneConfig, CameraNet, CameraNetConfig, save_camera_net
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
SIZES = st.one_of(st.tuples(st.integers(1, 48), st.integers(1, 48)),
                  st.sampled_from([(16, 16), (12, 12), (10, 2000), (2000, 10), (8, 8), (33, 700), (96, 160)]))


def value_error_or(function, *args):
    try:
        return function(*args)
    except ValueError as error:
        assert '\n' not in str(error) and str(error)
        return None


@pytest.fixture(scope='module')
def camera(tmp_path_factory):
    path = tmp_path_factory.mktemp('weights') / 'camera.pt'
    torch.manual_seed(0)
    backbone = BackboneConfig(widths=(8, 8, 16, 16), blocks=(1, 1, 1, 1))
    save_camera_net(path, CameraNet(CameraNetConfig(TAXONOMY.num_classes, backbone, 16)))
    return CameraSegmenter(CameraSegmenterConfig(weights=path, device='cpu', panoptic=False))


@pytest.fixture(scope='module')
def lidar(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('weights') / 'pointnet2.pt'
    config = {'num_classes': TAXONOMY.num_classes, 'num_centroids': (32, 8), 'radii': (1.0, 3.0),
              'num_neighbours': 8, 'sa_channels': ((8,), (16,)), 'fp_channels': ((16,), (8,))}
    LidarModel.build('pointnet2', config, 0.3, 256).save(path, TAXONOMY.names)
    return LidarSegmenter(LidarSegmenterConfig(backend='pointnet2', weights=str(path), device='cpu',
                                               min_range=1.0, max_range=50.0))


VALID_IMAGE = np.repeat(np.random.default_rng(0).integers(0, 256, (96, 160, 1), np.uint8), 3, axis=2)


@SLOW_FUZZ
@given(st.lists(st.tuples(SIZES, st.integers(0, 3), st.integers(0, 10**9)), min_size=1, max_size=4))
def test_camera_segmenter_takes_any_image_sequence(camera, frames):
    """Images of random sizes (repeated, so flow runs between equal sizes) at stamps that jump and go back."""
    for (height, width), repeats, stamp in frames:
        image = np.random.default_rng(stamp).integers(0, 256, (height, width, 3), np.uint8)
        for i in range(repeats):
            result = value_error_or(camera.process, image, stamp + i * 50_000_000)
            if result is not None:
                assert result.labels.shape == (height, width) and result.confidence.shape == (height, width)
            else:
                assert min(height, width) < 8  # the documented lower bound
    result = camera.process(VALID_IMAGE, 2 * 10**9)
    assert result.labels.shape == (96, 160) and result.labels.max() < TAXONOMY.num_classes


@FUZZ
@given(st.integers(1, 3000), st.integers(1, 3000), st.sampled_from(['ultrafast', 'fast', 'medium']),
       st.sampled_from([0.25, 0.5, 1.0]))
def test_optical_flow_never_fails_on_a_size(height, width, preset, scale):
    if height * width > 1_500_000:
        height = max(1, 1_500_000 // width)
    rng = np.random.default_rng(height * width)
    current, key = (rng.integers(0, 256, (height, width), np.uint8) for _ in range(2))
    flow = FlowEstimator(PropagationConfig(flow_preset=preset, flow_scale=scale))(current, key)
    assert flow is None or (flow.shape == (height, width, 2) and np.isfinite(flow).all())


@st.composite
def sweeps(draw):
    """(N, 4) points: N from 0, values normal, NaN, inf or huge, and some sweeps of the wrong shape."""
    count = draw(st.integers(0, 600))
    rng = np.random.default_rng(count)
    points = np.c_[rng.uniform(-30, 30, (count, 3)), rng.uniform(0, 1, count)].astype(np.float32)
    for _ in range(draw(st.integers(0, 3))):
        if count:
            with np.errstate(over='ignore'):
                points[draw(st.integers(0, count - 1)), draw(st.integers(0, 3))] = draw(FLOATS)
    if draw(st.integers(0, 9)) == 0:
        points = draw(st.sampled_from([points[:, :3], np.c_[points, points[:, :1]], points.astype(np.float64),
                                       points.ravel()]))
    if draw(st.integers(0, 9)) == 0 and count:
        points[:] = draw(st.sampled_from([np.nan, 0.0, 5.0, 1e30]))
    return points


VALID_SWEEP = np.c_[np.random.default_rng(1).uniform(-20, 20, (400, 3)), np.full(400, 0.5)].astype(np.float32)


@SLOW_FUZZ
@given(sweeps())
def test_lidar_segmenter_takes_any_sweep(lidar, points):
    result = value_error_or(lidar.process, points)
    if result is not None:
        assert len(result.labels) == len(points) and result.labels.dtype == np.uint8
        assert ((result.labels < TAXONOMY.num_classes) | (result.labels == TAXONOMY.ignore_id)).all()
        assert not result.valid[~np.isfinite(points).all(axis=1)].any()
    valid = lidar.process(VALID_SWEEP)
    assert valid.valid.sum() > 300


FUSION = SceneFusion(SceneFusionConfig(fusion=FusionConfig(calibration=FusionCalibration(
    camera_weight=1.0, lidar_weight=1.0, camera_confusion=(), lidar_confusion=()))))
CAMERA = CameraIntrinsics.pinhole(64, 48, 40.0, 40.0, 31.5, 23.5)


@st.composite
def camera_sides(draw):
    """(camera outputs, intrinsics, transform), each sometimes missing, mis-sized, mistyped or non-finite."""
    height, width = draw(st.sampled_from([(48, 64), (48, 64), (24, 32), (0, 0), (48, 65)]))
    labels = np.full((height, width), draw(st.sampled_from([1, 2, 20, 21, 255])), draw(st.sampled_from(
        [np.uint8, np.uint8, np.int32, np.float32])))
    confidence = np.full(draw(st.sampled_from([(height, width), (height, width), (3, 3)])),
                         draw(st.sampled_from([0.9, 0.0, 1.0, np.nan, np.inf])), np.float32)
    panoptic = draw(st.sampled_from([None, np.zeros((height, width), np.int32), np.full((2, 2), -5, np.int32)]))
    camera = draw(st.sampled_from([CameraOutputs(labels, confidence, panoptic), None]))
    model = draw(st.sampled_from([CAMERA, CAMERA, None, CameraIntrinsics(64, 48, CAMERA.K, np.full(4, 0.1),
                                                                         'equidistant')]))
    transform = draw(st.sampled_from([np.eye(4), np.eye(4), None, np.full((4, 4), np.nan), np.eye(3),
                                      np.diag([1.0, 1.0, 1.0, 1e30])]))
    return camera, model, transform


@FUZZ
@given(camera_sides(), sweeps())
def test_fusion_makes_a_scene_from_any_camera_side(side, points):
    n = len(points)
    labels = np.random.default_rng(n).integers(0, TAXONOMY.num_classes, n).astype(np.uint8)
    inputs = (points, labels, np.full(n, 0.6, np.float32), np.zeros(n, np.uint32))
    lidar_usable = points.ndim == 2 and points.shape[1] == 4
    try:
        result = FUSION.process(*inputs, *side)
    except ValueError:
        assert not lidar_usable  # the camera side never costs the scene
    else:
        assert len(result.points) == n and (result.camera_fused or result.lidar_only_reason)
    good = FUSION.process(VALID_SWEEP, np.full(400, 1, np.uint8), np.full(400, 0.6, np.float32),
                          np.zeros(400, np.uint32), CameraOutputs(np.full((48, 64), 2, np.uint8),
                                                                  np.full((48, 64), 0.9, np.float32), None),
                          CAMERA, np.eye(4))
    assert good.camera_fused and len(good.points) == 400


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(['camera', 'sweep', 'ready']), st.integers(0, 20)), max_size=40),
       st.integers(1, 6))
def test_stamp_matcher_emits_every_sweep_once_whatever_the_order(events, queue_size):
    """Sweeps and camera frames at stamps k * 0.1 s arriving in any order: every sweep goes out exactly once (or
    is counted as dropped), with a camera frame within the slop or none, each camera frame used at most once."""
    matcher = StampMatcher(SyncConfig(slop_s=0.05, queue_size=queue_size, camera_timeout_s=0.5))
    added, out, now = [], [], 0
    for kind, k in events:
        now += 10_000_000
        stamp = k * 100_000_000
        if kind == 'camera':
            matcher.add_camera(stamp, ('camera', k))
        elif kind == 'sweep':
            added.append(('sweep', len(added)))
            matcher.add_sweep(stamp, (added[-1], stamp), received_ns=now)
        else:
            out += matcher.ready(now)
    out += matcher.ready(now, flush=True)
    emitted = [sweep for _, (sweep, _), _ in out]
    assert len(emitted) == len(set(emitted)) and len(emitted) + matcher.dropped_sweeps == len(added)
    cameras = [camera for *_, camera in out if camera is not None]
    assert len(cameras) == len(set(cameras))
    for stamp, (_, sweep_stamp), camera in out:
        assert stamp == sweep_stamp and (camera is None or abs(camera[1] * 100_000_000 - stamp) <= 50_000_000)


@FUZZ
@given(st.permutations(range(8)), st.permutations(range(8)), st.lists(st.booleans(), min_size=8, max_size=8),
       st.sets(st.integers(0, 7)))
def test_queued_camera_frames_pair_with_sweeps_in_any_order(camera_order, sweep_order, ready_after, missing):
    """Camera frames (some missing) first in any order, then the sweeps in any order with ready() anywhere in
    between: each sweep gets the camera frame of its own stamp when there is one."""
    matcher = StampMatcher(SyncConfig(slop_s=0.05, queue_size=8, camera_timeout_s=10.0))
    for k in camera_order:
        if k not in missing:
            matcher.add_camera(k * 100_000_000 + 3_000_000, k)
    out = []
    for now, (k, ready) in enumerate(zip(sweep_order, ready_after)):
        matcher.add_sweep(k * 100_000_000, k, received_ns=now)
        if ready:
            out += matcher.ready(now)
    out += matcher.ready(10**9, flush=True)
    assert sorted((sweep, camera) for _, sweep, camera in out) == [
        (k, None if k in missing else k) for k in range(8)]
