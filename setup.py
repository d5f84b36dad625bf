"""ament_python package: builds with colcon on a ROS 2 distribution and installs with pip."""
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'perception'
SHARE = f'share/{PACKAGE}'


def requirements(name: str) -> list[str]:
    """The requirement lines of a requirements file beside this one (comments and blank lines left out)."""
    with open(Path(__file__).resolve().parent / name) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['tests', 'tests.*']),
    package_data={PACKAGE: ['weights/*.pt', 'weights/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (SHARE, ['package.xml']),
        (f'{SHARE}/launch', glob('launch/*.launch.py')),
        (f'{SHARE}/config', glob('config/*.yaml') + glob('config/*.rviz') + glob('config/*.xml')),
        (f'{SHARE}/config/schema', glob('config/schema/*.json')),
    ],
    install_requires=['setuptools'],
    extras_require={'ray': requirements('requirements-ray.txt'), 'export': requirements('requirements-export.txt')},
    zip_safe=False,
    python_requires='>=3.10',
    maintainer='perception maintainers',
    description='Camera/LiDAR segmentation, fusion into a labeled 3D scene, rosbag replay and evaluation.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'perception-sim = perception.sim.cli:main',
            'perception-train = perception.train.cli:main',
            'perception-drive = perception.nodes.drive:main',
            'perception-replay = perception.replay.cli:main',
            'perception-play = perception.replay.play:main',
            'perception-demo = perception.replay.demo:main',
            'perception-eval = perception.eval.cli:main',
            'perception-batch = perception.batch.cli:main',
            'perception-export = perception.export.cli:main',
            'camera_segmentation = perception.nodes.camera_segmentation:main',
            'lidar_segmentation = perception.nodes.lidar_segmentation:main',
            'fusion = perception.nodes.fusion:main',
        ],
    },
)
