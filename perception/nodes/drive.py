"""perception-drive: the whole node graph in one process (one executor), for machines without `ros2 launch`.

    perception-drive [--params config/perception.yaml] [--use-sim-time] [--calibration-bag rosbags/sim3000]

It composes camera_segmentation, lidar_segmentation and fusion with the remappings of launch/drive.launch.py.
Where tf2_ros is missing (ROS 2 from PyPI), give --calibration-bag: the LiDAR->camera transform is read from the
bag's /tf_static. Discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is set otherwise.
"""
import argparse
import sys
from pathlib import Path

from perception.core.geometry import transform_to_quaternion
from perception.io import topics as T
from perception.io.bag import BagError
from perception.io.drive import read_calibration
from perception.nodes.graph import NODES, remappings
from perception.paths import config_path
from perception.ros_environment import apply_local_defaults


def node_arguments(node: str, params: Path, remap: list[tuple[str, str]], use_sim_time: bool,
                   overrides: dict[str, str]) -> list[str]:
    """The --ros-args a node gets: parameter file, remappings, use_sim_time and overrides."""
    args = ['--ros-args', '--params-file', str(params), '-p', f'use_sim_time:={str(use_sim_time).lower()}']
    for name, topic in remap:
        args += ['-r', f'{name}:={topic}']
    for name, value in overrides.items():
        args += ['-p', f'{name}:={value}']
    return args


def calibration_override(bag: Path) -> dict[str, str]:
    """fusion parameters that carry the bag's LiDAR->camera transform."""
    translation, quaternion = transform_to_quaternion(read_calibration(bag).camera_T_lidar)
    text = ' '.join(f'{v:.9g}' for v in (*translation, *quaternion))
    return {'calibration.source': 'parameter', 'calibration.lidar_to_camera': f'"{text}"'}


def build_nodes(params: Path, use_sim_time: bool = False, calibration_bag: Path | None = None,
                camera_image: str = T.CAMERA_IMAGE, camera_info: str = T.CAMERA_INFO,
                points: str = T.LIDAR_POINTS, context=None) -> list:
    """The three nodes, configured as drive.launch.py configures them (rclpy must be initialised)."""
    from perception.nodes.camera_segmentation import CameraSegmentationNode
    from perception.nodes.fusion import FusionNode
    from perception.nodes.lidar_segmentation import LidarSegmentationNode
    classes = {'camera_segmentation': CameraSegmentationNode, 'lidar_segmentation': LidarSegmentationNode,
               'fusion': FusionNode}
    remap = remappings(camera_image, camera_info, points)
    overrides = {'fusion': calibration_override(calibration_bag) if calibration_bag else {}}
    return [classes[name](cli_args=node_arguments(name, params, remap[name], use_sim_time, overrides.get(name, {})),
                          context=context)
            for name in NODES]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-drive', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--params', type=Path, default=None, help='parameter file (default: config/perception.yaml)')
    parser.add_argument('--use-sim-time', action='store_true', help='follow /clock (e.g. from perception-play)')
    parser.add_argument('--calibration-bag', type=Path, help='read the LiDAR->camera transform from this bag')
    parser.add_argument('--camera-image', default=T.CAMERA_IMAGE)
    parser.add_argument('--camera-info', default=T.CAMERA_INFO)
    parser.add_argument('--points', default=T.LIDAR_POINTS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_local_defaults()
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    rclpy.init()
    nodes = []
    try:
        nodes = build_nodes(args.params or config_path('perception.yaml'), args.use_sim_time, args.calibration_bag,
                            args.camera_image, args.camera_info, args.points)
        executor = MultiThreadedExecutor(num_threads=len(nodes))  # models release the GIL: nodes overlap
        for node in nodes:
            executor.add_node(node)
        nodes[0].get_logger().info('perception graph running: ' + ', '.join(n.get_name() for n in nodes))
        executor.spin()
    except (BagError, ValueError, FileNotFoundError) as error:
        print(f'perception-drive: {error}', file=sys.stderr)
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
