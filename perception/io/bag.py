"""rosbag2 recordings (MCAP and sqlite3) read and written with the `rosbags` library: no rclpy needed.

Messages are rosbags dataclasses; `perception.msgs` turns them into numpy and `perception.ros_utils.bridge` into
rclpy messages.
"""
from collections.abc import Iterable, Iterator
from pathlib import Path

from rosbags.rosbag2 import Reader, StoragePlugin, Writer

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
    """

    def __init__(self, path, typestore=None):
        self.path = Path(path)
        self.typestore = ros2_typestore() if typestore is None else typestore
        self._reader: Reader | None = None

    def __enter__(self) -> 'BagReader':
        if not self.path.exists():
            raise BagError(f'{self.path}: no such bag')
        try:
            reader = Reader(self.path)
            reader.open()
        except Exception as error:  # rosbags raises assorted types for unreadable files; all mean "not a bag"
            raise BagError(f'{self.path}: not a readable rosbag2 bag ({_one_line(error)})') from error
        self._reader = reader
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
        connections = self._reader.connections
        if topics is not None:
            topics = {topics} if isinstance(topics, str) else set(topics)
            missing = topics - set(self.topics)
            if missing:
                raise BagError(f'{self.path}: no topic {", ".join(sorted(missing))} '
                               f'(it has {", ".join(sorted(self.topics)) or "none"})')
            connections = [connection for connection in connections if connection.topic in topics]
        return self._deserialized(connections) if connections else iter(())

    def _deserialized(self, connections) -> Iterator[tuple[str, int, object]]:
        try:
            for connection, stamp_ns, raw in self._reader.messages(connections):
                yield connection.topic, stamp_ns, self.typestore.deserialize_cdr(raw, connection.msgtype)
        except Exception as error:  # a corrupt or truncated file fails in the storage plugin or the deserialiser
            raise BagError(f'{self.path}: cannot read messages ({_one_line(error)})') from error


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
        writer = Writer(self.path, version=9, storage_plugin=STORAGES[self.storage])
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

    def write(self, topic: str, stamp_ns: int, msg) -> None:
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f'{self.path}: topic {topic} was not added')
        self._writer.write(connection, stamp_ns, self.typestore.serialize_cdr(msg, connection.msgtype))
