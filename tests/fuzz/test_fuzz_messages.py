"""Fuzzing the message layer (perception/msgs): random and adversarial PointCloud2, Image and CameraInfo messages.
Whatever arrives, the conversion either gives what the core takes or raises the documented one-line ValueError
(nothing else escapes), and the next valid message converts correctly."""
import random

import numpy as np
from hypothesis import find, given, settings, strategies as st

from fuzz_strategies import FLOATS, FUZZ, TYPES, camera_infos, images, point_clouds
from perception.core.geometry import project_points
from perception.msgs.adapters import camera_input, fusion_camera, fusion_sweep, lidar_input
from perception.msgs.codec import array_to_image, array_to_pointcloud2, camera_info_to_intrinsics

VALID_POINTS = np.zeros(5, [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
VALID_POINTS['x'] = np.arange(5)
VALID_CLOUD = array_to_pointcloud2(TYPES, VALID_POINTS, 'lidar', 0)
VALID_IMAGE = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)


def rejected_in_one_line(convert, msg):
    """convert(msg), or None when it raised ValueError with a one-line message (any other exception fails)."""
    try:
        return convert(msg)
    except ValueError as error:
        assert '\n' not in str(error) and str(error)
        return None


def assert_valid_messages_still_convert():
    np.testing.assert_array_equal(lidar_input(VALID_CLOUD)[:, 0], np.arange(5))
    np.testing.assert_array_equal(camera_input(array_to_image(TYPES, VALID_IMAGE, 'rgb8', 'camera', 0)),
                                  VALID_IMAGE)


@FUZZ
@given(point_clouds())
def test_any_point_cloud_converts_or_is_a_one_line_value_error(msg):
    points = rejected_in_one_line(lidar_input, msg)
    if points is not None:
        assert points.dtype == np.float32 and points.shape == (msg.height * msg.width, 4)
    assert_valid_messages_still_convert()


@st.composite
def well_formed_clouds(draw):
    """x, y, z (float or not), maybe intensity (any count): the layouts a driver could really send."""
    xyz = draw(st.sampled_from(['<f4', '<f8', '>f4', '<i2', '<u4']))
    fields = [(name, xyz) for name in 'xyz']
    if draw(st.booleans()):
        fields.append(('intensity', draw(st.sampled_from(['<f4', 'u1', '<u2', '<f8'])),
                       (draw(st.sampled_from([1, 1, 2])),)))
    points = np.zeros(draw(st.integers(0, 50)), fields)
    for name in points.dtype.names:
        if points[name].dtype.kind == 'f':
            with np.errstate(over='ignore'):
                points[name] = draw(FLOATS)
    msg = array_to_pointcloud2(TYPES, points, 'lidar', 0)
    return msg, points


@FUZZ
@given(well_formed_clouds())
def test_well_formed_clouds_of_any_values_convert_when_their_types_are_documented(cloud):
    msg, points = cloud
    converted = rejected_in_one_line(lidar_input, msg)
    documented = points.dtype['x'].kind == 'f' and (
        'intensity' not in points.dtype.names or points.dtype['intensity'].shape in ((), (1,)))
    assert (converted is not None) == documented
    if documented:
        np.testing.assert_array_equal(converted[:, 2], points['z'].astype(np.float32))
    assert_valid_messages_still_convert()


@FUZZ
@given(images())
def test_any_image_converts_or_is_a_one_line_value_error(msg):
    image = rejected_in_one_line(camera_input, msg)
    if image is not None:
        assert image.dtype == np.uint8 and image.shape == (msg.height, msg.width, 3) and image.flags.c_contiguous
    assert_valid_messages_still_convert()


@FUZZ
@given(camera_infos(), st.lists(st.tuples(FLOATS, FLOATS, FLOATS), max_size=20))
def test_any_camera_info_gives_a_camera_that_projects_or_a_one_line_value_error(msg, points):
    camera = rejected_in_one_line(camera_info_to_intrinsics, msg)
    if camera is None:
        return
    xyz = np.array(points, float).reshape(-1, 3)
    with np.errstate(all='ignore'):
        uv, depth, visible = project_points(xyz, camera)
    assert uv.shape == (len(xyz), 2) and visible.shape == (len(xyz),)
    assert np.isfinite(uv[visible]).all()
    assert ((uv[visible] > -0.5) & (uv[visible] < [camera.width - 0.5, camera.height - 0.5])).all()


@FUZZ
@given(point_clouds())
def test_any_labeled_cloud_reaches_the_fusion_or_is_a_one_line_value_error(msg):
    sweep = rejected_in_one_line(fusion_sweep, msg)
    if sweep is not None:
        assert {len(sweep.points), len(sweep.labels), len(sweep.confidence), len(sweep.instance)} == \
            {msg.height * msg.width}


@FUZZ
@given(st.dictionaries(st.sampled_from(['labels', 'confidence', 'panoptic']), images(), min_size=2))
def test_any_camera_output_images_reach_the_fusion_or_are_a_one_line_value_error(parts):
    camera = rejected_in_one_line(fusion_camera, parts)
    if camera is not None:
        assert camera.labels.ndim == 2 and camera.confidence.ndim == 2


def test_the_message_strategies_make_valid_messages_too():
    """The fuzzers are not only rejecting: each makes messages that convert (searched with a fixed seed)."""
    search = settings(FUZZ, max_examples=300, derandomize=False)
    for strategy, convert in ((point_clouds(), lidar_input), (images(), camera_input),
                              (camera_infos(), camera_info_to_intrinsics)):
        find(strategy, lambda msg: rejected_in_one_line(convert, msg) is not None and msg.width > 0,
             settings=search, random=random.Random(0))
