"""Message <-> core adapters shared by the nodes and replay, and the /diagnostics builder (rosbags and rclpy
messages alike, no rclpy context needed)."""
import numpy as np
import pytest

from perception.core.fusion.pipeline import SceneResult
from perception.core.lidar.segmenter import LidarSegmentation
from perception.msgs.adapters import (CAMERA_OUTPUT_ENCODINGS, camera_input, camera_output_images, fusion_camera,
                                      fusion_sweep, labeled_cloud, lidar_input, scene_status)
from perception.msgs.codec import array_to_image, array_to_pointcloud2, image_to_array
from perception.msgs.diagnostics import ERROR, OK, WARN, node_diagnostics
from perception.msgs.types import rclpy_types, rosbags_types

RGB = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)


@pytest.fixture(params=['rclpy', 'rosbags'])
def types(request):
    if request.param == 'rclpy':
        pytest.importorskip('sensor_msgs.msg')
        return rclpy_types()
    return rosbags_types()


def test_camera_input_takes_rgb8_and_flips_bgr8(types):
    np.testing.assert_array_equal(camera_input(array_to_image(types, RGB, 'rgb8', 'camera', 0)), RGB)
    from_bgr = camera_input(array_to_image(types, np.ascontiguousarray(RGB[..., ::-1]), 'bgr8', 'camera', 0))
    np.testing.assert_array_equal(from_bgr, RGB)
    assert from_bgr.flags.c_contiguous
    with pytest.raises(ValueError, match="rgb8 or bgr8 images, not 'mono8'"):
        camera_input(array_to_image(types, RGB[..., 0], 'mono8', 'camera', 0))


def test_camera_outputs_go_out_in_their_encodings_and_back_into_the_fusion(types):
    outputs = {'labels': RGB[..., 0], 'confidence': RGB[..., 1].astype(np.float32) / 255, 'overlay': RGB,
               'panoptic': RGB[..., 2].astype(np.int32) * 1000}
    images = camera_output_images(types, outputs, 'camera', 5)
    assert list(images) == list(CAMERA_OUTPUT_ENCODINGS)
    assert {name: msg.encoding for name, msg in images.items()} == CAMERA_OUTPUT_ENCODINGS
    for name, msg in images.items():
        np.testing.assert_array_equal(image_to_array(msg), outputs[name])
    assert list(camera_output_images(types, {**outputs, 'panoptic': None}, 'camera', 5)) == [
        'labels', 'confidence', 'overlay']
    camera = fusion_camera({part: images[part] for part in ('labels', 'confidence')})
    np.testing.assert_array_equal(camera.confidence, outputs['confidence'])
    assert camera.panoptic is None


def test_the_labeled_cloud_reads_back_as_the_fusion_input(types):
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 4)).astype(np.float32)
    result = LidarSegmentation(labels=rng.integers(0, 21, 50).astype(np.uint8),
                               confidence=rng.random(50).astype(np.float32),
                               instance=rng.integers(0, 4, 50).astype(np.uint32), valid=np.ones(50, bool),
                               dropped_nonfinite=0, dropped_out_of_range=0, timing_ms={})
    msg = labeled_cloud(types, points, result, 'lidar', 7)
    np.testing.assert_array_equal(lidar_input(msg), points)
    sweep = fusion_sweep(msg)
    np.testing.assert_array_equal(sweep.points, points)
    for name in ('labels', 'confidence', 'instance'):
        np.testing.assert_array_equal(getattr(sweep, name), getattr(result, name))
        assert getattr(sweep, name).dtype == getattr(result, name).dtype
    unlabeled = array_to_pointcloud2(types, np.zeros(3, [('x', '<f4'), ('y', '<f4'), ('z', '<f4')]), 'lidar', 0)
    with pytest.raises(ValueError, match='lacks fields confidence, instance, intensity, label'):
        fusion_sweep(unlabeled)


def test_a_lidar_only_scene_is_a_warning():
    scene = SceneResult(points=np.zeros(0), boxes=[], camera_fused=False, camera_seen=np.zeros(0, bool),
                        camera_point_labels=np.zeros(0, np.uint8), timing_ms={},
                        lidar_only_reason='camera frame is 320x240 but camera_info says 640x480')
    assert scene_status(scene) == (WARN, 'LiDAR-only scene (camera frame is 320x240 but camera_info says 640x480)')
    assert scene_status(SceneResult(**{**vars(scene), 'camera_fused': True, 'lidar_only_reason': ''})) == (OK, 'ok')


def test_diagnostics_carry_a_level_and_numbers(types):
    array = node_diagnostics(types, 'fusion', 3_000_000_001, level=WARN, message='LiDAR-only scene',
                             timing_ms={'fusion': 1.234, 'total': 5}, counters={'scenes': 4, 'rejected': True})
    status, = array.status
    assert status.level == types.DiagnosticStatus.WARN and status.name == 'perception/fusion'
    assert {kv.key: kv.value for kv in status.values} == {'fusion_ms': '1.23', 'total_ms': '5.00', 'scenes': '4',
                                                          'rejected': '1'}
    levels = {level: node_diagnostics(types, 'x', 0, level=level).status[0].level for level in (OK, WARN, ERROR)}
    assert levels == {OK: types.DiagnosticStatus.OK, WARN: types.DiagnosticStatus.WARN,
                      ERROR: types.DiagnosticStatus.ERROR}
    with pytest.raises(ValueError, match='OK, WARN or ERROR'):
        node_diagnostics(types, 'x', 0, level='STALE')
    with pytest.raises(ValueError, match='not an integer'):
        node_diagnostics(types, 'x', 0, counters={'frames': 1.5})
