"""lidar_segmentation: PointCloud2 (x, y, z[, intensity]) in; the same points with label (uint16), instance
(uint32) and confidence (float32) out. Backend by parameter: sparse (spconv U-Net) or pointnet2."""
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2

from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.msgs.adapters import labeled_cloud, lidar_input
from perception.msgs.diagnostics import ERROR
from perception.msgs.types import rclpy_types, stamp_to_ns
from perception.nodes.common import Diagnostics, spin
from perception.ros_utils.parameters import declare_from_schema
from perception.ros_utils.qos import OUTPUT_QOS, input_qos


class LidarSegmentationNode(Node):
    def __init__(self, **kwargs):
        super().__init__('lidar_segmentation', **kwargs)
        parameters = declare_from_schema(self, 'lidar_segmentation')
        self.segmenter = LidarSegmenter(LidarSegmenterConfig.from_parameters(parameters))
        self.types = rclpy_types()
        self.create_subscription(PointCloud2, '~/input/points', self.on_points,
                                 input_qos(parameters['qos.input_reliability']))
        self.output = self.create_publisher(PointCloud2, '~/output/points', OUTPUT_QOS)
        self.diagnostics = Diagnostics(self)
        self.counters = {'sweeps': 0, 'rejected': 0, 'dropped_nonfinite_points': 0, 'dropped_out_of_range_points': 0}
        self.get_logger().info(f'LiDAR segmentation: {self.segmenter.config.backend} on {self.segmenter.device}')

    def on_points(self, msg: PointCloud2) -> None:
        stamp = stamp_to_ns(msg.header.stamp)
        try:
            points = lidar_input(msg)
            result = self.segmenter.process(points)
        except ValueError as error:
            self.counters['rejected'] += 1
            self.get_logger().error(f'dropped a cloud ({self.counters["rejected"]} so far): {error}',
                                    throttle_duration_sec=5.0)
            self.diagnostics.publish(stamp, self.counters, level=ERROR, message=f'dropped a cloud: {error}')
            return
        self.output.publish(labeled_cloud(self.types, points, result, msg.header.frame_id, stamp))
        self.counters['sweeps'] += 1
        self.counters['dropped_nonfinite_points'] += result.dropped_nonfinite
        self.counters['dropped_out_of_range_points'] += result.dropped_out_of_range
        self.diagnostics.publish(stamp, self.counters, result.timing_ms)


def main(args=None) -> None:
    spin(LidarSegmentationNode, args)
