import numpy as np
import pytest

from perception.core.geometry import invert_transform, make_transform
from perception.core.transforms import TransformError, TransformTree


def test_lookup_composes_through_common_ancestor():
    tree = TransformTree()
    base_T_lidar = make_transform((0.8, 0, 1.7), (0, 0, np.sin(0.1), np.cos(0.1)))
    base_T_camera = make_transform((1.1, 0.06, 1.65), (-0.5, 0.5, -0.5, 0.5))
    tree.add_static('base_link', 'lidar', base_T_lidar)
    tree.add_static('base_link', 'camera', base_T_camera)
    np.testing.assert_allclose(tree.lookup('camera', 'lidar'), invert_transform(base_T_camera) @ base_T_lidar,
                               atol=1e-12)
    np.testing.assert_allclose(tree.lookup('lidar', 'lidar'), np.eye(4))


def test_dynamic_transforms_interpolate_and_refuse_extrapolation():
    tree = TransformTree()
    tree.add('odom', 'base_link', 100, make_transform((0, 0, 0)))
    tree.add('odom', 'base_link', 200, make_transform((2, 0, 0), (0, 0, np.sin(0.5), np.cos(0.5))))
    halfway = tree.lookup('odom', 'base_link', 150)
    np.testing.assert_allclose(halfway[:3, 3], [1, 0, 0])
    np.testing.assert_allclose(np.arctan2(halfway[1, 0], halfway[0, 0]), 0.5, atol=1e-9)  # half of 1 rad
    with pytest.raises(TransformError, match='extrapolation'):
        tree.lookup('odom', 'base_link', 250)


def test_unknown_and_disconnected_frames_are_errors():
    tree = TransformTree()
    tree.add_static('a', 'b', np.eye(4))
    tree.add_static('c', 'd', np.eye(4))
    with pytest.raises(TransformError, match='unknown frame'):
        tree.lookup('a', 'z')
    with pytest.raises(TransformError, match='not connected'):
        tree.lookup('a', 'd')
    with pytest.raises(TransformError, match='already has parent'):
        tree.add_static('c', 'b', np.eye(4))
