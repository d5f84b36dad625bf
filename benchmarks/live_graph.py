"""The live graph under test, for bench_live.py and bench_soak.py: perception-drive in its own processes on a
reserved ROS domain, and a harness node in this process that publishes a recording's camera_info, image and
sweep at a fixed rate, stamped with the wall clock as a sensor would stamp them, and records every scene and
/diagnostics status. Latency is timed here, from publication to reception.

`source` runs another checkout's perception-drive (e.g. `git archive` of an older commit) for before/after runs.
"""
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from perception.io import topics as T
from perception.io.bag import BagReader
from perception.ros_environment import local_ros_environment, reserved_domain_id

SENSOR_TOPICS = (T.CAMERA_INFO, T.CAMERA_IMAGE, T.LIDAR_POINTS)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (on 2 cores, above 2 means other work competes)."""
    return ' '.join(Path('/proc/loadavg').read_text().split()[:3])


def recorded_frames(bag: Path, count: int | None = None) -> list[list]:
    """[(topic, rclpy message)] per recorded frame (the first `count`), in recording order, loaded up front so that
    reading and converting the recording does not compete with the graph while it is measured."""
    from perception.ros_utils.bridge import to_rclpy
    frames, stamp = [], None
    with BagReader(bag) as reader:
        for topic, msg_stamp, msg in reader.messages(list(SENSOR_TOPICS)):
            if msg_stamp != stamp:
                if count is not None and len(frames) == count:
                    break
                frames.append([])
                stamp = msg_stamp
            frames[-1].append((topic, to_rclpy(msg)))
    return frames


def looped(frames: list):
    """The frames again and again."""
    return itertools.cycle(frames)


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class LiveGraph:
    """with LiveGraph(bag) as graph: graph.send(frame) ... graph.spin(seconds); graph.scenes, graph.statuses."""

    def __init__(self, bag: Path, params: Path | None = None, source: Path | None = None, log: Path | None = None):
        self.bag, self.params, self.source, self.log = Path(bag), params, source, log
        self.sent: dict[int, float] = {}       # stamp -> publication time (perf_counter)
        self.received: dict[int, float] = {}   # stamp -> scene reception time
        self.statuses: dict[str, list] = {}    # status name -> [(time, level, message, {key: value})]

    def __enter__(self) -> 'LiveGraph':
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        from perception.ros_utils.qos import OUTPUT_QOS
        self._domain = reserved_domain_id()
        domain = self._domain.__enter__()
        env = {**local_ros_environment(), 'ROS_DOMAIN_ID': str(domain)}  # this run's domain, whatever was set before
        env['OMP_WAIT_POLICY'] = env.get('OMP_WAIT_POLICY', 'PASSIVE')
        if self.source is not None:
            env['PYTHONPATH'] = str(self.source)
        command = [sys.executable, '-m', 'perception.nodes.drive', '--calibration-bag', str(self.bag)]
        if self.params:
            command += ['--params', str(self.params)]
        self._log = open(self.log, 'w') if self.log else subprocess.DEVNULL
        self.runner = subprocess.Popen(command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                       cwd=self.source or None)
        for name in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'FASTDDS_DEFAULT_PROFILES_FILE'):
            os.environ[name] = env[name]
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node('bench_harness', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        types = {T.CAMERA_INFO: CameraInfo, T.CAMERA_IMAGE: Image, T.LIDAR_POINTS: PointCloud2}
        self.publishers = {t: self.node.create_publisher(types[t], t, OUTPUT_QOS) for t in SENSOR_TOPICS}
        self.node.create_subscription(PointCloud2, T.SCENE, self._on_scene, OUTPUT_QOS)
        self.node.create_subscription(DiagnosticArray, T.DIAGNOSTICS, self._on_diagnostics, OUTPUT_QOS)
        return self

    def __exit__(self, *exc_info) -> None:
        self.runner.send_signal(signal.SIGINT)
        try:
            self.runner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.runner.kill()
        self.node.destroy_node()
        self.context.try_shutdown()
        if self.log:
            self._log.close()
        self._domain.__exit__(*exc_info)

    def _on_scene(self, msg) -> None:
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        self.received.setdefault(stamp, time.perf_counter())

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            self.statuses.setdefault(status.name, []).append(
                (time.perf_counter(), status.level[0] if isinstance(status.level, bytes) else status.level,
                 status.message, {kv.key: kv.value for kv in status.values}))

    def spin(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.01, end - time.perf_counter())))

    def wait_ready(self, timeout_s: float = 600.0) -> None:
        """Until every node subscribes to its input and the scene is published to us."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() for p in self.publishers.values()) and \
                    self.node.count_publishers(T.SCENE):
                return
            if self.runner.poll() is not None:
                raise RuntimeError(f'perception-drive exited with status {self.runner.returncode}')
            self.spin(0.2)
        raise RuntimeError(f'the graph did not come up in {timeout_s:.0f} s')

    def send(self, frame: list) -> int:
        """Publish one frame's messages, stamped now; returns the stamp."""
        from builtin_interfaces.msg import Time
        stamp = time.time_ns()
        for topic, msg in frame:
            msg.header.stamp = Time(sec=stamp // 10**9, nanosec=stamp % 10**9)
        self.sent[stamp] = time.perf_counter()
        for topic, msg in frame:
            self.publishers[topic].publish(msg)
        return stamp

    def play(self, frames, count: int, rate: float, on_tick=None) -> list[int]:
        """`count` frames at `rate` Hz; `on_tick(index)` between frames (sampling). Returns the stamps sent."""
        stamps, start = [], time.perf_counter()
        for index, frame in zip(range(count), frames):
            self.spin(max(0.0, start + index / rate - time.perf_counter()))
            stamps.append(self.send(frame))
            if on_tick is not None:
                on_tick(index)
        return stamps

    def drain(self, stamps: list[int], quiet_s: float = 5.0, timeout_s: float = 60.0) -> None:
        """Spin until every stamp has its scene, or no scene came for `quiet_s`."""
        deadline, last = time.monotonic() + timeout_s, len(self.received)
        quiet_until = time.monotonic() + quiet_s
        while time.monotonic() < deadline and not all(s in self.received for s in stamps):
            self.spin(0.1)
            if len(self.received) != last:
                last, quiet_until = len(self.received), time.monotonic() + quiet_s
            elif time.monotonic() > quiet_until:
                break
        self.spin(2.5)  # the last /diagnostics period

    def node_pids(self) -> dict[str, int]:
        """{node: pid} of perception-drive's node processes (or {'drive': pid} for a one-process runner)."""
        pids = {}
        children = Path(f'/proc/{self.runner.pid}/task/{self.runner.pid}/children')
        for pid in children.read_text().split() if children.exists() else ():
            cmdline = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
            module = next((part.decode() for part in cmdline if part.startswith(b'perception.nodes.')), '')
            pids[module.rsplit('.', 1)[-1] or pid] = int(pid)
        return pids or {'drive': self.runner.pid}

    def cpu_s(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each node process and by this harness."""
        ticks = os.sysconf('SC_CLK_TCK')
        used = {}
        for name, pid in {**self.node_pids(), 'harness': os.getpid()}.items():
            try:
                fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return used

    def rss_mb(self) -> dict[str, float]:
        return {name: rss for name, pid in self.node_pids().items() if (rss := _rss_mb(pid)) is not None}

    def latencies_ms(self, stamps: list[int]) -> np.ndarray:
        """Per sent stamp (in order) its scene latency in ms, NaN where no scene came."""
        return np.array([1e3 * (self.received[s] - self.sent[s]) if s in self.received else np.nan for s in stamps])

    def last_values(self, node: str) -> dict:
        """The latest /diagnostics values of perception/<node>."""
        statuses = self.statuses.get(f'perception/{node}', [])
        return statuses[-1][3] if statuses else {}

    def levels(self, node: str) -> dict[str, int]:
        """How many /diagnostics periods of perception/<node> were OK, WARN and ERROR."""
        names = {0: 'OK', 1: 'WARN', 2: 'ERROR'}
        counts = {name: 0 for name in names.values()}
        for _, level, _, _ in self.statuses.get(f'perception/{node}', []):
            counts[names.get(level, str(level))] = counts.get(names.get(level, str(level)), 0) + 1
        return counts
