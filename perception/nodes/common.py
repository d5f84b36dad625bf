"""What every node shares: health on /diagnostics, debug timing topics, input guards and latest-only workers,
and main() (init, spin, clean shutdown)."""
import sys

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from std_msgs.msg import Float64

from perception.core.device import single_threaded_blas
from perception.msgs.diagnostics import NodeHealth, node_diagnostics
from perception.msgs.types import rclpy_types
from perception.nodes.worker import LatestOnlyWorker
from perception.ros_utils.qos import OUTPUT_QOS, input_qos

DIAGNOSTICS_PERIOD_S = 1.0
SENSOR_DEPTH = 1  # sensor inputs keep only the newest message: a busy node skips frames, it never queues them


class PerceptionNode(Node):
    """A node with health reporting: call `start_health` once its parameters are declared, wrap executor callbacks
    in `guard`, and hand heavy inputs to `latest_only` workers."""

    def start_health(self, parameters: dict, inputs: tuple[str, ...]) -> None:
        """/diagnostics every DIAGNOSTICS_PERIOD_S from the `diagnostics.*` parameters, watching `inputs`."""
        self.types = rclpy_types()
        self.health = NodeHealth({name: parameters['diagnostics.input_timeout_s'] for name in inputs},
                                 parameters['diagnostics.latency_budget_ms'], self.now_ns())
        self.counters: dict[str, int] = {}  # node-specific counters, published beside the health totals
        self.workers: list[LatestOnlyWorker] = []
        self.diagnostics_publisher = self.create_publisher(DiagnosticArray, '/diagnostics', OUTPUT_QOS)
        self.debug_publishers = {name: self.create_publisher(Float64, f'~/debug/{name}', OUTPUT_QOS)
                                 for name in ('processing_time_ms', 'pipeline_latency_ms')}
        self.sensor_qos = input_qos(parameters['qos.input_reliability'], depth=SENSOR_DEPTH)
        self.input_qos = input_qos(parameters['qos.input_reliability'])
        self.create_timer(DIAGNOSTICS_PERIOD_S, self.publish_diagnostics)

    def now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def publish_diagnostics(self) -> None:
        now = self.now_ns()
        level, message, timing_ms, counters = self.health.status(now)
        self.diagnostics_publisher.publish(node_diagnostics(
            self.types, self.get_name(), now, level=level, message=message, timing_ms=timing_ms,
            counters={**counters, **self.counters}))

    def reject(self, name: str, error: Exception) -> None:
        """Count an input whose processing raised; log each cause once."""
        if self.health.rejected(name, error):
            self.get_logger().error(f'rejected a {name} message ({type(error).__name__}: {error}); further '
                                    'messages failing the same way are counted on /diagnostics, not logged')

    def guard(self, name: str, callback):
        """`callback(msg)` as an executor callback that counts the input and survives any exception it raises."""
        def guarded(msg) -> None:
            self.health.received(name, self.now_ns())
            try:
                callback(msg)
            except Exception as error:  # noqa: BLE001 - one bad message must not stop the node
                self.reject(name, error)
        return guarded

    def worker(self, name: str, process, setup=None) -> LatestOnlyWorker:
        """A thread running `process(msg)` on the newest submitted `name` message (LatestOnlyWorker); replaced
        messages count as dropped, exceptions as rejected; stopped with the node."""
        worker = LatestOnlyWorker(lambda msg, _received: process(msg), self.health.dropped,
                                  lambda _msg, error: self.reject(name, error), setup, name=f'{self.get_name()}')
        self.workers.append(worker)
        return worker

    def latest_only(self, name: str, process, setup=None):
        """A subscription callback that hands each `name` message to a `worker` running `process(msg)` on the
        newest one."""
        worker = self.worker(name, process, setup)

        def submit(msg) -> None:
            worker.submit(msg)  # first: once counted as received, a message is pending or being processed
            self.health.received(name, self.now_ns())
        return submit

    def published(self, stamp_ns: int, started_ns: int, timing_ms: dict) -> None:
        """A result for the input stamped `stamp_ns` went out; processing began at `started_ns` (node clock)."""
        now = self.now_ns()
        latency_ms = (now - stamp_ns) / 1e6
        self.health.processed(timing_ms, latency_ms, (started_ns - stamp_ns) / 1e6)
        self.publish_debug({'processing_time_ms': timing_ms.get('total', 0.0), 'pipeline_latency_ms': latency_ms,
                            **{f'processing_time/{stage}_ms': ms for stage, ms in timing_ms.items()
                               if stage != 'total'}})

    def publish_debug(self, values: dict[str, float]) -> None:
        """Autoware-style ~/debug/<name> Float64 topics, skipped while nobody subscribes."""
        for name, value in values.items():
            publisher = self.debug_publishers.get(name)
            if publisher is None:
                publisher = self.debug_publishers[name] = self.create_publisher(Float64, f'~/debug/{name}',
                                                                                OUTPUT_QOS)
            if publisher.get_subscription_count():
                publisher.publish(Float64(data=float(value)))

    def destroy_node(self):
        for worker in getattr(self, 'workers', []):
            worker.stop()
        return super().destroy_node()


def spin(node_class, args=None) -> int:
    """Run one node until Ctrl-C or shutdown (the ros2/demos talker pattern); a configuration the node refuses
    is one line on stderr and exit status 1."""
    single_threaded_blas()
    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ValueError, FileNotFoundError) as error:
        if node is not None:
            raise
        print(f'{node_class.__name__}: {error}', file=sys.stderr)
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
