"""rosbag2 write and read back (MCAP and sqlite3), time order across topics, and one-line errors."""
import dataclasses

import numpy as np
import pytest

from perception.core.geometry import CameraIntrinsics, make_transform
from perception.io.bag import BagError, BagReader, BagWriter
from perception.core.clouds import pack_rgb
from perception.msgs.codec import (array_to_image, array_to_pointcloud2, intrinsics_to_camera_info,
                                   matrix_to_transform_stamped)
from perception.msgs.types import ros2_typestore, rosbags_types

T0_NS = 1_700_000_000_000_000_000
FRAME_NS = 100_000_000
TOPICS = {'/lidar/points': 'sensor_msgs/msg/PointCloud2', '/camera/image': 'sensor_msgs/msg/Image',
          '/camera/camera_info': 'sensor_msgs/msg/CameraInfo', '/tf': 'tf2_msgs/msg/TFMessage'}


def recording(frames: int = 3) -> list[tuple[str, int, object]]:
    """(topic, stamp_ns, message) grouped by topic, so stamps interleave across topics."""
    types, rng = rosbags_types(), np.random.default_rng(3)
    TFMessage = ros2_typestore().types['tf2_msgs/msg/TFMessage']
    camera = CameraIntrinsics(64, 48, np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]]), np.full(5, 0.01))
    points = np.zeros(500, [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('rgb', '<f4')])
    recorded = []
    for frame in range(frames):
        stamp = T0_NS + frame * FRAME_NS
        for axis in 'xyz':
            points[axis] = rng.normal(size=len(points))
        points['x'][frame] = np.nan
        points['rgb'] = pack_rgb(rng.integers(0, 256, (len(points), 3), dtype=np.uint8))
        recorded.append(('/lidar/points', stamp, array_to_pointcloud2(types, points, 'lidar', stamp)))
    for frame in range(frames):
        stamp = T0_NS + frame * FRAME_NS + 30_000_000
        image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        recorded.append(('/camera/image', stamp, array_to_image(types, image, 'rgb8', 'camera', stamp)))
        recorded.append(('/camera/camera_info', stamp + 1,
                         intrinsics_to_camera_info(types, camera, 'camera', stamp)))
    for frame in range(frames):
        stamp = T0_NS + frame * FRAME_NS + 5_000_000
        transforms = [matrix_to_transform_stamped(types, make_transform((frame, 0.5, 0), (0, 0, 0.6, 0.8)),
                                                  'map', 'base_link', stamp),
                      matrix_to_transform_stamped(types, make_transform((1.2, 0, 1.8)), 'base_link', 'lidar', stamp)]
        recorded.append(('/tf', stamp, TFMessage(transforms=transforms)))
    return recorded


def write_bag(path, storage: str, recorded) -> None:
    with BagWriter(path, storage=storage) as bag:
        for topic, msgtype in TOPICS.items():
            bag.add_topic(topic, msgtype)
        for topic, stamp_ns, msg in recorded:
            bag.write(topic, stamp_ns, msg)


def assert_same_message(actual, expected, where: str = 'msg') -> None:
    """Field by field, down to every array element."""
    if dataclasses.is_dataclass(expected):
        assert actual.__msgtype__ == expected.__msgtype__, where
        for field in dataclasses.fields(expected):
            assert_same_message(getattr(actual, field.name), getattr(expected, field.name), f'{where}.{field.name}')
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, list):
        assert len(actual) == len(expected), where
        for index, (actual_item, expected_item) in enumerate(zip(actual, expected)):
            assert_same_message(actual_item, expected_item, f'{where}[{index}]')
    else:
        assert actual == expected, where


def assert_one_line_bag_error(error_info, *fragments: str) -> None:
    message = str(error_info.value)
    assert '\n' not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_write_and_read_back(tmp_path, storage):
    recorded = recording()
    write_bag(tmp_path / 'bag', storage, recorded)
    in_time_order = sorted(recorded, key=lambda item: item[1])
    with BagReader(tmp_path / 'bag') as bag:
        assert bag.topics == TOPICS
        assert bag.message_count == len(recorded)
        assert (bag.start_ns, bag.end_ns) == (in_time_order[0][1], in_time_order[-1][1])
        read = list(bag.messages())
    assert [(topic, stamp) for topic, stamp, _ in read] == [(topic, stamp) for topic, stamp, _ in in_time_order]
    for (topic, _, actual), (_, _, expected) in zip(read, in_time_order):
        assert_same_message(actual, expected, topic)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bare_storage_file_and_topic_selection(tmp_path, storage):
    recorded = recording(frames=2)
    write_bag(tmp_path / 'bag', storage, recorded)
    storage_file, = (tmp_path / 'bag').glob('*.mcap' if storage == 'mcap' else '*.db3')
    with BagReader(storage_file) as bag:
        read = list(bag.messages(['/tf', '/camera/image']))
    assert [topic for topic, _, _ in read] == ['/tf', '/camera/image', '/tf', '/camera/image']


