"""Latest-only processing and health of a live node (real rclpy, real DDS, in the test process): a burst while busy
yields the newest frame and counted drops, latency stays bounded when the input outruns the node, and
/diagnostics and the debug topics say so."""
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from diagnostic_msgs.msg import DiagnosticStatus  # noqa: E402
from sensor_msgs.msg import Image, PointCloud2  # noqa: E402
from std_msgs.msg import Float64, Header  # noqa: E402

from live import cloud_message, live_node, small_cloud, wait_until  # noqa: E402
from perception.io import topics as T  # noqa: E402
from perception.msgs.codec import array_to_image, pointcloud2_to_array  # noqa: E402
from perception.msgs.types import make_header, stamp_to_ns  # noqa: E402
from perception.nodes.camera_segmentation import CameraSegmentationNode  # noqa: E402
from perception.nodes.lidar_segmentation import LidarSegmentationNode  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]


def now_ns(node) -> int:
    return node.get_clock().now().nanoseconds


def slowed(segmenter, seconds: float, gate: threading.Event | None = None):
    """Make `segmenter.process` take at least `seconds` (and wait for `gate` on its first call)."""
    process, calls = segmenter.process, []

    def slow(points):
        calls.append(len(points))
        if gate is not None and len(calls) == 1:
            gate.wait(30)
        time.sleep(seconds)
        return process(points)
    segmenter.process = slow
    return calls


def test_a_burst_while_busy_processes_the_newest_sweep_and_reports_the_drops(ros_context):
    with live_node(ros_context, LidarSegmentationNode, 'lidar_segmentation') as (node, harness):
        gate = threading.Event()
        calls = slowed(node.segmenter, 0.0, gate)
        points = harness.publisher(PointCloud2, T.LIDAR_POINTS)
        outputs = harness.record(PointCloud2, T.LIDAR_LABELED)
        harness.record_diagnostics()
        assert wait_until(lambda: points.get_subscription_count() and node.output.get_subscription_count(), 30)
        stamps = [now_ns(node) + i * 1000 for i in range(21)]
        points.publish(cloud_message(harness.types, small_cloud(), stamps[0]))
        assert wait_until(lambda: calls, 30), 'the first sweep never reached the model'
        for i, stamp in enumerate(stamps[1:], 1):  # 20 sweeps while the first one is processed
            points.publish(cloud_message(harness.types, small_cloud(seed=i), stamp))
            time.sleep(0.02)
        # depth 1: on a loaded machine DDS itself may replace a sweep before the executor takes it
        assert wait_until(lambda: node.health.totals['received'] == 21, 5) or node.health.totals['received'] >= 15
        received = node.health.totals['received']
        gate.set()
        assert wait_until(lambda: len(outputs) == 2, 30), harness.stamps(T.LIDAR_LABELED)
        time.sleep(0.5)  # nothing else comes
        assert harness.stamps(T.LIDAR_LABELED) == [stamps[0], stamps[-1]]
        newest = pointcloud2_to_array(outputs[-1][1])
        np.testing.assert_array_equal(newest['x'], small_cloud(seed=20)['x'])
        expected = node.segmenter.process(np.stack([small_cloud(seed=20)[k] for k in ('x', 'y', 'z', 'intensity')], 1))
        np.testing.assert_array_equal(newest['label'], expected.labels)
        np.testing.assert_array_equal(newest['instance'], expected.instance)
        assert node.health.totals == {'received': received, 'processed': 2, 'dropped': received - 2, 'rejected': 0}

        statuses = harness.statuses.setdefault('perception/lidar_segmentation', [])

        def reported():
            values = {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}
            return values.get('dropped') == str(received - 2) and values.get('processed') == '2'
        assert wait_until(reported, 10), statuses
        assert any(s.level == DiagnosticStatus.WARN and f'cannot keep up: dropped {received - 2} of' in s.message
                   for s in statuses), [(s.level, s.message) for s in statuses]


def test_latency_stays_bounded_when_the_input_outruns_the_node(ros_context):
    """Sweeps at 20 Hz for 6 s into a node that needs > 0.15 s each: a queueing node's latency would grow by more
    than 0.1 s per frame (to over 10 s); a latest-only one stays within about two processing times."""
    overrides = {'diagnostics.latency_budget_ms': 60000.0}
    with live_node(ros_context, LidarSegmentationNode, 'lidar_segmentation', overrides) as (node, harness):
        slowed(node.segmenter, 0.15)
        points = harness.publisher(PointCloud2, T.LIDAR_POINTS)
        outputs = harness.record(PointCloud2, T.LIDAR_LABELED)
        times = harness.record(Float64, '/lidar_segmentation/debug/processing_time_ms')
        assert wait_until(lambda: points.get_subscription_count() and node.output.get_subscription_count(), 30)
        assert wait_until(lambda: node.debug_publishers['processing_time_ms'].get_subscription_count(), 30)
        sent = {}
        cloud = small_cloud()
        for i in range(120):
            stamp = now_ns(node)
            sent[stamp] = time.monotonic()
            points.publish(cloud_message(harness.types, cloud, stamp))
            time.sleep(0.05)
        assert wait_until(lambda: node.workers[0].idle(), 30)
        time.sleep(0.3)
        latencies = [arrival - sent[stamp] for (arrival, _), stamp in zip(outputs, harness.stamps(T.LIDAR_LABELED))]
        assert len(latencies) >= 6, latencies
        third = len(latencies) // 3
        first, last = np.median(latencies[:third]), np.median(latencies[-third:])
        assert times, 'nothing on ~/debug/processing_time_ms'
        # processing_time_ms is the segmenter's own timing; the injected 0.15 s lies outside it
        processing = np.array([msg.data for _, msg in times]) / 1e3 + 0.15
        assert processing.min() > 0.15
        assert last <= first + np.median(processing), (first, last, latencies)
        assert max(latencies) <= 2 * processing.max() + 0.5, (processing, latencies)
        totals = node.health.totals
        assert totals['processed'] == len(latencies) and totals['dropped'] == totals['received'] - len(latencies)


