"""camera_segmentation: rgb image in; semantic labels (mono8), confidence (32FC1), colour overlay (rgb8) and
panoptic map (32SC1, see core.camera.panoptic) out. Backbone on key frames, flow-warped features in between; the
newest image is processed, older waiting ones are dropped and counted. With `sync.follow_lidar` only the frames of
the sweeps the LiDAR node takes are segmented (following.py)."""
import cv2
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.device import use_threads
from perception.msgs.adapters import CAMERA_OUTPUT_ENCODINGS, camera_input, camera_output_images
from perception.msgs.codec import camera_info_to_intrinsics
from perception.msgs.types import stamp_to_ns
from perception.nodes.common import PerceptionNode, spin
from perception.nodes.following import LidarLedFrames
from perception.ros_utils.parameters import declare_from_schema
from perception.ros_utils.qos import OUTPUT_QOS


class CameraSegmentationNode(PerceptionNode):
    def __init__(self, **kwargs):
        super().__init__('camera_segmentation', **kwargs)
        parameters = declare_from_schema(self, 'camera_segmentation')
        self.threads = parameters['model.threads']
        self.segmenter = CameraSegmenter(CameraSegmenterConfig.from_parameters(parameters))
        self.start_health(parameters, inputs=('image', 'camera_info'))
        self.counters = {'key_frames': 0, 'panoptic_carried': 0}
        self.calibrated_size = None
        self.outputs = {name: self.create_publisher(Image, f'~/output/{name}', OUTPUT_QOS)
                        for name in CAMERA_OUTPUT_ENCODINGS}
        self.image_worker = self.worker('image', self.on_image, self.use_threads)
        self.following = None
        if parameters['sync.follow_lidar']:
            self.following = LidarLedFrames(round(parameters['sync.slop_s'] * 1e9),
                                            round(parameters['sync.follow_timeout_s'] * 1e9))
            self.counters['frames_skipped_following_lidar'] = 0
            self.create_subscription(Header, '~/input/lidar_accepted', self.on_lidar_accepted, self.input_qos)
        self.create_subscription(Image, '~/input/image', self.on_image_message, self.sensor_qos)
        self.create_subscription(CameraInfo, '~/input/camera_info', self.guard('camera_info', self.on_camera_info),
                                 self.sensor_qos)
        self.get_logger().info(f'camera segmentation on {self.segmenter.device} ({self.threads} threads), panoptic '
                               f'{"on" if self.segmenter.config.panoptic else "off"}')

    def use_threads(self) -> None:
        use_threads(self.threads)
        cv2.setNumThreads(self.threads)

    def on_image_message(self, msg: Image) -> None:
        now = self.now_ns()
        if self.following is None or self.following.frame(stamp_to_ns(msg.header.stamp), msg, now) is not None:
            self.image_worker.submit(msg)  # first: once counted as received, a frame is pending or being processed
        else:
            self.counters['frames_skipped_following_lidar'] = self.following.skipped
        self.health.received('image', now)

    def on_lidar_accepted(self, header: Header) -> None:
        msg = self.following.accepted(stamp_to_ns(header.stamp), self.now_ns())
        self.counters['frames_skipped_following_lidar'] = self.following.skipped
        if msg is not None:
            self.image_worker.submit(msg)

    def on_camera_info(self, msg: CameraInfo) -> None:
        camera = camera_info_to_intrinsics(msg)
        self.calibrated_size = (camera.width, camera.height)

    def on_image(self, msg: Image) -> None:
        started, stamp, frame = self.now_ns(), stamp_to_ns(msg.header.stamp), msg.header.frame_id
        image = camera_input(msg)
        result = self.segmenter.process(image, stamp)
        if self.calibrated_size and self.calibrated_size != (image.shape[1], image.shape[0]):
            width, height = self.calibrated_size
            self.health.warn(f'image is {image.shape[1]}x{image.shape[0]} but camera_info says {width}x{height}')
        wanted = {name for name, publisher in self.outputs.items() if publisher.get_subscription_count()}
        arrays = {'labels': result.labels, 'confidence': result.confidence, 'panoptic': result.panoptic}
        if 'overlay' in wanted:
            arrays['overlay'] = self.segmenter.overlay(image, result.labels)
        outputs = {name: array for name, array in arrays.items() if name in wanted}
        for name, image_msg in camera_output_images(self.types, outputs, frame, stamp).items():
            self.outputs[name].publish(image_msg)
        self.counters['key_frames'] += result.key_frame
        self.counters['panoptic_carried'] += result.panoptic_carried
        self.published(stamp, started, result.timing_ms)


def main(args=None) -> int:
    return spin(CameraSegmentationNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
