"""What a drive recording says about its sensor rig: the static transforms (/tf_static), the camera calibration
(/camera/camera_info) and the camera and LiDAR frame ids."""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perception.core.geometry import CameraIntrinsics
from perception.core.transforms import TransformError, TransformTree
from perception.io import topics as T
from perception.io.bag import BagError, BagReader
from perception.msgs.codec import camera_info_to_intrinsics, transform_stamped_to_matrix


@dataclass
class RigCalibration:
    camera: CameraIntrinsics
    camera_frame: str
    lidar_frame: str
    transforms: TransformTree

    @property
    def camera_T_lidar(self) -> np.ndarray:
        return self.transforms.lookup(self.camera_frame, self.lidar_frame)


def add_tf_message(tree: TransformTree, msg, static: bool) -> None:
    """Add a tf2_msgs/TFMessage's transforms to the tree."""
    for transform in msg.transforms:
        matrix, parent, child, stamp = transform_stamped_to_matrix(transform)
        if static:
            tree.add_static(parent, child, matrix)
        else:
            tree.add(parent, child, stamp, matrix)


def read_calibration(path: Path, camera_info: str = T.CAMERA_INFO, points: str = T.LIDAR_POINTS) -> RigCalibration:
    """The rig of a recording: BagError (one line) when the bag lacks calibration."""
    tree, camera, lidar_frame = TransformTree(), None, None
    with BagReader(path) as bag:
        for topic in (T.TF_STATIC, camera_info, points):
            if topic not in bag.topics:
                raise BagError(f'{path}: no {topic} topic, so no calibration (topics: {", ".join(sorted(bag.topics))})')
        for topic, _, msg in bag.messages([T.TF_STATIC, camera_info, points]):
            if topic == T.TF_STATIC:
                add_tf_message(tree, msg, static=True)
            elif topic == camera_info and camera is None:
                camera = (camera_info_to_intrinsics(msg), msg.header.frame_id)
            elif topic == points and lidar_frame is None:
                lidar_frame = msg.header.frame_id
            if camera and lidar_frame and tree.frames:
                break
    if camera is None or lidar_frame is None:
        raise BagError(f'{path}: no {camera_info if camera is None else points} message')
    calibration = RigCalibration(camera[0], camera[1], lidar_frame, tree)
    try:
        calibration.camera_T_lidar
    except TransformError as error:
        raise BagError(f'{path}: /tf_static does not connect {lidar_frame} to {camera[1]} ({error})') from None
    return calibration
