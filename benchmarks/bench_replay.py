"""Offline replay of the demo drive, sequential against parallel (camera and LiDAR models in a worker process each)
in one run, against issue 14's target of 3 frames/s: frames/s, per-stage p50, the accuracy of both (equal by design) and
whether their output bags hold the same perception outputs. The load average is recorded beside (other work on the
machine slows both alike).

    .venv/bin/python benchmarks/bench_replay.py [--bag rosbags/sim3000] [--frames 100]
"""
import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_live import demo_bag  # noqa: E402
from live_graph import load_average  # noqa: E402
from report import publish  # noqa: E402

from perception.io import topics as T  # noqa: E402
from perception.io.bag import BagReader  # noqa: E402
from perception.replay.replay import Replay  # noqa: E402

STAGES = ('camera.backbone', 'camera.warp', 'camera.semantic_head', 'camera.panoptic_head', 'camera.panoptic_carry',
          'camera.total', 'lidar.inference', 'lidar.total', 'fusion.total')


def outputs(bag: Path) -> list:
    topics = [t for t in T.OUTPUT_TOPICS if t != T.DIAGNOSTICS]
    with BagReader(bag) as reader:
        return [(topic, stamp, bytes(msg.data) if hasattr(msg, 'data') else repr(msg))
                for topic, stamp, msg in reader.messages(topics)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bag', type=Path, help='recording (default: rosbags/sim3000, simulated if absent)')
    parser.add_argument('--frames', type=int, default=100)
    args = parser.parse_args()
    bag = args.bag or demo_bag(Path('rosbags/sim3000').resolve(), args.frames)
    rows, bags = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for parallel in (False, True):
            mode = 'parallel' if parallel else 'sequential'
            load = load_average()
            result = Replay(bag, Path(tmp) / mode, max_frames=args.frames, progress=False, parallel=parallel).run()
            summary, bags[mode] = result.summary, result.output_bag
            latency = summary['latency_ms']
            rows.append({'replay': mode, 'frames/s': summary['throughput_fps'], 'wall s': summary['wall_time_s'],
                         **{f'{stage} p50 ms': latency[stage]['p50'] for stage in STAGES if stage in latency},
                         'scene mIoU': summary['scene']['miou'], 'scene PQ': summary['scene']['panoptic']['all']['pq'],
                         'camera PQ key': summary.get('camera_panoptic', {}).get('key', {}).get('all', {}).get('pq'),
                         'camera PQ propagated': summary.get('camera_panoptic', {}).get('propagated', {})
                         .get('all', {}).get('pq'), 'load before': load, 'load after': load_average()})
        identical = outputs(bags['sequential']) == outputs(bags['parallel'])
    rows[1]['speed-up'] = rows[1]['frames/s'] / rows[0]['frames/s']
    publish('replay', rows, {'bag': str(bag), 'frames': args.frames, 'outputs identical': identical})
    print(f'parallel outputs identical to sequential: {identical}')


if __name__ == '__main__':
    main()
