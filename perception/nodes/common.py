"""What every node shares: main() (init, spin, clean shutdown) and its /diagnostics publisher."""
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from perception.msgs.diagnostics import OK, node_diagnostics
from perception.msgs.types import rclpy_types
from perception.ros_utils.qos import OUTPUT_QOS


class Diagnostics:
    """One node's status on /diagnostics: a level (OK, WARN, ERROR), a message, per-stage latency and counters."""

    def __init__(self, node: Node):
        self.node = node
        self.publisher = node.create_publisher(DiagnosticArray, '/diagnostics', OUTPUT_QOS)

    def publish(self, stamp_ns: int, counters: dict, timing_ms: dict | None = None, level: str = OK,
                message: str = 'ok') -> None:
        self.publisher.publish(node_diagnostics(rclpy_types(), self.node.get_name(), stamp_ns, level=level,
                                                message=message, timing_ms=timing_ms, counters=counters))


def spin(node_class, args=None) -> None:
    """Run one node until Ctrl-C or shutdown (the ros2/demos talker pattern)."""
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
