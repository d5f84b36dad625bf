"""lidar_segmentation: PointCloud2 (x, y, z[, intensity]) in; the same points with label (uint16), instance
(uint32) and confidence (float32) out. Backend by parameter: sparse (spconv U-Net) or pointnet2. The newest sweep
is processed, older waiting ones are dropped and counted; the header of each sweep taken goes out on
~/output/accepted as its processing starts (the camera segments just those frames: following.py)."""
from sensor_msgs.msg import PointCloud2
from std_msgs.msg import Header

from perception.core.device import use_threads
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.msgs.adapters import labeled_cloud, lidar_input
from perception.msgs.types import stamp_to_ns
from perception.nodes.common import PerceptionNode, spin
from perception.ros_utils.parameters import declare_from_schema
from perception.ros_utils.qos import OUTPUT_QOS


class LidarSegmentationNode(PerceptionNode):
    def __init__(self, **kwargs):
        super().__init__('lidar_segmentation', **kwargs)
        parameters = declare_from_schema(self, 'lidar_segmentation')
        self.threads = parameters['model.threads']
        self.segmenter = LidarSegmenter(LidarSegmenterConfig.from_parameters(parameters))
        self.start_health(parameters, inputs=('points',))
        self.counters = {'dropped_nonfinite_points': 0, 'dropped_out_of_range_points': 0}
        self.output = self.create_publisher(PointCloud2, '~/output/points', OUTPUT_QOS)
        self.accepted = self.create_publisher(Header, '~/output/accepted', OUTPUT_QOS)
        self.create_subscription(PointCloud2, '~/input/points',
                                 self.latest_only('points', self.on_points, lambda: use_threads(self.threads)),
                                 self.sensor_qos)
        self.get_logger().info(f'LiDAR segmentation: {self.segmenter.config.backend} on {self.segmenter.device} '
                               f'({self.threads} threads)')

    def on_points(self, msg: PointCloud2) -> None:
        started, stamp = self.now_ns(), stamp_to_ns(msg.header.stamp)
        self.accepted.publish(msg.header)
        points = lidar_input(msg)
        result = self.segmenter.process(points)
        self.output.publish(labeled_cloud(self.types, points, result, msg.header.frame_id, stamp))
        self.counters['dropped_nonfinite_points'] += result.dropped_nonfinite
        self.counters['dropped_out_of_range_points'] += result.dropped_out_of_range
        self.published(stamp, started, result.timing_ms)


def main(args=None) -> int:
    return spin(LidarSegmentationNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
