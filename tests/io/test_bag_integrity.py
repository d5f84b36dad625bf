"""Damaged recordings: MCAP chunks carry CRCs (our writer fills them in) and are checked on reading; sqlite3 bags
are integrity-checked and read row by row. Damage is one BagError line with the topic and time; with skip_corrupt
the reader goes on past it and counts what it skipped."""
import shutil
import sqlite3

import numpy as np
import pytest
from mcap.reader import make_reader

from perception.io.bag import BagError, BagReader, BagWriter
from perception.msgs.codec import array_to_image
from perception.msgs.types import ros2_typestore, rosbags_types

T0_NS = 1_700_000_000_000_000_000
FRAME_NS = 100_000_000
IMAGE, TEXT = '/camera/image_raw', '/note'
FRAMES = 12  # 300 kB images: about four per 1 MiB chunk


def write_recording(path, storage='mcap'):
    types, rng = rosbags_types(), np.random.default_rng(0)
    String = ros2_typestore().types['std_msgs/msg/String']
    with BagWriter(path, storage=storage) as bag:
        bag.add_topic(IMAGE, 'sensor_msgs/msg/Image')
        bag.add_topic(TEXT, 'std_msgs/msg/String')
        for frame in range(FRAMES):
            stamp = T0_NS + frame * FRAME_NS
            image = rng.integers(0, 256, (250, 400, 3), dtype=np.uint8)
            bag.write(IMAGE, stamp, array_to_image(types, image, 'rgb8', 'camera', stamp))
            bag.write(TEXT, stamp + 1, String(data=f'frame {frame}'))
    return path


def storage_file(bag, suffix):
    return next(bag.glob(f'*.{suffix}'))


