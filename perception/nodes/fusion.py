"""fusion: the labeled LiDAR cloud, the camera's labels / confidence / panoptic images, camera_info and the
LiDAR->camera transform in; the labeled 3D scene (PointCloud2) and one box + text marker per instance out.

Camera frames and sweeps are paired by stamp (approximate time, with slop). A sweep whose camera frame is late or
missing goes out LiDAR-only after a timeout, with a warning on /diagnostics: the graph never stalls on the camera.
When several sweeps are ready at once, only the newest is fused; the older ones are dropped and counted.
"""
import numpy as np
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from perception.core.fusion.pipeline import CameraOutputs, SceneFusion, SceneFusionConfig
from perception.core.fusion.sync import StampMatcher
from perception.core.geometry import make_transform
from perception.msgs.adapters import fusion_camera, fusion_sweep, scene_cloud, scene_status
from perception.msgs.codec import camera_info_to_intrinsics, transform_stamped_to_matrix
from perception.msgs.markers import instance_markers
from perception.msgs.types import stamp_to_ns
from perception.nodes.common import PerceptionNode, spin
from perception.ros_utils.parameters import declare_from_schema
from perception.ros_utils.qos import OUTPUT_QOS


def parse_transform(text: str) -> np.ndarray:
    """'x y z qx qy qz qw' -> 4x4."""
    values = [float(v) for v in text.split()]
    if len(values) != 7:
        raise ValueError(f'calibration.lidar_to_camera needs 7 numbers "x y z qx qy qz qw", got {text!r}')
    return make_transform(values[:3], values[3:])


class FusionNode(PerceptionNode):
    def __init__(self, **kwargs):
        super().__init__('fusion', **kwargs)
        parameters = declare_from_schema(self, 'fusion')
        self.fusion = SceneFusion(SceneFusionConfig.from_parameters(parameters))
        self.matcher = StampMatcher(self.fusion.config.sync)
        self.start_health(parameters, inputs=('points', 'camera'))
        self.counters = {'scenes': 0, 'lidar_only': 0}
        self.parts = ('labels', 'confidence') + (('panoptic',) if self.fusion.config.use_panoptic else ())
        self.pending_camera: dict[int, dict] = {}
        self.last_scene_stamp = -1
        self.camera_model = None
        self.calibration = self._calibration_source(parameters)
        self.create_subscription(PointCloud2, '~/input/points', self.guard('points', self.on_points), self.input_qos)
        self.create_subscription(CameraInfo, '~/input/camera_info', self.guard('camera_info', self.on_camera_info),
                                 self.sensor_qos)
        for part in self.parts:
            self.create_subscription(Image, f'~/input/camera/{part}',
                                     self.guard('camera', lambda msg, p=part: self.on_camera(p, msg)), self.input_qos)
        self.scene_publisher = self.create_publisher(PointCloud2, '~/output/scene', OUTPUT_QOS)
        self.marker_publisher = self.create_publisher(MarkerArray, '~/output/scene_markers', OUTPUT_QOS)
        self.create_timer(0.02, self.guard_emit)

    def _calibration_source(self, parameters: dict):
        """A tf2 buffer (source 'tf', or 'auto' where tf2_ros is importable), else the parameter's transform."""
        source = parameters['calibration.source']
        if source in ('tf', 'auto'):
            try:
                from tf2_ros import Buffer, TransformListener
            except ImportError:
                if source == 'tf':
                    raise ValueError('calibration.source is tf but tf2_ros is not installed: set it to parameter '
                                     'and give calibration.lidar_to_camera') from None
            else:
                buffer = Buffer()
                self._tf_listener = TransformListener(buffer, self)
                self.get_logger().info('LiDAR->camera transform from TF')
                return buffer
        text = parameters['calibration.lidar_to_camera']
        if not text:
            self.get_logger().error('no LiDAR->camera transform: tf2_ros is not available and '
                                    'calibration.lidar_to_camera is empty; the scene will be LiDAR-only')
            return None
        self.get_logger().info('LiDAR->camera transform from the calibration.lidar_to_camera parameter')
        return parse_transform(text)

    def camera_T_lidar(self, camera_frame: str, lidar_frame: str, stamp_ns: int) -> np.ndarray | None:
        if self.calibration is None or isinstance(self.calibration, np.ndarray):
            return self.calibration
        try:
            transform = self.calibration.lookup_transform(camera_frame, lidar_frame, Time(nanoseconds=stamp_ns))
        except Exception as error:  # tf2's lookup, connectivity and extrapolation errors
            self.get_logger().warning(f'no transform {lidar_frame} -> {camera_frame}: {error}',
                                      throttle_duration_sec=5.0)
            return None
        return transform_stamped_to_matrix(transform).matrix

    def on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_model = (camera_info_to_intrinsics(msg), msg.header.frame_id)

    def on_camera(self, part: str, msg: Image) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        frame = self.pending_camera.setdefault(stamp, {})
        frame[part] = msg
        if all(p in frame for p in self.parts):
            del self.pending_camera[stamp]
            self.matcher.add_camera(stamp, fusion_camera(frame))
        while len(self.pending_camera) > self.fusion.config.sync.queue_size:  # parts that never completed
            del self.pending_camera[min(self.pending_camera)]

    def on_points(self, msg: PointCloud2) -> None:
        self.matcher.add_sweep(stamp_to_ns(msg.header.stamp), msg, self.now_ns())
        self.emit_ready()

    def guard_emit(self) -> None:
        try:
            self.emit_ready()
        except Exception as error:  # noqa: BLE001 - a sweep that cannot be fused must not stop the node
            self.reject('points', error)

    def emit_ready(self) -> None:
        """Fuse the newest sweep that can go out now; older ready ones, and any older than the last scene, are
        dropped (latest-only: scenes go out in stamp order)."""
        ready = self.matcher.ready(self.now_ns())
        newest = ready[-1] if ready and ready[-1][0] > self.last_scene_stamp else None
        self.health.dropped(len(ready) - (newest is not None))
        if newest is not None:
            self.last_scene_stamp = newest[0]
            self.publish_scene(*newest)

    def publish_scene(self, stamp: int, msg: PointCloud2, camera: CameraOutputs | None) -> None:
        started = self.now_ns()
        sweep = fusion_sweep(msg)
        camera_model, camera_T_lidar = None, None
        if camera is not None and self.camera_model is not None:
            camera_model, camera_frame = self.camera_model
            camera_T_lidar = self.camera_T_lidar(camera_frame, msg.header.frame_id, stamp)
        result = self.fusion.process(sweep.points, sweep.labels, sweep.confidence, sweep.instance, camera,
                                     camera_model, camera_T_lidar)
        if not result.camera_fused:
            _, message = scene_status(result)
            self.counters['lidar_only'] += 1
            self.health.warn(message)
        frame = msg.header.frame_id
        self.scene_publisher.publish(scene_cloud(self.types, result, frame, stamp))
        if self.fusion.config.markers and self.marker_publisher.get_subscription_count():
            self.marker_publisher.publish(instance_markers(self.types, result.boxes, frame, stamp,
                                                           self.fusion.taxonomy))
        self.counters['scenes'] += 1
        self.published(stamp, started, result.timing_ms)


def main(args=None) -> int:
    return spin(FusionNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
