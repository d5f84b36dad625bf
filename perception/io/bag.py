"""rosbag2 recordings (MCAP and sqlite3) read and written with the `rosbags` library: no rclpy needed.

Messages are rosbags dataclasses; `perception.msgs` turns them into numpy and `perception.ros_utils.bridge` into
rclpy messages.

Integrity: BagWriter gives every MCAP chunk the CRC-32 of its records (rosbags leaves it 0, "none"), and BagReader
reads MCAP chunk by chunk (the `mcap` package), checking each chunk's CRC where it has one; sqlite3 files must pass
SQLite's quick_check and are read row by row; a message that does not deserialise is damage too. Damage raises a
one-line BagError naming the topics and the time; with `skip_corrupt` the reader goes on past it, counting the
messages it skipped per topic (`skipped`) and describing each damaged place (`damage`). Bags written without chunk
CRCs (by rosbags before this, or other tools) are checked for structure only: damaged image bytes can go unnoticed.
"""
import heapq
import sqlite3
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

from mcap.data_stream import ReadDataStream
from mcap.reader import make_reader
from mcap.records import Chunk, Message, MessageIndex
from mcap.stream_reader import CRCValidationError, StreamReader, breakup_chunk
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.rosbag2.storage_mcap import McapWriter

from perception.msgs.types import ros2_typestore

STORAGES = {'mcap': StoragePlugin.MCAP, 'sqlite3': StoragePlugin.SQLITE3}


class BagError(Exception):
    """A bag cannot be read or written. The message is one line, meant to be printed without a traceback."""


def _one_line(error: Exception) -> str:
    return ' '.join(str(error).split()) or type(error).__name__


