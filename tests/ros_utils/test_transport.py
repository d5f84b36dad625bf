"""A scene cloud and a camera image published by one node and received by another, in one process and across two.

Run as a script, this file is the publisher of the two-process test (its environment selects the domain).
"""
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from perception.core.clouds import pack_rgb
from perception.msgs.codec import array_to_image, array_to_pointcloud2, image_to_array, pointcloud2_to_array
from perception.msgs.types import rclpy_types, stamp_to_ns
from perception.ros_environment import local_ros_environment, reserved_domain_id

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402

from perception.ros_utils.qos import input_qos, OUTPUT_QOS  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

CLOUD_TOPIC, IMAGE_TOPIC = 'transport_test/cloud', 'transport_test/image'
SCENE_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('ring', '<u2'),
                        ('label', '<u2'), ('instance', '<u4'), ('confidence', '<f4'), ('rgb', '<f4')])
PUBLISH_PERIOD_S = 0.1


def scene_cloud(count: int = 120_000) -> np.ndarray:
    rng = np.random.default_rng(7)
    points = np.zeros(count, SCENE_POINT)
    for axis in 'xyz':
        points[axis] = rng.uniform(-60, 60, count)
    points['x'][::1000] = np.nan
    points['intensity'] = rng.uniform(0, 1, count)
    points['ring'] = rng.integers(0, 128, count)
    points['label'] = rng.integers(0, 20, count)
    points['instance'] = rng.integers(0, 2**32, count, dtype=np.uint32)
    points['confidence'] = rng.uniform(0, 1, count)
    points['rgb'] = pack_rgb(rng.integers(0, 256, (count, 3), dtype=np.uint8))
    return points


def camera_image() -> np.ndarray:
    return np.random.default_rng(8).integers(0, 256, (720, 1280, 3), dtype=np.uint8)


class Receiver:
    """The latest cloud and image on a node, and each message's latency from its header stamp."""

    def __init__(self, node: Node):
        self.latest = {}
        self.latencies_ms = {CLOUD_TOPIC: [], IMAGE_TOPIC: []}
        for msg_type, topic in ((PointCloud2, CLOUD_TOPIC), (Image, IMAGE_TOPIC)):
            node.create_subscription(msg_type, topic, lambda msg, topic=topic: self.receive(topic, msg), input_qos())

    def receive(self, topic: str, msg) -> None:
        self.latencies_ms[topic].append((time.time_ns() - stamp_to_ns(msg.header.stamp)) / 1e6)
        self.latest[topic] = msg

    def received(self, count: int = 1) -> bool:
        return all(len(latencies) >= count for latencies in self.latencies_ms.values())

    def assert_received_the_scene(self) -> None:
        cloud, image = self.latest[CLOUD_TOPIC], self.latest[IMAGE_TOPIC]
        assert (cloud.header.frame_id, image.header.frame_id) == ('lidar', 'camera')
        assert not cloud.is_dense
        points, expected = pointcloud2_to_array(cloud), scene_cloud()
        assert points.dtype.names == expected.dtype.names and points.shape == expected.shape
        for name in expected.dtype.names:
            np.testing.assert_array_equal(points[name], expected[name], err_msg=name)
        np.testing.assert_array_equal(image_to_array(image), camera_image())


class ScenePublisher:
    def __init__(self, node: Node):
        self.types = rclpy_types()
        self.points, self.image = scene_cloud(), camera_image()
        self.cloud_publisher = node.create_publisher(PointCloud2, CLOUD_TOPIC, OUTPUT_QOS)
        self.image_publisher = node.create_publisher(Image, IMAGE_TOPIC, OUTPUT_QOS)

    def matched(self) -> bool:
        return self.cloud_publisher.get_subscription_count() > 0 and self.image_publisher.get_subscription_count() > 0

    def publish(self) -> None:
        stamp_ns = time.time_ns()
        self.cloud_publisher.publish(array_to_pointcloud2(self.types, self.points, 'lidar', stamp_ns))
        self.image_publisher.publish(array_to_image(self.types, self.image, 'rgb8', 'camera', stamp_ns))


def spin_until(executor, condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return condition()


def print_latency(receiver: Receiver, case: str) -> None:
    for topic, latencies in receiver.latencies_ms.items():
        print(f'{case} {topic}: {len(latencies)} received, latency p50 {np.median(latencies):.1f} ms')


def test_local_environment_fills_only_unset_values():
    environment = local_ros_environment(domain_id=42, base={'ROS_DOMAIN_ID': '7', 'ROS_AUTOMATIC_DISCOVERY_RANGE': ''})
    assert environment['ROS_DOMAIN_ID'] == '7'
    assert environment['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert Path(environment['FASTDDS_DEFAULT_PROFILES_FILE']).is_file()
    assert local_ros_environment(domain_id=42, base={})['ROS_DOMAIN_ID'] == '42'


def test_reserved_domain_ids_are_distinct():
    with reserved_domain_id() as first, reserved_domain_id() as second:
        assert first != second


def test_same_process(ros_context):
    executor = SingleThreadedExecutor(context=ros_context)
    publisher_node = Node('transport_test_publisher', context=ros_context)
    subscriber_node = Node('transport_test_subscriber', context=ros_context)
    try:
        publisher, receiver = ScenePublisher(publisher_node), Receiver(subscriber_node)
        executor.add_node(publisher_node)
        executor.add_node(subscriber_node)
        assert spin_until(executor, publisher.matched, timeout_s=10), 'publishers never matched the subscriptions'
        for _ in range(5):
            publisher.publish()
            if spin_until(executor, receiver.received, timeout_s=1):
                break
        assert receiver.received(), f'received only {sorted(receiver.latest)}'
        receiver.assert_received_the_scene()
        print_latency(receiver, 'same process')
    finally:
        executor.shutdown()
        publisher_node.destroy_node()
        subscriber_node.destroy_node()


def test_across_processes(ros_context, ros_env, tmp_path):
    log_path = tmp_path / 'publisher.log'
    with open(log_path, 'w') as log:
        publisher = subprocess.Popen([sys.executable, __file__], env=ros_env, stdout=log, stderr=subprocess.STDOUT)
    executor = SingleThreadedExecutor(context=ros_context)
    node = Node('transport_test_subscriber', context=ros_context)
    try:
        receiver = Receiver(node)
        executor.add_node(node)
        spin_until(executor, lambda: receiver.received(10) or publisher.poll() is not None, timeout_s=40)
        assert publisher.poll() is None, f'publisher exited with {publisher.returncode}: {log_path.read_text()[-2000:]}'
        assert receiver.received(10), f'received {[len(v) for v in receiver.latencies_ms.values()]} of 10 messages'
        receiver.assert_received_the_scene()
        print_latency(receiver, 'two processes')
    finally:
        executor.shutdown()
        node.destroy_node()
        publisher.send_signal(signal.SIGINT)
        try:
            publisher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            publisher.kill()
            publisher.wait()


def publish_until_interrupted(lifetime_s: float = 50) -> None:
    """The two-process test's publisher: the scene at 10 Hz until SIGINT, or `lifetime_s` if the test dies."""
    rclpy.init()
    node = Node('transport_test_publisher')
    publisher = ScenePublisher(node)
    node.create_timer(PUBLISH_PERIOD_S, publisher.publish)
    deadline = time.monotonic() + lifetime_s
    try:
        while rclpy.ok() and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=PUBLISH_PERIOD_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == '__main__':
    publish_until_interrupted()
