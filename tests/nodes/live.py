"""One node of the graph running in the test process on the test's ROS domain, with a harness node that publishes
its inputs and records its outputs (shared by the live-node and fuzz tests)."""
import threading
import time
from contextlib import contextmanager

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import MultiThreadedExecutor

from perception.msgs.codec import array_to_pointcloud2
from perception.msgs.types import rclpy_types, stamp_to_ns
from perception.nodes.drive import node_arguments
from perception.nodes.graph import remappings
from perception.paths import config_path
from perception.ros_utils.qos import OUTPUT_QOS


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return bool(condition())


class Harness:
    """Publishers and recording subscribers on global topics, in the test's context."""

    def __init__(self, context):
        self.node = rclpy.create_node('test_harness', context=context)
        self.types = rclpy_types()
        self.publishers, self.received, self.statuses = {}, {}, {}

    def publisher(self, msg_type, topic):
        if topic not in self.publishers:
            self.publishers[topic] = self.node.create_publisher(msg_type, topic, OUTPUT_QOS)
        return self.publishers[topic]

    def record(self, msg_type, topic) -> list:
        """[(arrival monotonic seconds, message)] of `topic`."""
        arrivals = self.received.setdefault(topic, [])
        self.node.create_subscription(msg_type, topic, lambda msg: arrivals.append((time.monotonic(), msg)),
                                      OUTPUT_QOS)
        return arrivals

    def record_diagnostics(self) -> None:
        def on_diagnostics(msg):
            for status in msg.status:
                self.statuses.setdefault(status.name, []).append(status)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, OUTPUT_QOS)

    def stamps(self, topic) -> list[int]:
        return [stamp_to_ns(msg.header.stamp) for _, msg in self.received.get(topic, [])]


@contextmanager
def live_node(context, node_class, name: str, overrides: dict | None = None):
    """(node, harness) spinning on a background executor until the block ends."""
    arguments = node_arguments(name, config_path('perception.yaml'), remappings()[name], False, overrides or {})
    node = node_class(cli_args=arguments, context=context)
    harness = Harness(context)
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    executor.add_node(node)
    executor.add_node(harness.node)
    errors = []

    def spin():
        try:
            executor.spin()
        except Exception as error:  # an exception escaping a callback ends spin(): the test must see it
            errors.append(error)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        yield node, harness
        assert not errors, errors
    finally:
        executor.shutdown()
        spinner.join(10)  # no callback may run on a node being destroyed
        node.destroy_node()
        harness.node.destroy_node()


def small_cloud(count: int = 2000, seed: int = 0) -> np.ndarray:
    """A structured x, y, z, intensity cloud around the sensor (2-30 m)."""
    rng = np.random.default_rng(seed)
    angle, distance = rng.uniform(0, 2 * np.pi, count), rng.uniform(2, 30, count)
    cloud = np.zeros(count, [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
    cloud['x'], cloud['y'] = distance * np.cos(angle), distance * np.sin(angle)
    cloud['z'], cloud['intensity'] = rng.uniform(-1.7, 2, count), rng.uniform(0, 1, count)
    return cloud


def cloud_message(types, cloud: np.ndarray, stamp_ns: int):
    return array_to_pointcloud2(types, cloud, 'lidar', stamp_ns)
