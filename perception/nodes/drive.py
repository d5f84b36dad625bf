"""perception-drive: the whole node graph for machines without `ros2 launch`, one process per node as launch runs
it, so the camera and LiDAR models run in parallel on their own cores (and each its own GIL).

    perception-drive [--params config/perception.yaml] [--use-sim-time] [--calibration-bag rosbags/sim3000]

It starts camera_segmentation, lidar_segmentation and fusion with the remappings of launch/drive.launch.py and
supervises them: Ctrl-C (or SIGTERM) stops all three; if one exits, the others are stopped and perception-drive
exits 1. Where tf2_ros is missing (ROS 2 from PyPI), give --calibration-bag: the LiDAR->camera transform is read
from the bag's /tf_static. Discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE is set otherwise.
"""
import argparse
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from perception.core.geometry import transform_to_quaternion
from perception.core.parameters import load_parameters, validate
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
    """The three nodes in this process, configured as drive.launch.py configures them (rclpy must be initialised);
    for tests that share one executor."""
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


def node_command(node: str, arguments: list[str]) -> list[str]:
    """The command line of one node's process."""
    return [sys.executable, '-m', f'perception.nodes.{node}', *arguments]


def _die_with_parent() -> None:
    """In a child: receive SIGTERM when perception-drive dies, however it dies (Linux)."""
    import ctypes
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def run_graph(commands: dict[str, list[str]], stop: threading.Event, grace_s: float = 15.0) -> int:
    """Run one process per node until `stop` is set (0) or one of them exits (1), then stop the others: SIGINT,
    SIGKILL after `grace_s`. Each child is its own process group, so a terminal's Ctrl-C reaches it only once."""
    preexec = _die_with_parent if sys.platform.startswith('linux') else None
    processes = {name: subprocess.Popen(command, start_new_session=True, preexec_fn=preexec)
                 for name, command in commands.items()}
    status = 0
    try:
        while not stop.wait(0.2):
            exited = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
            if exited:
                print('perception-drive: ' + ', '.join(f'{name} exited with status {code}'
                                                       for name, code in exited.items()) + '; stopping the graph',
                      file=sys.stderr)
                status = 1
                break
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace_s
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return status


def main(argv=None) -> int:
    args = parse_args(argv)
    apply_local_defaults()
    params = args.params or config_path('perception.yaml')
    try:
        for node in NODES:  # a missing, non-YAML or wrong file: one line here, not a traceback from each node
            validate(node, load_parameters(node, params))
        overrides = {'fusion': calibration_override(args.calibration_bag)} if args.calibration_bag else {}
    except (BagError, ValueError, FileNotFoundError) as error:
        print(f'perception-drive: {error}', file=sys.stderr)
        return 1
    remap = remappings(args.camera_image, args.camera_info, args.points)
    commands = {name: node_command(name, node_arguments(name, params, remap[name], args.use_sim_time,
                                                        overrides.get(name, {})))
                for name in NODES}
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return run_graph(commands, stop)


if __name__ == '__main__':
    sys.exit(main())