class BagReader:
    """A rosbag2 recording: a bag directory, or a bare .mcap / .db3 file.

    with BagReader('drive_bag') as bag:
        for topic, stamp_ns, msg in bag.messages(['/lidar/points']):
            ...

    Damaged data raises BagError; with skip_corrupt=True it is skipped and counted instead (see the module doc).
    """

    def __init__(self, path, typestore=None, skip_corrupt: bool = False):
        self.path = Path(path)
        self.typestore = ros2_typestore() if typestore is None else typestore
        self.skip_corrupt = skip_corrupt
        self.skipped: Counter[str] = Counter()  # topic -> damaged messages skipped
        self.damage: list[str] = []             # one line per damaged place skipped
        self._reader: Reader | None = None
        self._files: list[Path] = []

    def __enter__(self) -> 'BagReader':
        if not self.path.exists():
            raise BagError(f'{self.path}: no such bag')
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as error:  # rosbags raises assorted types for unreadable files; all mean "not a bag"
            raise BagError(f'{self.path}: not a readable rosbag2 bag ({_one_line(error)})') from error
        self._reader = reader
        self._files = [Path(storage.path) for storage in getattr(reader.storage, 'storages', [reader.storage])]
        try:
            for path in self._files:
                if path.suffix == '.db3':
                    self._check_sqlite(path)
        except BagError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self._reader.close()
        self._reader = None

    @property
    def topics(self) -> dict[str, str]:
        """{topic: message type}, e.g. {'/points': 'sensor_msgs/msg/PointCloud2'}."""
        return {connection.topic: connection.msgtype for connection in self._reader.connections}

    @property
    def message_count(self) -> int:
        return self._reader.message_count

    @property
    def start_ns(self) -> int:
        """Stamp of the first message (receive time, ns)."""
        return self._reader.start_time

    @property
    def end_ns(self) -> int:
        """Stamp of the last message (receive time, ns)."""
        return self._reader.end_time - 1

    def messages(self, topics: Iterable[str] | None = None) -> Iterator[tuple[str, int, object]]:
        """(topic, stamp_ns, message) in time order across topics, for all topics or only `topics`."""
        wanted = set(self.topics)
        if topics is not None:
            topics = {topics} if isinstance(topics, str) else set(topics)
            missing = topics - wanted
            if missing:
                raise BagError(f'{self.path}: no topic {", ".join(sorted(missing))} '
                               f'(it has {", ".join(sorted(self.topics)) or "none"})')
            wanted = topics
        if not wanted:
            return iter(())
        streams = [self._mcap_messages(path, wanted) if path.suffix == '.mcap' else self._sqlite_messages(path, wanted)
                   for path in self._files]
        return self._deserialized(heapq.merge(*streams, key=lambda message: message[1]))

    def _deserialized(self, raw_messages) -> Iterator[tuple[str, int, object]]:
        types = self.topics
        for topic, stamp_ns, raw in raw_messages:
            try:
                msg = self.typestore.deserialize_cdr(raw, types[topic])
            except Exception as error:  # noqa: BLE001 - damaged bytes fail anywhere in the deserialiser
                self._damaged(f'message on {topic} at {self._when(stamp_ns)} does not deserialise '
                              f'({_one_line(error)})', {topic: 1})
                continue
            yield topic, stamp_ns, msg

    def _when(self, stamp_ns: int, end_ns: int | None = None) -> str:
        def seconds(stamp):
            return f'{(stamp - self.start_ns) / 1e9:.3f} s'

        def absolute(stamp):
            return f'{stamp // 10**9}.{stamp % 10**9:09d}'
        if end_ns is None or end_ns == stamp_ns:
            return f'{seconds(stamp_ns)} into the recording (stamp {absolute(stamp_ns)})'
        return (f'{seconds(stamp_ns)} to {seconds(end_ns)} into the recording (stamps {absolute(stamp_ns)} to '
                f'{absolute(end_ns)})')

    def _damaged(self, what: str, skipped: dict[str, int]) -> None:
        """Raise BagError for damaged data, or (skip_corrupt) count what is skipped and go on."""
        line = f'{self.path}: {what}'
        if not self.skip_corrupt:
            raise BagError(line)
        self.damage.append(line)
        self.skipped.update(skipped)

    # MCAP -----------------------------------------------------------------------------------------------------------

    def _mcap_messages(self, path: Path, wanted: set[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, stamp, raw) of one .mcap file in time order, chunk by chunk (CRC-checked), via its chunk index."""
        with open(path, 'rb') as stream:
            try:
                summary = make_reader(stream).get_summary()
            except Exception:  # noqa: BLE001 - a damaged summary: read the file from the start instead
                summary = None
            if summary is None or not summary.chunk_indexes:
                yield from self._mcap_scan(stream, wanted)
                return
            channels = {cid: channel.topic for cid, channel in summary.channels.items() if channel.topic in wanted}
            chunks = [self._mcap_chunk(stream, index, channels) for index in summary.chunk_indexes
                      if channels.keys() & index.message_index_offsets.keys()]
            for item in heapq.merge(*chunks, key=lambda message: message[1]):
                if item[0] is not None:  # not a chunk's start marker
                    yield item

    def _mcap_chunk(self, stream, index, channels: dict[int, str]) -> Iterator[tuple[str | None, int, bytes]]:
        """A chunk's wanted messages in time order, after a (None, start) marker: merging many chunks then loads
        each only when its time comes."""
        yield None, index.message_start_time, b''
        try:
            stream.seek(index.chunk_start_offset + 1 + 8)
            records = breakup_chunk(Chunk.read(ReadDataStream(stream)), validate_crc=True)
            messages = [(channels[record.channel_id], record.log_time, record.data) for record in records
                        if isinstance(record, Message) and record.channel_id in channels]
        except Exception as error:  # noqa: BLE001 - damaged bytes fail anywhere in the record parser
            reason = 'chunk checksum mismatch' if isinstance(error, CRCValidationError) else \
                f'unreadable chunk: {_one_line(error)}'
            lost = self._mcap_counts(stream, index, channels)
            self._damaged(f'damaged data ({reason}) on {", ".join(sorted(lost))} at '
                          f'{self._when(index.message_start_time, index.message_end_time)}', lost)
            return
        yield from sorted(messages, key=lambda message: message[1])

    @staticmethod
    def _mcap_counts(stream, index, channels: dict[int, str]) -> dict[str, int]:
        """{topic: messages} in a chunk, from its message index records (outside the chunk); 1 where unreadable."""
        counts = {}
        for cid, offset in index.message_index_offsets.items():
            if cid not in channels:
                continue
            try:
                stream.seek(offset + 1 + 8)
                counts[channels[cid]] = counts.get(channels[cid], 0) + len(
                    MessageIndex.read(ReadDataStream(stream)).records)
            except Exception:  # noqa: BLE001 - the index is damaged too: the chunk held at least one
                counts[channels[cid]] = counts.get(channels[cid], 0) + 1
        return counts

    def _mcap_scan(self, stream, wanted: set[str]) -> Iterator[tuple[str, int, bytes]]:
        """A file without a chunk index (an unindexed MCAP, or one whose summary does not parse): chunks in file
        order until the data ends or breaks."""
        stream.seek(0)
        channels, last = {}, self.start_ns
        try:
            for record in StreamReader(stream, emit_chunks=True).records:
                if isinstance(record, Chunk):
                    parts = breakup_chunk(record, validate_crc=True)
                    channels.update({part.id: part.topic for part in parts if hasattr(part, 'topic')})
                    messages = [(channels[part.channel_id], part.log_time, part.data) for part in parts
                                if isinstance(part, Message) and channels.get(part.channel_id) in wanted]
                    for message in sorted(messages, key=lambda message: message[1]):
                        last = message[1]
                        yield message
                elif hasattr(record, 'topic'):  # a channel outside chunks
                    channels[record.id] = record.topic
        except Exception as error:  # noqa: BLE001 - a truncated or damaged file fails anywhere in the parser
            self._damaged(f'damaged or truncated data after {self._when(last)} ({_one_line(error)}); the rest of '
                          'the file is unreadable', {})

    # sqlite3 --------------------------------------------------------------------------------------------------------

    def _check_sqlite(self, path: Path) -> None:
        try:
            with _sqlite(path) as connection:
                problems = [row[0] for row in connection.execute('PRAGMA quick_check')]
        except sqlite3.DatabaseError as error:
            problems = [str(error)]
        if problems != ['ok']:
            self._damaged(f'sqlite3 integrity check failed ({_one_line(problems[0])}'
                          f'{f" and {len(problems) - 1} more problems" if len(problems) > 1 else ""})', {})

    def _sqlite_messages(self, path: Path, wanted: set[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, stamp, raw) of one .db3 file in time order, row by row so that damaged rows can be skipped."""
        with _sqlite(path) as connection:
            try:
                topics = dict(connection.execute('SELECT id, name FROM topics'))
                rows = connection.execute('SELECT id, timestamp FROM messages ORDER BY timestamp, id').fetchall()
            except sqlite3.DatabaseError as error:
                self._damaged(f'{path.name}: the message table is unreadable ({_one_line(error)})', {})
                return
            for row_id, stamp in rows:
                try:
                    topic_id, data = connection.execute('SELECT topic_id, data FROM messages WHERE id = ?',
                                                        (row_id,)).fetchone()
                except (sqlite3.DatabaseError, TypeError) as error:
                    self._damaged(f'damaged row in {path.name} at {self._when(stamp)} ({_one_line(error)})',
                                  {'(unknown topic)': 1})
                    continue
                if topics.get(topic_id) in wanted:
                    yield topics[topic_id], stamp, data


def _sqlite(path: Path):
    """A read-only connection, closed at the end of a with block."""
    return closing(sqlite3.connect(f'file:{path}?mode=ro', uri=True))


class _ChecksummedMcapWriter(McapWriter):
    """rosbags' MCAP writer with each chunk's CRC-32 filled in (rosbags writes 0: "no CRC")."""

    CRC_OFFSET = 1 + 8 + 24  # in a chunk record: opcode, record length, start time, end time, uncompressed size

    def close_chunk(self) -> None:
        crc = zlib.crc32(self.chunk.bio.getbuffer())
        start = self.bio.tell()
        super().close_chunk()
        end = self.bio.tell()
        self.bio.seek(start + self.CRC_OFFSET)
        self.bio.write(crc.to_bytes(4, 'little'))
        self.bio.seek(end)


class _Writer(Writer):
    STORAGE_PLUGINS = {**Writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _ChecksummedMcapWriter}


class BagWriter:
    """A new rosbag2 bag directory; never overwrites.

    with BagWriter('out_bag', storage='mcap') as bag:
        bag.add_topic('/points', 'sensor_msgs/msg/PointCloud2')
        bag.write('/points', stamp_ns, msg)
    """

    def __init__(self, path, storage: str = 'mcap', typestore=None):
        if storage not in STORAGES:
            raise BagError(f'unknown bag storage {storage!r}; expected one of {", ".join(STORAGES)}')
        self.path = Path(path)
        self.storage = storage
        self.typestore = ros2_typestore() if typestore is None else typestore
        self._writer: Writer | None = None
        self._connections = {}

    def __enter__(self) -> 'BagWriter':
        if self.path.exists():
            raise BagError(f'{self.path}: already exists; not overwriting')
        writer = _Writer(self.path, version=9, storage_plugin=STORAGES[self.storage])
        try:
            writer.open()
        except OSError as error:
            raise BagError(f'{self.path}: cannot create bag ({_one_line(error)})') from error
        self._writer = writer
        return self

    def __exit__(self, *exc_info) -> None:
        self._writer.close()
        self._writer = None

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic in self._connections:
            raise BagError(f'{self.path}: topic {topic} added twice')
        if msgtype not in self.typestore.types:
            raise BagError(f'{self.path}: unknown message type {msgtype} for topic {topic}')
        self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.typestore)

    def set_custom_data(self, key: str, value: str) -> None:
        """A key: value in the bag's metadata.yaml (custom_data)."""
        self._writer.set_custom_data(key, value)

    def write(self, topic: str, stamp_ns: int, msg) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f'{self.path}: topic {topic} was not added')
        self._writer.write(connection, stamp_ns, self.typestore.serialize_cdr(msg, connection.msgtype))