def test_silence_is_an_error_and_fresh_input_within_budget_is_ok(ros_context):
    overrides = {'diagnostics.input_timeout_s': 1.5, 'diagnostics.latency_budget_ms': 60000.0}
    with live_node(ros_context, LidarSegmentationNode, 'lidar_segmentation', overrides) as (node, harness):
        harness.record_diagnostics()
        points = harness.publisher(PointCloud2, T.LIDAR_POINTS)
        outputs = harness.record(PointCloud2, T.LIDAR_LABELED)
        assert wait_until(lambda: points.get_subscription_count() and node.output.get_subscription_count(), 30)
        statuses = harness.statuses.setdefault('perception/lidar_segmentation', [])
        assert wait_until(lambda: any(s.level == DiagnosticStatus.ERROR and 'no points for' in s.message
                                      for s in statuses), 10), statuses
        deadline = time.monotonic() + 20
        seen_ok = False
        while time.monotonic() < deadline and not seen_ok:  # one sweep every 0.5 s until a period reports OK
            points.publish(cloud_message(harness.types, small_cloud(), now_ns(node)))
            time.sleep(0.5)
            processed_ok = [s for s in statuses if s.level == DiagnosticStatus.OK and s.message == 'ok'
                            and 'latency_ms' in {kv.key for kv in s.values}]
            seen_ok = bool(processed_ok)
        assert seen_ok, [(s.level, s.message) for s in statuses]
        assert {'input_age_ms', 'total_ms', 'inference_ms', 'processed'} <= {kv.key for kv in processed_ok[0].values}
        assert outputs


def test_the_camera_segments_only_the_frames_of_the_sweeps_the_lidar_takes(ros_context):
    with live_node(ros_context, CameraSegmentationNode, 'camera_segmentation') as (node, harness):
        images = harness.publisher(Image, T.CAMERA_IMAGE)
        accepted = harness.publisher(Header, T.LIDAR_ACCEPTED)
        labels = harness.record(Image, T.CAMERA_LABELS)
        assert wait_until(lambda: images.get_subscription_count() and accepted.get_subscription_count()
                          and node.outputs['labels'].get_subscription_count(), 30)
        stamps = [now_ns(node) + i * 10**8 for i in range(6)]
        accepted.publish(make_header(harness.types, 'lidar', stamps[0]))  # the sweep before its frame
        assert wait_until(lambda: node.following.last_accepted_ns is not None, 10)
        image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), np.uint8)
        for stamp in stamps[:5]:
            images.publish(array_to_image(harness.types, image, 'rgb8', 'camera', stamp))
            time.sleep(0.05)
        assert wait_until(lambda: node.health.totals['received'] == 5, 10)
        accepted.publish(make_header(harness.types, 'lidar', stamps[4]))  # the frame before its sweep
        assert wait_until(lambda: len(labels) == 2, 30), [stamp_to_ns(m.header.stamp) for _, m in labels]
        time.sleep(0.3)  # nothing else comes
        assert [stamp_to_ns(m.header.stamp) for _, m in labels] == [stamps[0], stamps[4]]
        assert node.counters['frames_skipped_following_lidar'] == 3 and node.health.totals['dropped'] == 0


def test_the_lidar_announces_each_sweep_it_takes(ros_context):
    with live_node(ros_context, LidarSegmentationNode, 'lidar_segmentation') as (node, harness):
        points = harness.publisher(PointCloud2, T.LIDAR_POINTS)
        accepted = harness.record(Header, T.LIDAR_ACCEPTED)
        outputs = harness.record(PointCloud2, T.LIDAR_LABELED)
        assert wait_until(lambda: points.get_subscription_count() and node.accepted.get_subscription_count(), 30)
        stamp = now_ns(node)
        points.publish(cloud_message(harness.types, small_cloud(), stamp))
        assert wait_until(lambda: outputs, 30)
        assert [stamp_to_ns(m.stamp) for _, m in accepted] == [stamp] and accepted[0][0] <= outputs[0][0]
