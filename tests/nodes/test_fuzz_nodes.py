"""Fuzzing live nodes (issue 15): random and adversarial Image, CameraInfo and PointCloud2 messages (the strategies
of tests/fuzz) into a running camera_segmentation / lidar_segmentation node in the test process. Whatever arrives,
no exception escapes the node, the input is counted (processed, or rejected under its cause), and the next valid
input is processed correctly. Seeded (derandomised) and bounded, so the suite stays fast and repeatable."""
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
hypothesis = pytest.importorskip('hypothesis')
from hypothesis import assume, given, strategies as st  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402

from fuzz.fuzz_strategies import SLOW_FUZZ, camera_infos, images, point_clouds  # noqa: E402
from live import cloud_message, live_node, small_cloud, wait_until  # noqa: E402
from perception.io import topics as T  # noqa: E402
from perception.msgs.codec import array_to_image, image_to_array, pointcloud2_to_array  # noqa: E402
from perception.msgs.types import make_header, stamp_to_ns  # noqa: E402
from perception.nodes.camera_segmentation import CameraSegmentationNode  # noqa: E402
from perception.nodes.lidar_segmentation import LidarSegmentationNode  # noqa: E402
from perception.ros_utils.bridge import to_rclpy  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]


def as_rclpy(msg):
    """The rosbags message of a strategy as an rclpy message (what DDS can carry: some drawn arrays cannot be)."""
    try:
        return to_rclpy(msg)
    except Exception:  # noqa: BLE001 - e.g. a K of 12 values for CameraInfo's double[9]
        assume(False)


def adversarial_cloud(types, value) -> PointCloud2:
    """A well-formed x, y, z, intensity cloud whose values are all `value` (NaN, inf, huge)."""
    cloud = small_cloud(50)
    for name in ('x', 'y', 'z', 'intensity'):
        cloud[name] = value
    return cloud_message(types, cloud, 0)


class Fuzzer:
    def __init__(self, node, harness, topic, msg_type, frame):
        self.node, self.harness, self.frame = node, harness, frame
        self.publisher = harness.publisher(msg_type, topic)
        self.stamp = node.get_clock().now().nanoseconds

    def next_stamp(self) -> int:
        self.stamp += 10**9  # 1 s apart: no propagation across a bad frame
        return self.stamp

    def send_bad(self, msg) -> None:
        """Publish `msg` and wait until the node has counted it (processed or rejected)."""
        totals = self.node.health.totals
        assert wait_until(lambda: all(w.idle() for w in self.node.workers), 60)  # the last output fully counted
        before = dict(totals)
        msg.header = make_header(self.harness.types, self.frame, self.next_stamp())
        self.publisher.publish(msg)
        assert wait_until(lambda: totals['received'] == before['received'] + 1, 20), 'the message never arrived'
        assert wait_until(lambda: all(w.idle() for w in self.node.workers), 60)
        handled = (totals['processed'] - before['processed']) + (totals['rejected'] - before['rejected'])
        assert handled == 1, (before, totals)


def wait_for_stamp(harness, topic, stamp, timeout_s=60):
    assert wait_until(lambda: stamp in harness.stamps(topic), timeout_s), f'no output for the valid input on {topic}'
    return next(msg for _, msg in harness.received[topic] if stamp_to_ns(msg.header.stamp) == stamp)


