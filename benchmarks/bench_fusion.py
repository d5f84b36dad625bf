"""Fusion on a held-out simulated drive, offline (perception-replay's pipeline, no transport): fused point mIoU vs
LiDAR-only vs camera-only on the points the camera sees, the 3D scene's mIoU and PQ, and the replay's frames/s.
The live graph over DDS is benchmarks/bench_live.py.

    .venv/bin/python benchmarks/bench_fusion.py [--seed 3002] [--frames 100]
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.replay.replay import Replay  # noqa: E402
from perception.sim.record import record_drive  # noqa: E402
from perception.sim.simulator import DriveSimulator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def held_out_bag(seed: int, frames: int) -> Path:
    bag = ROOT / 'rosbags' / f'sim{seed}'
    if not bag.exists():
        record_drive(DriveSimulator(seed, frames), bag=bag)
    return bag


def offline(bag: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Replay(bag, Path(tmp)).run().summary
    visible = summary['scene']['camera_visible_points']
    return {'fused mIoU (seen points)': visible['fused']['miou'],
            'LiDAR-only mIoU (seen points)': visible['lidar_only']['miou'],
            'camera-only mIoU (seen points)': visible['camera_only']['miou'],
            'scene mIoU (all points)': summary['scene']['miou'], 'scene PQ': summary['scene']['panoptic']['all']['pq'],
            'LiDAR mIoU (all points)': summary['lidar']['miou'], 'replay frames/s': summary['throughput_fps']}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=3002)
    parser.add_argument('--frames', type=int, default=100)
    args = parser.parse_args()
    publish('fusion_offline', [offline(held_out_bag(args.seed, args.frames))])


if __name__ == '__main__':
    main()
