"""numpy <-> message conversions, on rclpy messages and on rosbags dataclasses alike (no rclpy context needed)."""
import numpy as np
import pytest

from perception.core.clouds import pack_rgb, unpack_rgb
from perception.core.geometry import CameraIntrinsics, make_transform
from perception.msgs.adapters import lidar_input
from perception.msgs.codec import (IMAGE_ENCODINGS, array_to_image, array_to_pointcloud2, camera_info_to_intrinsics,
                                   image_to_array, intrinsics_to_camera_info, matrix_to_transform_stamped,
                                   pointcloud2_to_array, transform_stamped_to_matrix)
from perception.msgs.types import make_header, rclpy_types, rosbags_types, stamp_to_ns

STAMP_NS = 1_700_000_000_123_456_789
EVERY_FIELD_TYPE = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('i8', 'i1'), ('u8', 'u1'), ('i16', '<i2'),
                             ('u16', '<u2'), ('i32', '<i4'), ('u32', '<u4'), ('f64', '<f8'), ('normal', '<f4', (3,))])
PADDED = np.dtype({'names': ['x', 'y', 'z', 'ring'], 'formats': ['<f4', '<f4', '<f4', '<u2'],
                   'offsets': [0, 4, 8, 16], 'itemsize': 32})


@pytest.fixture(params=['rclpy', 'rosbags'])
def types(request):
    if request.param == 'rclpy':
        pytest.importorskip('sensor_msgs.msg')
        return rclpy_types()
    return rosbags_types()


def random_points(dtype: np.dtype, shape, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    points = np.zeros(shape, dtype)
    for name in dtype.names:
        field = points[name]
        if field.dtype.kind == 'f':
            field[...] = rng.normal(size=field.shape) * 100
        else:
            info = np.iinfo(field.dtype)
            field[...] = rng.integers(info.min, info.max, size=field.shape, dtype=field.dtype, endpoint=True)
    return points


def assert_points_equal(actual: np.ndarray, expected: np.ndarray):
    assert actual.shape == expected.shape
    assert set(actual.dtype.names) == set(expected.dtype.names)
    for name in expected.dtype.names:
        assert actual[name].dtype.newbyteorder('=') == expected[name].dtype.newbyteorder('='), name
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def rebuilt_cloud(types, template, data: np.ndarray, **changes):
    """`template` with other bytes and the given fields changed (to build unusual layouts by hand)."""
    fields = {name: getattr(template, name) for name in
              ('header', 'height', 'width', 'fields', 'is_bigendian', 'point_step', 'row_step', 'is_dense')}
    return types.with_bytes(types.PointCloud2, data, **{**fields, **changes})


def test_stamp_round_trip(types):
    header = make_header(types, 'lidar', STAMP_NS)
    assert header.frame_id == 'lidar'
    assert (header.stamp.sec, header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    assert stamp_to_ns(header.stamp) == STAMP_NS


def test_every_field_type_round_trips(types):
    points = random_points(EVERY_FIELD_TYPE, 1000)
    msg = array_to_pointcloud2(types, points, 'lidar', STAMP_NS)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('i8', 12, 1, 1), ('u8', 13, 2, 1), ('i16', 14, 3, 1),
        ('u16', 16, 4, 1), ('i32', 18, 5, 1), ('u32', 22, 6, 1), ('f64', 26, 8, 1), ('normal', 34, 7, 3)]
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 1000, 46, 46000)
    assert not msg.is_bigendian and msg.is_dense
    assert stamp_to_ns(msg.header.stamp) == STAMP_NS and msg.header.frame_id == 'lidar'
    assert_points_equal(pointcloud2_to_array(msg), points)


def test_read_is_a_zero_copy_view(types):
    msg = array_to_pointcloud2(types, random_points(EVERY_FIELD_TYPE, 10), 'lidar', 0)
    assert np.shares_memory(pointcloud2_to_array(msg), np.frombuffer(msg.data, np.uint8))