def corrupt(path, offset, size=4096, seed=1):
    data = bytearray(path.read_bytes())
    data[offset:offset + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def read_all(bag, skip_corrupt=False):
    with BagReader(bag, skip_corrupt=skip_corrupt) as reader:
        return [(topic, stamp) for topic, stamp, _ in reader.messages()], reader


@pytest.fixture(scope='module')
def mcap_bag(tmp_path_factory):
    return write_recording(tmp_path_factory.mktemp('mcap') / 'bag')


def test_our_mcap_chunks_carry_crcs(mcap_bag):
    with open(storage_file(mcap_bag, 'mcap'), 'rb') as f:
        summary = make_reader(f).get_summary()
        assert len(summary.chunk_indexes) >= 3
        messages = list(make_reader(f, validate_crcs=True).iter_messages())
    assert len(messages) == 2 * FRAMES
    with open(storage_file(mcap_bag, 'mcap'), 'rb') as f:
        f.seek(summary.chunk_indexes[1].chunk_start_offset + 1 + 8 + 24)
        assert int.from_bytes(f.read(4), 'little') != 0


def test_an_intact_bag_reads_in_full_with_nothing_skipped(mcap_bag):
    read, reader = read_all(mcap_bag)
    assert len(read) == 2 * FRAMES and reader.skipped == {} and reader.damage == []
    assert [stamp for _, stamp in read] == sorted(stamp for _, stamp in read)


def damaged_copy(mcap_bag, tmp_path, chunk=1):
    """A copy of the bag with random bytes inside the data of one chunk; the chunk's time range."""
    bag = tmp_path / 'damaged'
    shutil.copytree(mcap_bag, bag)
    path = storage_file(bag, 'mcap')
    with open(path, 'rb') as f:
        index = make_reader(f).get_summary().chunk_indexes[chunk]
    corrupt(path, index.chunk_start_offset + index.chunk_length // 2)
    return bag, index


def test_random_bytes_inside_an_mcap_chunk_are_one_line_with_topic_and_time(mcap_bag, tmp_path):
    bag, index = damaged_copy(mcap_bag, tmp_path)
    with pytest.raises(BagError) as error:
        read_all(bag)
    message = str(error.value)
    assert '\n' not in message and 'checksum' in message and IMAGE in message
    assert f'{(index.message_start_time - T0_NS) / 1e9:.3f} s' in message


def test_skip_corrupt_reads_past_a_damaged_chunk_and_counts_it(mcap_bag, tmp_path):
    bag, index = damaged_copy(mcap_bag, tmp_path)
    read, reader = read_all(bag, skip_corrupt=True)
    inside = [(topic, stamp) for topic, stamp in read_all(mcap_bag)[0]
              if index.message_start_time <= stamp <= index.message_end_time]
    assert inside and sum(reader.skipped.values()) == len(inside)
    assert len(read) == 2 * FRAMES - len(inside) and not set(read) & set(inside)
    assert reader.skipped[IMAGE] >= 1 and len(reader.damage) == 1 and IMAGE in reader.damage[0]
    assert read[-1][1] == T0_NS + (FRAMES - 1) * FRAME_NS + 1  # read on to the end


def test_a_message_that_does_not_deserialise_is_named_and_skippable(tmp_path):
    """sqlite3 rows have no checksum: a damaged message shows when it does not deserialise."""
    bag = write_recording(tmp_path / 'bag', storage='sqlite3')
    database = storage_file(bag, 'db3')
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE messages SET data = X'00010000ffffff7f' WHERE timestamp = ?",
                           (T0_NS + 3 * FRAME_NS,))
    with pytest.raises(BagError, match=f'{IMAGE} at 0.300 s .* does not deserialise') as error:
        read_all(bag)
    assert '\n' not in str(error.value)
    read, reader = read_all(bag, skip_corrupt=True)
    assert len(read) == 2 * FRAMES - 1 and reader.skipped == {IMAGE: 1}


def test_a_damaged_sqlite3_database_fails_its_integrity_check_in_one_line(tmp_path):
    bag = write_recording(tmp_path / 'bag', storage='sqlite3')
    database = storage_file(bag, 'db3')
    corrupt(database, 8192, size=4096)  # a b-tree page of the messages table
    with pytest.raises(BagError, match='sqlite3 integrity check failed') as error:
        read_all(bag)
    assert '\n' not in str(error.value)
    read, reader = read_all(bag, skip_corrupt=True)
    assert len(read) + sum(reader.skipped.values()) <= 2 * FRAMES and reader.damage
    assert len(read) >= FRAMES  # the intact rows are read


@pytest.mark.parametrize('skip_corrupt', [False, True])
def test_a_truncated_mcap_is_one_line(mcap_bag, tmp_path, skip_corrupt):
    """A file cut short has no footer: rosbags cannot open it at all, skipping or not."""
    bag = tmp_path / 'truncated'
    shutil.copytree(mcap_bag, bag)
    path = storage_file(bag, 'mcap')
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    with pytest.raises(BagError, match='not a readable rosbag2 bag') as error:
        read_all(bag, skip_corrupt)
    assert '\n' not in str(error.value)


def write_unindexed_mcap(path, damaged_chunk=None):
    """A bare .mcap without chunk indexes (as other writers make them), small chunks, CRCs on; random bytes in one
    chunk's data when asked."""
    from mcap.writer import CompressionType, IndexType, Writer
    typestore = ros2_typestore()
    with open(path, 'wb') as stream:
        writer = Writer(stream, chunk_size=256, compression=CompressionType.NONE, index_types=IndexType.NONE)
        writer.start(profile='ros2', library='test')
        schema = writer.register_schema('std_msgs/msg/String', 'ros2msg',
                                        typestore.generate_msgdef('std_msgs/msg/String')[0].encode())
        channel = writer.register_channel(TEXT, 'cdr', schema)
        String = typestore.types['std_msgs/msg/String']
        for i in range(20):
            data = bytes(typestore.serialize_cdr(String(data=f'message {i:02d} ' + 'x' * 100), String.__msgtype__))
            writer.add_message(channel, log_time=T0_NS + i * FRAME_NS, data=data, publish_time=T0_NS + i * FRAME_NS)
        writer.finish()
    if damaged_chunk is not None:
        data = bytearray(path.read_bytes())
        starts = [i for i in range(len(data)) if data[i] == 0x06 and data[i + 9:i + 17] == (
            T0_NS + damaged_chunk * 2 * FRAME_NS).to_bytes(8, 'little')]
        data[starts[0] + 80] ^= 0xFF
        path.write_bytes(bytes(data))
    return path


def test_an_unindexed_mcap_is_read_chunk_by_chunk_and_damage_is_named(tmp_path):
    read, reader = read_all(write_unindexed_mcap(tmp_path / 'plain.mcap'))
    assert [stamp for _, stamp in read] == [T0_NS + i * FRAME_NS for i in range(20)] and not reader.damage
    damaged = write_unindexed_mcap(tmp_path / 'damaged.mcap', damaged_chunk=3)
    with pytest.raises(BagError, match=r'damaged or truncated data after 0\.500 s .*crc') as error:
        read_all(damaged)
    assert '\n' not in str(error.value)
    read, reader = read_all(damaged, skip_corrupt=True)
    assert len(read) == 6 and reader.damage  # the data after the damage cannot be found without an index
