"""Hostile messages at the conversion layer: one-line ValueError for what the core cannot take (integer or
multi-valued x/y/z, a multi-valued intensity, CameraInfo that makes no camera), never a raw numpy or OpenCV error."""
import numpy as np
import pytest

from perception.core.geometry import CameraIntrinsics
from perception.msgs.adapters import lidar_input
from perception.msgs.codec import array_to_pointcloud2, camera_info_to_intrinsics, intrinsics_to_camera_info
from perception.msgs.types import rosbags_types

TYPES = rosbags_types()


def cloud(dtype, n=4):
    points = np.zeros(n, dtype)
    for name in points.dtype.names:
        points[name] = np.arange(n).reshape((n,) + (1,) * (points[name].ndim - 1)) + 1
    return array_to_pointcloud2(TYPES, points, 'lidar', 0)


@pytest.mark.parametrize('dtype, message', [
    ([('x', '<i4'), ('y', '<f4'), ('z', '<f4')], r"field 'x' is int32; x, y and z must be float32 or float64"),
    ([('x', '<f4'), ('y', '<u2'), ('z', '<f4')], r"field 'y' is uint16"),
    ([('x', '<f4'), ('y', '<f4'), ('z', '<f4', (2,))], r"field 'z' has 2 values per point; expected 1"),
    ([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4', (2,))],
     r"field 'intensity' has 2 values per point; expected 1"),
])
def test_point_fields_the_core_cannot_take_are_one_line_value_errors(dtype, message):
    with pytest.raises(ValueError, match=message) as error:
        lidar_input(cloud(dtype))
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('intensity', ['u1', '<u2', '<f8', '<i4'])
def test_float_xyz_of_either_width_and_any_numeric_intensity_are_read(intensity):
    points = lidar_input(cloud([('x', '<f8'), ('y', '<f4'), ('z', '<f8'), ('intensity', intensity)]))
    assert points.dtype == np.float32 and points.shape == (4, 4)
    np.testing.assert_array_equal(points[:, 0], [1, 2, 3, 4])
    np.testing.assert_array_equal(points[:, 3], [1, 2, 3, 4])


def camera_info(**changes):
    msg = intrinsics_to_camera_info(TYPES, CameraIntrinsics.pinhole(640, 480, 500, 500, 319.5, 239.5), 'camera', 0)
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize('changes, message', [
    ({'k': np.r_[np.nan, np.zeros(8)]}, 'K must be finite'),
    ({'k': np.array([500.0, 0, 320, 0, 500, 240, 0, 0, 1]) * [1, 1, 1, 1, -1, 1, 1, 1, 1]},
     'focal lengths must be positive'),
    ({'k': np.zeros(8)}, 'k has 8 values; expected 9'),
    ({'distortion_model': 'equidistant', 'd': np.array([0.1, 0.01, 0.0])},
     'equidistant distortion needs 4 coefficients, got 3'),
    ({'distortion_model': 'kannala_brandt', 'd': np.zeros(4)}, "distortion_model 'kannala_brandt' is not supported"),
    ({'d': np.array([0.1, np.inf, 0, 0, 0])}, 'distortion coefficients must be finite'),
    ({'width': 0}, 'image size must be positive'),
])
def test_camera_info_that_makes_no_camera_is_a_one_line_value_error(changes, message):
    with pytest.raises(ValueError, match=f'^CameraInfo: .*{message}') as error:
        camera_info_to_intrinsics(camera_info(**changes))
    assert '\n' not in str(error.value)


def test_a_fisheye_camera_info_keeps_its_model():
    camera = camera_info_to_intrinsics(camera_info(distortion_model='equidistant', d=np.array([0.1, 0.01, 0, 0])))
    assert camera.distortion_model == 'equidistant' and camera.D.tolist() == [0.1, 0.01, 0, 0]