def test_padding_is_kept_both_ways(types):
    points = random_points(PADDED, 500)
    msg = array_to_pointcloud2(types, points, 'lidar', 0)
    assert msg.point_step == 32 and msg.row_step == 32 * 500
    assert [(f.name, f.offset) for f in msg.fields] == [('x', 0), ('y', 4), ('z', 8), ('ring', 16)]
    read = pointcloud2_to_array(msg)
    assert read.dtype.itemsize == 32
    assert_points_equal(read, points)


def test_big_endian_cloud_is_read_correctly(types):
    points = random_points(EVERY_FIELD_TYPE, 200)
    template = array_to_pointcloud2(types, points, 'lidar', 0)
    msg = rebuilt_cloud(types, template, points.astype(EVERY_FIELD_TYPE.newbyteorder('>')), is_bigendian=True)
    read = pointcloud2_to_array(msg)
    assert all(read[name].dtype.isnative for name in read.dtype.names)
    assert_points_equal(read, points)
    rewritten = array_to_pointcloud2(types, read.astype(read.dtype.newbyteorder('>')), 'lidar', 0)
    assert not rewritten.is_bigendian
    assert bytes(rewritten.data) == bytes(template.data)


def test_nan_points_clear_is_dense_and_are_kept(types):
    points = random_points(PADDED, 100)
    points['x'][3] = np.nan
    points['z'][7] = np.inf
    msg = array_to_pointcloud2(types, points, 'lidar', 0)
    assert not msg.is_dense
    cloud = pointcloud2_to_array(msg)
    assert np.isnan(cloud['x'][3]) and np.isinf(cloud['z'][7])
    assert_points_equal(cloud, points)


def test_organized_cloud(types):
    points = random_points(PADDED, (4, 50))
    msg = array_to_pointcloud2(types, points, 'lidar', 0)
    assert (msg.height, msg.width, msg.row_step) == (4, 50, 50 * 32)
    assert_points_equal(pointcloud2_to_array(msg, organized=True), points)
    assert_points_equal(pointcloud2_to_array(msg), points.reshape(-1))


def test_organized_cloud_with_row_padding(types):
    points = random_points(PADDED, (3, 20))
    template = array_to_pointcloud2(types, points, 'lidar', 0)
    rows = np.zeros((3, 20 * 32 + 24), np.uint8)
    rows[:, :20 * 32] = points.view(np.uint8).reshape(3, -1)
    msg = rebuilt_cloud(types, template, rows, row_step=rows.shape[1])
    assert_points_equal(pointcloud2_to_array(msg, organized=True), points)
    assert_points_equal(pointcloud2_to_array(msg), points.reshape(-1))


def test_empty_cloud(types):
    msg = array_to_pointcloud2(types, np.zeros((0, 5), PADDED), 'lidar', 0)
    assert pointcloud2_to_array(msg, organized=True).shape == (0, 5)
    assert lidar_input(msg).shape == (0, 4)


def test_rgb_packing():
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 2, 3], [255, 255, 255]], np.uint8)
    packed = pack_rgb(rgb)
    assert packed.dtype == np.float32
    assert packed.view(np.uint32).tolist() == [0xFF0000, 0x00FF00, 0x0000FF, 0x010203, 0xFFFFFF]
    np.testing.assert_array_equal(unpack_rgb(packed), rgb)
    every_colour = np.random.default_rng(0).integers(0, 256, (10_000, 3), dtype=np.uint8)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(every_colour)), every_colour)
    with pytest.raises(ValueError, match='uint8'):
        pack_rgb(rgb.astype(float))


