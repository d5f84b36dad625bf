"""camera_segmentation: rgb image in; semantic labels (mono8), confidence (32FC1), colour overlay (rgb8) and
panoptic map (32SC1, class * 1000 + instance) out. Backbone on key frames, flow-warped features in between."""
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.nodes.common import Diagnostics, spin
from perception.ros_utils.conversions import (array_to_image, camera_info_to_intrinsics, image_to_array,
                                              rclpy_types, stamp_to_ns)
from perception.ros_utils.parameters import declare_from_schema
from perception.ros_utils.qos import OUTPUT_QOS, input_qos


class CameraSegmentationNode(Node):
    def __init__(self, **kwargs):
        super().__init__('camera_segmentation', **kwargs)
        parameters = declare_from_schema(self, 'camera_segmentation')
        self.segmenter = CameraSegmenter(CameraSegmenterConfig.from_parameters(parameters))
        self.types = rclpy_types()
        qos = input_qos(parameters['qos.input_reliability'])
        self.create_subscription(Image, '~/input/image', self.on_image, qos)
        self.create_subscription(CameraInfo, '~/input/camera_info', self.on_camera_info, qos)
        self.outputs = {name: self.create_publisher(Image, f'~/output/{name}', OUTPUT_QOS)
                        for name in ('labels', 'confidence', 'overlay', 'panoptic')}
        self.diagnostics = Diagnostics(self)
        self.calibrated_size = None
        self.counters = {'frames': 0, 'key_frames': 0, 'rejected': 0}
        self.get_logger().info(f'camera segmentation on {self.segmenter.device}, panoptic '
                               f'{"on" if self.segmenter.config.panoptic else "off"}')

    def on_camera_info(self, msg: CameraInfo) -> None:
        try:
            camera = camera_info_to_intrinsics(msg)
        except ValueError as error:
            self.get_logger().warning(f'ignoring camera_info: {error}', throttle_duration_sec=10.0)
            return
        self.calibrated_size = (camera.width, camera.height)

    def on_image(self, msg: Image) -> None:
        try:
            if msg.encoding not in ('rgb8', 'bgr8'):
                raise ValueError(f'camera_segmentation takes rgb8 or bgr8 images, not {msg.encoding!r}')
            image = image_to_array(msg)
            image = np.ascontiguousarray(image[..., ::-1] if msg.encoding == 'bgr8' else image)
            result = self.segmenter.process(image, stamp_to_ns(msg.header.stamp))
        except ValueError as error:
            self.counters['rejected'] += 1
            self.get_logger().error(f'dropped an image ({self.counters["rejected"]} so far): {error}',
                                    throttle_duration_sec=5.0)
            return
        if self.calibrated_size and self.calibrated_size != (image.shape[1], image.shape[0]):
            width, height = self.calibrated_size
            self.get_logger().warning(f'image is {image.shape[1]}x{image.shape[0]} but camera_info says '
                                      f'{width}x{height}', throttle_duration_sec=10.0)
        stamp, frame = stamp_to_ns(msg.header.stamp), msg.header.frame_id
        images = {'labels': (result.labels, 'mono8'), 'confidence': (result.confidence, '32FC1'),
                  'panoptic': (result.panoptic, '32SC1')}
        for name, (array, encoding) in images.items():
            if array is not None and self.outputs[name].get_subscription_count():
                self.outputs[name].publish(array_to_image(self.types, array, encoding, frame, stamp))
        if self.outputs['overlay'].get_subscription_count():
            overlay = self.segmenter.overlay(image, result.labels)
            self.outputs['overlay'].publish(array_to_image(self.types, overlay, 'rgb8', frame, stamp))
        self.counters['frames'] += 1
        self.counters['key_frames'] += result.key_frame
        self.diagnostics.publish(stamp, result.timing_ms, self.counters)


def main(args=None) -> None:
    spin(CameraSegmentationNode, args)
