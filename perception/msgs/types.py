"""The message classes builders instantiate, for rclpy messages and rosbags dataclasses alike, and headers.

`rclpy_types()` imports the ROS message packages on first use (nodes); `rosbags_types()` needs no ROS (bags,
replay, simulator). Stamps are int nanoseconds.
"""
import array
import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np

NS_PER_S = 1_000_000_000


# The message classes the builders use: name -> ROS type.
MESSAGE_TYPES = {
    'Time': 'builtin_interfaces/msg/Time', 'Duration': 'builtin_interfaces/msg/Duration',
    'Header': 'std_msgs/msg/Header', 'ColorRGBA': 'std_msgs/msg/ColorRGBA',
    'PointField': 'sensor_msgs/msg/PointField', 'PointCloud2': 'sensor_msgs/msg/PointCloud2',
    'Image': 'sensor_msgs/msg/Image', 'RegionOfInterest': 'sensor_msgs/msg/RegionOfInterest',
    'CameraInfo': 'sensor_msgs/msg/CameraInfo', 'Vector3': 'geometry_msgs/msg/Vector3',
    'Point': 'geometry_msgs/msg/Point', 'Quaternion': 'geometry_msgs/msg/Quaternion',
    'Pose': 'geometry_msgs/msg/Pose', 'Transform': 'geometry_msgs/msg/Transform',
    'TransformStamped': 'geometry_msgs/msg/TransformStamped', 'Marker': 'visualization_msgs/msg/Marker',
    'MarkerArray': 'visualization_msgs/msg/MarkerArray', 'MeshFile': 'visualization_msgs/msg/MeshFile',
    'CompressedImage': 'sensor_msgs/msg/CompressedImage', 'KeyValue': 'diagnostic_msgs/msg/KeyValue',
    'DiagnosticStatus': 'diagnostic_msgs/msg/DiagnosticStatus',
    'DiagnosticArray': 'diagnostic_msgs/msg/DiagnosticArray',
}


@dataclass(frozen=True)
class MessageTypes:
    """Message classes the builders instantiate (one attribute per MESSAGE_TYPES name), and how a message with a
    uint8[] `data` field is made: `with_bytes(message_class, values, **fields)` returns a message whose `data`
    holds the bytes of the array `values` and whose other fields are `fields`.
    """

    Time: type
    Duration: type
    Header: type
    ColorRGBA: type
    PointField: type
    PointCloud2: type
    Image: type
    RegionOfInterest: type
    CameraInfo: type
    Vector3: type
    Point: type
    Quaternion: type
    Pose: type
    Transform: type
    TransformStamped: type
    Marker: type
    MarkerArray: type
    MeshFile: type
    CompressedImage: type
    KeyValue: type
    DiagnosticStatus: type
    DiagnosticArray: type
    with_bytes: Callable[..., Any]


def _flat_bytes(values: np.ndarray) -> np.ndarray:
    """The array's bytes as a flat uint8 view (a copy only if it is not C-contiguous)."""
    return np.ascontiguousarray(values).reshape(-1).view(np.uint8)


def _rclpy_with_bytes(message_class: type, values: np.ndarray, **fields):
    # rclpy keeps an assigned array('B') as is; its constructor would copy `data` once more, and an ndarray would be
    # copied element by element (hundreds of ms).
    msg = message_class(**fields)
    data = array.array('B')
    data.frombytes(_flat_bytes(values))
    msg.data = data
    return msg


def _rosbags_with_bytes(message_class: type, values: np.ndarray, **fields):
    return message_class(data=_flat_bytes(values).copy(), **fields)


def rclpy_message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (imports the message package)."""
    package, interface, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{interface}'), name)


@lru_cache(maxsize=1)
def rclpy_types() -> MessageTypes:
    """The rclpy message classes (imports the ROS message packages on first use)."""
    return MessageTypes(**{name: rclpy_message_class(msgtype) for name, msgtype in MESSAGE_TYPES.items()},
                        with_bytes=_rclpy_with_bytes)


@lru_cache(maxsize=1)
def ros2_typestore():
    """The rosbags typestore of ROS 2 Kilted, shared (do not register types into it)."""
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_KILTED)


def rosbags_types(typestore=None) -> MessageTypes:
    """The rosbags dataclasses of `typestore` (default: `ros2_typestore()`)."""
    types = (ros2_typestore() if typestore is None else typestore).types
    return MessageTypes(**{name: types[msgtype] for name, msgtype in MESSAGE_TYPES.items()},
                        with_bytes=_rosbags_with_bytes)


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> int nanoseconds."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def make_header(types: MessageTypes, frame_id: str, stamp_ns: int):
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return types.Header(stamp=types.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)