def test_missing_path(tmp_path):
    with pytest.raises(BagError) as error:
        BagReader(tmp_path / 'nowhere').__enter__()
    assert_one_line_bag_error(error, str(tmp_path / 'nowhere'), 'no such bag')


@pytest.mark.parametrize('name', ['random.mcap', 'random.db3', 'random_bytes'])
def test_random_bytes_file(tmp_path, name):
    (tmp_path / name).write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(BagError) as error:
        BagReader(tmp_path / name).__enter__()
    assert_one_line_bag_error(error, str(tmp_path / name), 'not a readable rosbag2 bag')


def test_directory_with_corrupt_metadata(tmp_path):
    (tmp_path / 'bag').mkdir()
    (tmp_path / 'bag' / 'metadata.yaml').write_text('rosbag2_bagfile_information: [1, 2\n')
    with pytest.raises(BagError) as error:
        BagReader(tmp_path / 'bag').__enter__()
    assert_one_line_bag_error(error, 'not a readable rosbag2 bag')


def test_truncated_mcap(tmp_path):
    write_bag(tmp_path / 'bag', 'mcap', recording())
    storage_file, = (tmp_path / 'bag').glob('*.mcap')
    with open(storage_file, 'r+b') as file:
        file.truncate(storage_file.stat().st_size // 2)
    with pytest.raises(BagError) as error:
        with BagReader(tmp_path / 'bag') as bag:
            list(bag.messages())
    assert_one_line_bag_error(error, str(tmp_path / 'bag'))


def test_corrupt_message_fails_while_reading(tmp_path):
    recorded = recording(frames=1)
    write_bag(tmp_path / 'bag', 'sqlite3', recorded)
    storage_file, = (tmp_path / 'bag').glob('*.db3')
    topic, _, tf_message = recorded[-1]
    serialized = bytes(ros2_typestore().serialize_cdr(tf_message, TOPICS[topic]))
    content = storage_file.read_bytes()
    assert content.count(serialized) == 1
    storage_file.write_bytes(content.replace(serialized, b'\xff' * 4 + serialized[4:]))
    with BagReader(tmp_path / 'bag') as bag:
        with pytest.raises(BagError) as error:
            list(bag.messages())
    assert_one_line_bag_error(error, str(tmp_path / 'bag'), 'message on /tf at 0.005 s into the recording')


def test_absent_topic(tmp_path):
    write_bag(tmp_path / 'bag', 'mcap', recording(frames=1))
    with BagReader(tmp_path / 'bag') as bag:
        with pytest.raises(BagError) as error:
            bag.messages(['/tf', '/radar/points'])
    assert_one_line_bag_error(error, str(tmp_path / 'bag'), 'no topic /radar/points', '/lidar/points')


def test_writer_refuses_to_overwrite(tmp_path):
    (tmp_path / 'bag').mkdir()
    with pytest.raises(BagError) as error:
        with BagWriter(tmp_path / 'bag'):
            pass
    assert_one_line_bag_error(error, str(tmp_path / 'bag'), 'already exists')


def test_writer_errors(tmp_path):
    with pytest.raises(BagError, match="unknown bag storage 'rosbag1'"):
        BagWriter(tmp_path / 'a', storage='rosbag1')
    with BagWriter(tmp_path / 'bag') as bag:
        with pytest.raises(BagError, match='unknown message type my_msgs/msg/Thing'):
            bag.add_topic('/thing', 'my_msgs/msg/Thing')
        bag.add_topic('/tf', 'tf2_msgs/msg/TFMessage')
        with pytest.raises(BagError, match='topic /tf added twice'):
            bag.add_topic('/tf', 'tf2_msgs/msg/TFMessage')
        with pytest.raises(BagError, match='topic /points was not added'):
            bag.write('/points', T0_NS, None)