@pytest.mark.parametrize('kind', ['image', 'camera_info'])
def test_camera_node_survives_fuzzed_input_and_processes_the_next_image(ros_context, kind):
    overrides = {'panoptic.enabled': 'false'}
    with live_node(ros_context, CameraSegmentationNode, 'camera_segmentation', overrides) as (node, harness):
        labels = harness.record(Image, T.CAMERA_LABELS)
        fuzzer = Fuzzer(node, harness, T.CAMERA_IMAGE if kind == 'image' else T.CAMERA_INFO,
                        Image if kind == 'image' else CameraInfo, 'camera')
        images_out = harness.publisher(Image, T.CAMERA_IMAGE)
        assert wait_until(lambda: fuzzer.publisher.get_subscription_count() and images_out.get_subscription_count()
                          and node.outputs['labels'].get_subscription_count(), 30)
        valid = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)

        @SLOW_FUZZ
        @given(drawn=images() if kind == 'image' else camera_infos())
        def check(drawn):
            msg = as_rclpy(drawn)
            if kind == 'image':
                fuzzer.send_bad(msg)
            else:
                assert wait_until(node.workers[0].idle, 60)
                before = dict(node.health.totals)
                msg.header = make_header(harness.types, 'camera', fuzzer.next_stamp())
                fuzzer.publisher.publish(msg)
                assert wait_until(lambda: node.health.totals['received'] == before['received'] + 1, 20)
            stamp = fuzzer.next_stamp()
            images_out.publish(array_to_image(harness.types, valid, 'rgb8', 'camera', stamp))
            assert image_to_array(wait_for_stamp(harness, T.CAMERA_LABELS, stamp)).shape == (48, 64)
        check()
        assert labels and node.workers[0]._thread.is_alive()
        counters = node.health.rejected_by_cause
        assert all(cause.startswith(f'{kind}.') for cause in counters), counters


def test_lidar_node_survives_fuzzed_clouds_and_processes_the_next_sweep(ros_context):
    with live_node(ros_context, LidarSegmentationNode, 'lidar_segmentation') as (node, harness):
        harness.record(PointCloud2, T.LIDAR_LABELED)
        fuzzer = Fuzzer(node, harness, T.LIDAR_POINTS, PointCloud2, 'lidar')
        assert wait_until(lambda: fuzzer.publisher.get_subscription_count() and node.output.get_subscription_count(),
                          30)
        valid = small_cloud(500)
        values = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0])

        @SLOW_FUZZ
        @given(drawn=st.one_of(point_clouds().map(as_rclpy), values.map(lambda v: adversarial_cloud(harness.types, v))))
        def check(drawn):
            fuzzer.send_bad(drawn)
            stamp = fuzzer.next_stamp()
            fuzzer.publisher.publish(cloud_message(harness.types, valid, stamp))
            out = pointcloud2_to_array(wait_for_stamp(harness, T.LIDAR_LABELED, stamp))
            np.testing.assert_array_equal(out['x'], valid['x'])
            assert (out['label'] != 255).mean() > 0.9  # segmented, not just passed through
        check()
        assert node.workers[0]._thread.is_alive()
        causes = node.health.rejected_by_cause
        assert node.health.totals['rejected'] >= 1 and all(c.startswith('points.') for c in causes), causes


def test_camera_node_survives_consecutive_tiny_and_extreme_images(ros_context):
    """Issue 15, item 1: two consecutive 16x16 (or 10000x10) rgb8 images made the optical flow raise cv2.error,
    which ended perception-drive."""
    overrides = {'panoptic.enabled': 'false'}
    with live_node(ros_context, CameraSegmentationNode, 'camera_segmentation', overrides) as (node, harness):
        harness.record(Image, T.CAMERA_LABELS)
        fuzzer = Fuzzer(node, harness, T.CAMERA_IMAGE, Image, 'camera')
        assert wait_until(lambda: fuzzer.publisher.get_subscription_count()
                          and node.outputs['labels'].get_subscription_count(), 30)
        rng = np.random.default_rng(1)
        sizes = ((16, 16), (16, 16), (10, 10000), (10, 10000), (48, 64))
        for count, (height, width) in enumerate(sizes, 1):
            stamp = fuzzer.stamp = fuzzer.stamp + 10**8  # 0.1 s apart: the camera propagates between them
            image = rng.integers(0, 256, (height, width, 3), np.uint8)
            fuzzer.publisher.publish(array_to_image(harness.types, image, 'rgb8', 'camera', stamp))
            assert wait_until(lambda: node.health.totals['received'] == count and node.workers[0].idle(), 60)
        assert image_to_array(wait_for_stamp(harness, T.CAMERA_LABELS, stamp)).shape == (48, 64)
        totals = node.health.totals
        assert totals['processed'] + totals['rejected'] == len(sizes) and node.workers[0]._thread.is_alive()
