"""Soak: many frames through the live graph (perception-drive, real DDS) with malformed messages mixed in, against
the robustness targets of issue 15: no process exits, every valid sweep yields a scene, RSS stable within 10% after
warm-up. A seeded draw replaces a fraction of the frames' image, sweep or camera_info with a malformed one of a
cause picked in turn (MALFORMED); the rest are the recording's frames, looped, stamped with the wall clock.

Reports scenes received against sweeps sent (valid ones, and how many the LiDAR node skipped for newer ones at
this rate), what each node counted per cause on /diagnostics, the node processes' RSS over time and the latency
trend per block of frames, and the load average.

    .venv/bin/python benchmarks/bench_soak.py [--frames 600] [--rate 2] [--malformed 0.05] [--seed 0] [--bag B]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_live import demo_bag  # noqa: E402
from live_graph import LiveGraph, load_average, looped, recorded_frames  # noqa: E402
from report import OUT, publish  # noqa: E402

from perception.io import topics as T  # noqa: E402
from perception.msgs.codec import array_to_pointcloud2  # noqa: E402
from perception.msgs.types import rclpy_types  # noqa: E402

WARMUP = 3
NODES = ('camera_segmentation', 'lidar_segmentation', 'fusion')
RSS_EVERY = 25  # frames


def _copy(msg):
    return type(msg)(**{name: getattr(msg, name) for name in msg.get_fields_and_field_types()})


def image_bad_step(msg):
    broken = _copy(msg)
    broken.height += 1  # data no longer height * step
    return broken


def image_bad_encoding(msg):
    broken = _copy(msg)
    broken.encoding = '16UC1'
    broken.step = broken.width * 2
    return broken


def image_tiny(msg):
    import array
    return type(msg)(header=msg.header, height=4, width=4, encoding='rgb8', step=12, data=array.array('B', [7] * 48))


def cloud_without_xyz(msg):
    broken = _copy(msg)
    broken.fields = [f for f in msg.fields if f.name not in ('x', 'y', 'z')]
    return broken


def cloud_truncated(msg):
    broken = _copy(msg)
    broken.data = msg.data[:len(msg.data) // 2]
    return broken


def cloud_all_nan(msg):
    cloud = np.zeros(1000, [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4')])
    cloud['x'] = np.nan
    return array_to_pointcloud2(rclpy_types(), cloud, msg.header.frame_id, 0)


def camera_info_nan(msg):
    broken = _copy(msg)
    broken.k = [float('nan')] * 9
    return broken


# cause -> (topic it replaces, corruption, whether the sweep of that frame is still a valid one)
MALFORMED = {'image with wrong step': (T.CAMERA_IMAGE, image_bad_step, True),
             'image 16UC1': (T.CAMERA_IMAGE, image_bad_encoding, True),
             'image 4x4': (T.CAMERA_IMAGE, image_tiny, True),
             'cloud without x y z': (T.LIDAR_POINTS, cloud_without_xyz, False),
             'cloud truncated': (T.LIDAR_POINTS, cloud_truncated, False),
             'cloud all NaN': (T.LIDAR_POINTS, cloud_all_nan, True),
             'camera_info NaN K': (T.CAMERA_INFO, camera_info_nan, True)}


def mixed_frames(frames: list, fraction: float, seed: int, plan: list):
    """The frames, looped, with a `fraction` of them corrupted; appends (cause or None, valid sweep) to `plan` per
    frame."""
    rng = np.random.default_rng(seed)
    causes = list(MALFORMED)
    for frame in looped(frames):
        if rng.random() < fraction:
            cause = causes[sum(c is not None for c, _ in plan) % len(causes)]
            topic, corrupt, valid_sweep = MALFORMED[cause]
            frame = [(t, corrupt(msg) if t == topic else msg) for t, msg in frame]
            plan.append((cause, valid_sweep))
        else:
            plan.append((None, True))
        yield frame


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bag', type=Path, help='recording to loop (default: the demo drive)')
    parser.add_argument('--frames', type=int, default=600)
    parser.add_argument('--rate', type=float, default=2.0)
    parser.add_argument('--malformed', type=float, default=0.05, help='fraction of frames with a malformed message')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    bag = demo_bag(args.bag, 300)
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    plan, rss = [], []
    recording = recorded_frames(bag, args.frames)
    with LiveGraph(bag, log=OUT / 'soak.log') as graph:
        graph.wait_ready()
        for frame in recording[:WARMUP]:
            graph.drain([graph.send(frame)], quiet_s=60, timeout_s=120)
        baseline = {node: graph.last_values(node) for node in NODES}  # counts of the warm-up, subtracted below
        frames = mixed_frames(recording, args.malformed, args.seed, plan)

        def sample(index):
            if index % RSS_EVERY == 0 or index == args.frames - 1:
                rss.append({'frame': index, **{name: round(mb) for name, mb in graph.rss_mb().items()}})
        stamps = graph.play(frames, args.frames, args.rate, sample)
        graph.drain(stamps)
        alive = graph.runner.poll() is None
        latency = graph.latencies_ms(stamps)
        values = {node: {key: int(value) - int(baseline[node].get(key, 0)) for key, value in
                         graph.last_values(node).items() if not key.endswith('_ms')} for node in NODES}
        levels = {node: graph.levels(node) for node in values}
    plan = plan[:args.frames]
    valid = [s for s, (_, ok) in zip(stamps, plan) if ok]
    lidar = values['lidar_segmentation']
    scenes = int(np.isfinite(latency).sum())
    summary = {'frames sent': args.frames, 'Hz': args.rate, 'malformed frames': sum(c is not None for c, _ in plan),
               'valid sweeps sent': len(valid), 'LiDAR processed': lidar.get('processed'),
               'LiDAR rejected': lidar.get('rejected'), 'LiDAR dropped (newer sweep came)': lidar.get('dropped'),
               'scenes received': scenes, 'valid sweeps without a scene': sum(s not in graph.received for s in valid),
               'fusion scenes': values['fusion'].get('scenes'), 'LiDAR-only scenes': values['fusion'].get('lidar_only'),
               'graph alive at the end': alive, 'load before': load_before, 'load after': load_average()}
    sent_by_cause = {cause: sum(c == cause for c, _ in plan) for cause in MALFORMED}
    counted = {f'{node}: {key}': value for node, v in values.items() for key, value in v.items()
               if key.startswith('rejected') or key in ('dropped', 'dropped_nonfinite_points', 'lidar_only')}
    blocks = max(1, args.frames // 100)
    trend = [{'frames': f'{i * len(latency) // blocks}-{(i + 1) * len(latency) // blocks - 1}',
              'scenes': int(np.isfinite(part).sum()),
              'latency p50 ms': float(np.nanmedian(part)) if np.isfinite(part).any() else None,
              'latency p95 ms': float(np.nanpercentile(part, 95)) if np.isfinite(part).any() else None}
             for i, part in enumerate(np.array_split(latency, blocks))]
    warm_rss = next((r for r in rss if r['frame'] >= 100), rss[0])
    nodes = [k for k in rss[-1] if k != 'frame']
    rss_change = {node: round(100 * (max(r.get(node, 0) for r in rss if r['frame'] >= warm_rss['frame'])
                                     / warm_rss[node] - 1), 1) for node in nodes if warm_rss.get(node)}
    print('\nsent malformed, by cause:', sent_by_cause)
    print('counted on /diagnostics:', counted)
    print('levels per node (periods):', levels)
    print('\nlatency trend:')
    publish('soak_trend', trend)
    print('\nRSS MB over time:')
    publish('soak_rss', rss)
    print(f'\nRSS growth after frame {warm_rss["frame"]} (max vs then, %): {rss_change}\n')
    publish('soak', [summary], {'sent_by_cause': sent_by_cause, 'counted': counted, 'levels': levels,
                                'trend': trend, 'rss': rss, 'rss_growth_percent': rss_change, 'bag': str(bag),
                                'malformed_fraction': args.malformed, 'seed': args.seed})


if __name__ == '__main__':
    main()
