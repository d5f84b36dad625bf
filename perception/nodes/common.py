"""What every node shares: main() (init, spin, clean shutdown) and latency diagnostics."""
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from perception.ros_utils.conversions import rclpy_types
from perception.ros_utils.outputs import latency_diagnostics
from perception.ros_utils.qos import OUTPUT_QOS


class Diagnostics:
    """Per-stage latency and counters of one node on /diagnostics."""

    def __init__(self, node: Node):
        self.node = node
        self.publisher = node.create_publisher(DiagnosticArray, '/diagnostics', OUTPUT_QOS)

    def publish(self, stamp_ns: int, timing_ms: dict, counters: dict) -> None:
        self.publisher.publish(latency_diagnostics(rclpy_types(), self.node.get_name(), stamp_ns, timing_ms,
                                                   counters))


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
