"""Write simulated drives: a rosbag2 recording (sensor + ground-truth topics, see rosbags/README.md) and the
Cityscapes / SemanticKITTI training layouts."""
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from perception.core.clouds import GROUND_TRUTH_POINT, pack_point_labels
from perception.core.geometry import invert_transform
from perception.io import semantickitti as kitti
from perception.io import topics as T
from perception.io.bag import BagWriter
from perception.io.cityscapes import frame_paths, write_frame as write_cityscapes_frame
from perception.msgs.codec import (array_to_image, array_to_pointcloud2, intrinsics_to_camera_info,
                                   matrix_to_transform_stamped)
from perception.msgs.types import rosbags_types
from perception.sim.simulator import DriveSimulator, SimFrame


def ground_truth_points(frame: SimFrame) -> np.ndarray:
    """The sweep with the packed `label` field (GROUND_TRUTH_POINT): taxonomy id and instance id."""
    points = np.zeros(len(frame.points), GROUND_TRUTH_POINT)
    for name in frame.points.dtype.names:
        points[name] = frame.points[name]
    points['label'] = pack_point_labels(frame.point_semantic, frame.point_instance)
    return points


class BagRecorder:
    """Streams frames of one drive into a new bag."""

    def __init__(self, sim: DriveSimulator, path: Path, storage: str = 'mcap'):
        self.sim, self.types = sim, rosbags_types()
        self.bag = BagWriter(path, storage)
        self.store = self.bag.typestore.types

    def __enter__(self):
        self.bag.__enter__()
        for topic, msgtype in {**T.SENSOR_TOPICS, **T.GROUND_TRUTH_TOPICS}.items():
            self.bag.add_topic(topic, msgtype)
        rig, t0 = self.sim.rig, self.sim.rig.start_ns
        base = rig.frames['base']
        static = [matrix_to_transform_stamped(self.types, rig.base_T_lidar, base, rig.frames['lidar'], t0),
                  matrix_to_transform_stamped(self.types, rig.base_T_camera, base, rig.frames['camera'], t0)]
        self.bag.write(T.TF_STATIC, t0, self._tf(static))
        return self

    def __exit__(self, *exc_info):
        self.bag.__exit__(*exc_info)

    def _tf(self, transforms):
        return self.store[T.TF_MESSAGE](transforms=transforms)

    def write(self, frame: SimFrame) -> None:
        rig, types, stamp, write = self.sim.rig, self.types, frame.stamp_ns, self.bag.write
        camera, lidar = rig.frames['camera'], rig.frames['lidar']
        write(T.CLOCK, stamp, self.store[T.CLOCK_TYPE](clock=types.Time(sec=stamp // 10**9, nanosec=stamp % 10**9)))
        write(T.TF, stamp, self._tf([matrix_to_transform_stamped(types, frame.odom_T_base, rig.frames['odom'],
                                                                 rig.frames['base'], stamp)]))
        write(T.CAMERA_INFO, stamp, intrinsics_to_camera_info(types, rig.camera, camera, stamp))
        write(T.CAMERA_IMAGE, stamp, array_to_image(types, frame.image, 'rgb8', camera, stamp))
        write(T.LIDAR_POINTS, stamp, array_to_pointcloud2(types, frame.points, lidar, stamp))
        write(T.GT_CAMERA_SEMANTIC, stamp, array_to_image(types, frame.semantic, 'mono8', camera, stamp))
        write(T.GT_CAMERA_INSTANCE, stamp, array_to_image(types, frame.instance, 'mono16', camera, stamp))
        write(T.GT_CAMERA_DEPTH, stamp, array_to_image(types, frame.depth, '32FC1', camera, stamp))
        write(T.GT_LIDAR_POINTS, stamp, array_to_pointcloud2(types, ground_truth_points(frame), lidar, stamp))


def write_kitti_calibration(root: Path, sim: DriveSimulator, odom_T_base: np.ndarray) -> None:
    """calib.txt (P0-P3 = our one camera, Tr = lidar -> camera) and poses.txt (camera poses in the first camera
    frame), as the KITTI odometry benchmark defines them."""
    rig = sim.rig
    projection = np.hstack([rig.camera.K, np.zeros((3, 1))])
    camera_T_lidar = invert_transform(rig.base_T_camera) @ rig.base_T_lidar
    kitti.write_calib(root, sim.seed, {**{f'P{i}': projection for i in range(4)}, 'Tr': camera_T_lidar})
    odom_T_camera = odom_T_base @ rig.base_T_camera
    kitti.write_poses(root, sim.seed, invert_transform(odom_T_camera[0]) @ odom_T_camera)


def record_drive(sim: DriveSimulator, bag: Path | None = None, cityscapes: Path | None = None,
                 semantickitti: Path | None = None, storage: str = 'mcap', progress: bool = True,
                 stride: int = 1) -> None:
    """Run the drive once and write every `stride`-th frame to every requested output, plus a small provenance
    file (seed, split, frames, camera size, LiDAR model, randomisation) next to each."""
    split = sim.rig.splits.split_of(sim.seed) or 'other'
    odom_T_base = []
    with ExitStack() as outputs:
        recorder = outputs.enter_context(BagRecorder(sim, bag, storage)) if bag else None
        indices = range(0, sim.frames, stride)
        for index in tqdm(indices, desc=f'seed {sim.seed}', unit='frame', disable=not progress):
            frame = sim.frame(index)
            if recorder:
                recorder.write(frame)
            if cityscapes:
                write_cityscapes_frame(frame_paths(cityscapes, split, f'sim{sim.seed}', sim.seed, frame.index),
                                       frame.image, frame.semantic, frame.instance)
            if semantickitti:
                points = np.stack([frame.points[name] for name in ('x', 'y', 'z', 'intensity')], 1)
                kitti.write_frame(semantickitti, sim.seed, frame.index, points, frame.point_semantic,
                                  frame.point_instance)
            odom_T_base.append(frame.odom_T_base)
    if semantickitti:
        write_kitti_calibration(semantickitti, sim, np.array(odom_T_base))
    provenance = {'seed': sim.seed, 'split': split, 'frames': sim.frames, 'stride': stride,
                  'camera': [sim.rig.camera.width, sim.rig.camera.height], 'lidar': sim.rig.lidar.name,
                  'randomise': sim.rig.randomise}
    for path in ([Path(bag) / 'simulation.yaml'] if bag else []) + [
            Path(root) / 'meta' / f'sim{sim.seed}.yaml' for root in (cityscapes, semantickitti) if root]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(provenance))