@pytest.mark.parametrize('mutate, message', [
    (lambda msg: setattr(msg, 'row_step', msg.row_step + 4), 'height\\*row_step'),
    (lambda msg: setattr(msg, 'row_step', msg.row_step - 4), 'row_step .* smaller than width\\*point_step'),
    (lambda msg: setattr(msg, 'point_step', 10), 'point_step 10 is smaller than its fields'),
    (lambda msg: setattr(msg.fields[1], 'datatype', 42), "PointField 'y' has unknown datatype 42"),
    (lambda msg: setattr(msg.fields[1], 'count', 0), "PointField 'y' has count 0"),
    (lambda msg: setattr(msg.fields[1], 'name', 'x'), 'duplicate field names'),
    (lambda msg: setattr(msg, 'fields', []), 'no fields'),
])
def test_malformed_clouds_raise_value_error(types, mutate, message):
    msg = array_to_pointcloud2(types, random_points(PADDED, 10), 'lidar', 0)
    mutate(msg)
    with pytest.raises(ValueError, match=message):
        pointcloud2_to_array(msg)


def test_cloud_data_length_is_checked(types):
    template = array_to_pointcloud2(types, random_points(PADDED, 10), 'lidar', 0)
    short = rebuilt_cloud(types, template, np.zeros(10 * 32 - 1, np.uint8))
    with pytest.raises(ValueError, match='319 bytes; expected height\\*row_step = 1\\*320'):
        pointcloud2_to_array(short)


def test_cloud_without_xyz_is_rejected(types):
    msg = array_to_pointcloud2(types, np.zeros(5, [('x', '<f4'), ('y', '<f4')]), 'lidar', 0)
    assert msg.is_dense
    with pytest.raises(ValueError, match='no z field'):
        lidar_input(msg)


@pytest.mark.parametrize('points, message', [
    (np.zeros(3, [('x', '<i8')]), 'no PointField datatype'),
    (np.zeros((3, 3), np.float32), 'structured array'),
    (np.zeros((2, 2, 2), PADDED), 'structured array'),
])
def test_unwritable_arrays_raise_value_error(types, points, message):
    with pytest.raises(ValueError, match=message):
        array_to_pointcloud2(types, points, 'lidar', 0)


def random_image(encoding: str, height: int = 6, width: int = 5) -> np.ndarray:
    dtype, channels = IMAGE_ENCODINGS[encoding]
    shape = (height, width, channels) if channels > 1 else (height, width)
    if dtype.kind == 'f':
        return np.random.default_rng(1).normal(size=shape).astype(dtype)
    return np.random.default_rng(1).integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def padded_image_msg(types, image: np.ndarray, encoding: str, padding: int, big_endian: bool = False):
    """An Image whose rows carry `padding` extra bytes (odd paddings also misalign wide pixels)."""
    height, width = image.shape[:2]
    rows = image.astype(image.dtype.newbyteorder('>' if big_endian else '<')).view(np.uint8).reshape(height, -1)
    padded = np.full((height, rows.shape[1] + padding), 0xAB, np.uint8)
    padded[:, :rows.shape[1]] = rows
    return types.with_bytes(types.Image, padded, header=make_header(types, 'camera', 0), height=height, width=width,
                            encoding=encoding, is_bigendian=int(big_endian), step=padded.shape[1])


@pytest.mark.parametrize('encoding', sorted(IMAGE_ENCODINGS))
def test_image_round_trip(types, encoding):
    image = random_image(encoding)
    msg = array_to_image(types, image, encoding, 'camera', STAMP_NS)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (6, 5, encoding, 0)
    assert msg.step == 5 * image.itemsize * (3 if image.ndim == 3 else 1)
    assert stamp_to_ns(msg.header.stamp) == STAMP_NS
    read = image_to_array(msg)
    assert read.dtype == image.dtype
    np.testing.assert_array_equal(read, image)


@pytest.mark.parametrize('encoding', sorted(IMAGE_ENCODINGS))
@pytest.mark.parametrize('big_endian', [False, True])
def test_image_with_row_padding(types, encoding, big_endian):
    image = random_image(encoding)
    read = image_to_array(padded_image_msg(types, image, encoding, padding=7, big_endian=big_endian))
    assert read.dtype.isnative
    np.testing.assert_array_equal(read, image)


def test_single_channel_image_accepts_a_trailing_axis(types):
    image = random_image('mono8')
    np.testing.assert_array_equal(image_to_array(array_to_image(types, image[:, :, None], 'mono8', 'c', 0)), image)


