"""Fusion on a held-out simulated drive.

Offline (perception-replay's pipeline, no transport): fused point mIoU vs LiDAR-only vs camera-only on the points
the camera sees, and the 3D scene's mIoU and PQ. Live (perception-drive in its own process, real DDS): frames are
published at --rate Hz and each /perception/scene is timed from publication to reception (end-to-end latency),
and the sustained rate is the scenes received per second.

    .venv/bin/python benchmarks/bench_fusion.py [--seed 3002] [--frames 100] [--rate 10] [--live-frames 60]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.io import topics as T  # noqa: E402
from perception.io.bag import BagReader  # noqa: E402
from perception.replay.replay import Replay  # noqa: E402
from perception.ros_environment import local_ros_environment, reserved_domain_id  # noqa: E402
from perception.sim.record import record_drive  # noqa: E402
from perception.sim.simulator import DriveSimulator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def held_out_bag(seed: int, frames: int) -> Path:
    bag = ROOT / 'rosbags' / f'sim{seed}'
    if not bag.exists():
        record_drive(DriveSimulator(seed, frames), bag=bag)
    return bag


def offline(bag: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Replay(bag, Path(tmp)).run().summary
    visible = summary['scene']['camera_visible_points']
    return {'fused mIoU (seen points)': visible['fused']['miou'],
            'LiDAR-only mIoU (seen points)': visible['lidar_only']['miou'],
            'camera-only mIoU (seen points)': visible['camera_only']['miou'],
            'scene mIoU (all points)': summary['scene']['miou'], 'scene PQ': summary['scene']['panoptic']['all']['pq'],
            'LiDAR mIoU (all points)': summary['lidar']['miou'], 'replay frames/s': summary['throughput_fps']}


def live(bag: Path, rate: float, frames: int) -> dict:
    """perception-drive as a subprocess; frames published from here at `rate`; latency per scene."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import PointCloud2

    from perception.ros_utils.bridge import to_rclpy
    from perception.msgs.types import rclpy_message_class, stamp_to_ns
    from perception.ros_utils.qos import OUTPUT_QOS

    with reserved_domain_id() as domain, BagReader(bag) as reader:
        env = local_ros_environment(domain_id=domain)
        env['ROS_DOMAIN_ID'] = str(domain)
        runner = subprocess.Popen([sys.executable, '-m', 'perception.nodes.drive', '--calibration-bag', str(bag)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE',
                                               'FASTDDS_DEFAULT_PROFILES_FILE')})
        context = rclpy.Context()
        rclpy.init(context=context, domain_id=domain)
        node = rclpy.create_node('bench_publisher', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        sent, received = {}, {}

        def on_scene(msg):
            received.setdefault(stamp_to_ns(msg.header.stamp), time.perf_counter())
        node.create_subscription(PointCloud2, T.SCENE, on_scene, OUTPUT_QOS)
        topics = [T.CAMERA_INFO, T.CAMERA_IMAGE, T.LIDAR_POINTS]
        publishers = {t: node.create_publisher(rclpy_message_class(reader.topics[t]), t, OUTPUT_QOS) for t in topics}
        by_stamp = {}
        for topic, stamp, msg in reader.messages(topics):
            by_stamp.setdefault(stamp, []).append((topic, to_rclpy(msg)))
        deadline = time.monotonic() + 120
        while not all(p.get_subscription_count() for p in publishers.values()) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        stamps = sorted(by_stamp)[:frames]
        for stamp in stamps[:3]:  # warm-up frames, not measured
            for topic, msg in by_stamp[stamp]:
                publishers[topic].publish(msg)
            end = time.monotonic() + 3
            while stamp not in received and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
        start = time.perf_counter()
        for i, stamp in enumerate(stamps[3:]):
            target = start + i / rate
            while time.perf_counter() < target:
                executor.spin_once(timeout_sec=max(0.0, min(0.01, target - time.perf_counter())))
            sent[stamp] = time.perf_counter()
            for topic, msg in by_stamp[stamp]:
                publishers[topic].publish(msg)
        end = time.monotonic() + 20
        while not all(s in received for s in sent) and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        duration = max(received.get(s, 0) for s in sent) - start
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=30)
        node.destroy_node()
        rclpy.shutdown(context=context)
    latency = np.array([1e3 * (received[s] - sent[s]) for s in sent if s in received])
    return {'published Hz': rate, 'frames': len(sent), 'scenes received': len(latency),
            'end-to-end p50 ms': float(np.percentile(latency, 50)),
            'end-to-end p95 ms': float(np.percentile(latency, 95)), 'end-to-end max ms': float(latency.max()),
            'sustained scenes/s': len(latency) / duration}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=3002)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--rate', type=float, default=10.0)
    parser.add_argument('--live-frames', type=int, default=60)
    parser.add_argument('--skip-live', action='store_true')
    args = parser.parse_args()
    bag = held_out_bag(args.seed, args.frames)
    rows = [{'part': 'offline accuracy', **offline(bag)}]
    if not args.skip_live:
        rows.append({'part': 'live graph over DDS', **live(bag, args.rate, args.live_frames)})
    for row in rows:
        print(f'\n{row.pop("part")}:')
        publish(f'fusion_{"offline" if "fused mIoU (seen points)" in row else "live"}', [row])


if __name__ == '__main__':
    main()
