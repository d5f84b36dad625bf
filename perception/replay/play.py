"""perception-play: publish a rosbag2 recording over ROS 2 in real time (or faster/slower) with /clock, for the
live graph running with use_sim_time (`ros2 bag play` is not on PyPI).

    perception-play rosbags/sim3000 [--rate 1.0] [--loop] [--topics /camera/image_raw /lidar/points ...]
                    [--skip-corrupt]

Topics whose message types this ROS installation lacks (tf2_msgs on the PyPI wheels) are skipped with a notice.
Discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is set otherwise.

Exit status: 0 played; 1 an error (one line on stderr: a bad bag, damaged data without --skip-corrupt); 2 bad
arguments; 130 interrupted (Ctrl-C).
"""
import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from perception.io import topics as T
from perception.io.bag import BagError, BagReader
from perception.ros_environment import apply_local_defaults


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-play', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('bag', type=Path)
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor')
    parser.add_argument('--loop', action='store_true', help='start again at the end')
    parser.add_argument('--topics', nargs='+', help='only these topics (default: all the installation can type)')
    parser.add_argument('--delay', type=float, default=3.0,
                        help='seconds to wait before playing, so subscribers are discovered (like ros2 bag play)')
    parser.add_argument('--skip-corrupt', action='store_true',
                        help='play past damaged data in the bag, counting the messages skipped (default: stop)')
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.delay < 0:
        parser.error('--rate must be positive and --delay not negative')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_local_defaults()
    import rclpy
    from rclpy.duration import Duration
    from rclpy.executors import ExternalShutdownException
    from rosgraph_msgs.msg import Clock

    from perception.ros_utils.bridge import to_rclpy
    from perception.msgs.types import rclpy_message_class
    from perception.ros_utils.qos import OUTPUT_QOS

    try:
        with BagReader(args.bag) as bag:
            available = bag.topics
    except BagError as error:
        print(f'perception-play: {error}', file=sys.stderr)
        return 1
    wanted = args.topics or list(available)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        print(f'perception-play: {args.bag} has no topic {", ".join(unknown)}', file=sys.stderr)
        return 1
    rclpy.init()
    node = rclpy.create_node('perception_play')
    publishers, skipped = {}, []
    for topic in wanted:
        try:
            publishers[topic] = node.create_publisher(rclpy_message_class(available[topic]), topic, OUTPUT_QOS)
        except (ImportError, AttributeError):
            skipped.append(f'{topic} ({available[topic]})')
    if skipped:
        node.get_logger().warning(f'not publishing topics of types this installation lacks: {", ".join(skipped)}')
    clock = publishers.get(T.CLOCK) or node.create_publisher(Clock, T.CLOCK, OUTPUT_QOS)
    synthesize_clock = T.CLOCK not in publishers
    skipped = Counter()
    try:
        time.sleep(args.delay)
        while True:
            played = play_once(args.bag, list(publishers), publishers, clock if synthesize_clock else None,
                               args.rate, to_rclpy, Clock, node, args.skip_corrupt, skipped)
            node.get_logger().info(f'played {played} messages from {args.bag}')
            if not args.loop:
                break
        for publisher in publishers.values():  # reliable delivery of the last messages before exiting
            publisher.wait_for_all_acked(Duration(seconds=2.0))
    except BagError as error:
        print(f'perception-play: {error}; --skip-corrupt plays past damaged data', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        return 130
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        if skipped:
            print(f'skipped {sum(skipped.values())} damaged messages '
                  f'({", ".join(f"{topic}: {n}" for topic, n in skipped.items())})')
    return 0


def play_once(bag_path: Path, topics: list[str], publishers: dict, clock, rate: float, to_rclpy, clock_class,
              node, skip_corrupt: bool, skipped: Counter) -> int:
    """Publish every message at its recorded time (scaled by rate); with `clock`, also /clock at each stamp. With
    skip_corrupt, damaged data is logged and skipped, and the skipped messages added to `skipped` per topic."""
    played, start_wall, first_stamp = 0, time.monotonic(), None
    with BagReader(bag_path, skip_corrupt=skip_corrupt) as bag:
        for topic, stamp, msg in bag.messages(topics):
            first_stamp = stamp if first_stamp is None else first_stamp
            delay = (stamp - first_stamp) / 1e9 / rate - (time.monotonic() - start_wall)
            if delay > 0:
                time.sleep(delay)
            if clock is not None:
                clock_msg = clock_class()
                clock_msg.clock.sec, clock_msg.clock.nanosec = divmod(stamp, 10**9)
                clock.publish(clock_msg)
            publishers[topic].publish(to_rclpy(msg))
            played += 1
            if played % 100 == 0:
                node.get_logger().info(f'{played} messages, t = {(stamp - first_stamp) / 1e9:.1f} s')
        for damage in bag.damage:
            node.get_logger().warning(f'skipped damaged data: {damage}')
        skipped.update(bag.skipped)
    return played


if __name__ == '__main__':
    sys.exit(main())
