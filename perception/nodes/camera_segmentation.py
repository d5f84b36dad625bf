"""camera_segmentation: rgb image in; semantic labels (mono8), confidence (32FC1), colour overlay (rgb8) and
panoptic map (32SC1, see core.camera.panoptic) out. Backbone on key frames, flow-warped features in between."""
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.msgs.adapters import CAMERA_OUTPUT_ENCODINGS, camera_input, camera_output_images
from perception.msgs.codec import camera_info_to_intrinsics
from perception.msgs.diagnostics import ERROR, OK, WARN
from perception.msgs.types import rclpy_types, stamp_to_ns
from perception.nodes.common import Diagnostics, spin
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
                        for name in CAMERA_OUTPUT_ENCODINGS}
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
        stamp, frame = stamp_to_ns(msg.header.stamp), msg.header.frame_id
        try:
            image = camera_input(msg)
            result = self.segmenter.process(image, stamp)
        except ValueError as error:
            self.counters['rejected'] += 1
            self.get_logger().error(f'dropped an image ({self.counters["rejected"]} so far): {error}',
                                    throttle_duration_sec=5.0)
            self.diagnostics.publish(stamp, self.counters, level=ERROR, message=f'dropped an image: {error}')
            return
        level, message = OK, 'ok'
        if self.calibrated_size and self.calibrated_size != (image.shape[1], image.shape[0]):
            width, height = self.calibrated_size
            level, message = WARN, f'image is {image.shape[1]}x{image.shape[0]} but camera_info says {width}x{height}'
            self.get_logger().warning(message, throttle_duration_sec=10.0)
        wanted = {name for name, publisher in self.outputs.items() if publisher.get_subscription_count()}
        arrays = {'labels': result.labels, 'confidence': result.confidence, 'panoptic': result.panoptic}
        if 'overlay' in wanted:
            arrays['overlay'] = self.segmenter.overlay(image, result.labels)
        outputs = {name: array for name, array in arrays.items() if name in wanted}
        for name, image_msg in camera_output_images(self.types, outputs, frame, stamp).items():
            self.outputs[name].publish(image_msg)
        self.counters['frames'] += 1
        self.counters['key_frames'] += result.key_frame
        self.diagnostics.publish(stamp, self.counters, result.timing_ms, level, message)


def main(args=None) -> None:
    spin(CameraSegmentationNode, args)