@pytest.mark.parametrize('image, encoding, message', [
    (np.zeros((4, 4, 3), np.uint16), 'rgb8', 'rgb8 needs dtype uint8; got uint16'),
    (np.zeros((4, 4), np.uint8), 'rgb8', 'rgb8 needs an array of shape \\(H, W, 3\\)'),
    (np.zeros((4, 4, 3), np.uint8), 'mono8', 'mono8 needs an array of shape \\(H, W\\)'),
    (np.zeros((4, 4), np.float64), '32FC1', '32FC1 needs dtype float32'),
    (np.zeros((4, 4), np.uint8), 'yuv422', "unsupported image encoding 'yuv422'"),
])
def test_unwritable_images_raise_value_error(types, image, encoding, message):
    with pytest.raises(ValueError, match=message):
        array_to_image(types, image, encoding, 'camera', 0)


@pytest.mark.parametrize('changes, message', [
    ({'encoding': 'bayer_rggb8'}, "unsupported image encoding 'bayer_rggb8'"),
    ({'step': 14}, 'step 14 is smaller than width\\*3 = 15'),
    ({'height': 7}, 'expected height\\*step = 7\\*15'),
])
def test_malformed_images_raise_value_error(types, changes, message):
    msg = array_to_image(types, random_image('rgb8'), 'rgb8', 'camera', 0)
    for name, value in changes.items():
        setattr(msg, name, value)
    with pytest.raises(ValueError, match=message):
        image_to_array(msg)


def test_camera_info_round_trip(types):
    camera = CameraIntrinsics(1920, 1080, np.array([[1000.0, 0, 959.5], [0, 1001.0, 539.5], [0, 0, 1]]),
                              np.array([-0.1, 0.02, 0.001, -0.002, 0.0]))
    msg = intrinsics_to_camera_info(types, camera, 'camera_optical', STAMP_NS)
    assert (msg.width, msg.height, msg.distortion_model, msg.header.frame_id) == (1920, 1080, 'plumb_bob',
                                                                                  'camera_optical')
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4))[:, :3], camera.K)
    read = camera_info_to_intrinsics(msg)
    assert (read.width, read.height, read.distortion_model) == (1920, 1080, 'plumb_bob')
    np.testing.assert_array_equal(read.K, camera.K)
    np.testing.assert_array_equal(read.D, camera.D)


def test_uncalibrated_camera_info_raises_value_error(types):
    msg = intrinsics_to_camera_info(types, CameraIntrinsics.pinhole(640, 480, 500, 500, 320, 240), 'camera', 0)
    msg.k = np.zeros(9)
    with pytest.raises(ValueError, match='uncalibrated'):
        camera_info_to_intrinsics(msg)


def test_transform_stamped_round_trip(types):
    matrix = make_transform((1.5, -0.2, 1.9), (0.0, 0.0, np.sin(0.3), np.cos(0.3)))
    msg = matrix_to_transform_stamped(types, matrix, 'base_link', 'lidar', STAMP_NS)
    assert (msg.header.frame_id, msg.child_frame_id) == ('base_link', 'lidar')
    assert msg.transform.translation.x == 1.5
    read = transform_stamped_to_matrix(msg)
    assert (read.parent_frame, read.child_frame, read.stamp_ns) == ('base_link', 'lidar', STAMP_NS)
    np.testing.assert_allclose(read.matrix, matrix, atol=1e-12)


def test_bridge_gives_the_same_rclpy_message():
    bridge = pytest.importorskip('perception.ros_utils.bridge')
    points = random_points(EVERY_FIELD_TYPE, 300)
    stored = array_to_pointcloud2(rosbags_types(), points, 'lidar', STAMP_NS)
    live = bridge.to_rclpy(stored)
    assert type(live) is rclpy_types().PointCloud2
    assert_points_equal(pointcloud2_to_array(live), points)
    assert stamp_to_ns(live.header.stamp) == STAMP_NS
    assert live.data.tobytes() == array_to_pointcloud2(rclpy_types(), points, 'lidar', STAMP_NS).data.tobytes()
