"""perception-replay: run a recorded drive through the whole pipeline offline (stamp order, no DDS), write an
output bag with every perception topic, and evaluate against the ground truth when the recording has it.

    perception-replay rosbags/sim3000 --out outputs/sim3000
"""
import argparse
import sys
from pathlib import Path

from perception.eval.report import write_report
from perception.io.bag import BagError
from perception.replay.replay import Replay, ReplayResult


def summary_table(summary: dict) -> str:
    """A short metric table for the terminal."""
    rows = []
    camera, panoptic = summary.get('camera', {}), summary.get('camera_panoptic', {})
    for kind in ('key', 'propagated'):
        if kind in camera:
            rows.append((f'camera, {kind} frames', camera[kind]['miou'], panoptic.get(kind, {}).get('all', {})
                         .get('pq')))
    for name, key in (('LiDAR', 'lidar'), ('fused scene', 'scene')):
        if key in summary:
            rows.append((name, summary[key]['miou'], summary[key]['panoptic']['all']['pq']))
    lines = [f'{"":24s} {"mIoU":>6s} {"PQ":>6s}']
    lines += [f'{name:24s} {miou if miou is not None else "-":>6} {pq if pq is not None else "-":>6}'
              for name, miou, pq in rows]
    latency = summary['latency_ms']
    totals = [f'{stage} p50 {latency[stage]["p50"]} ms' for stage in ('camera.total', 'lidar.total', 'fusion.total')
              if stage in latency]
    lines.append(f'latency: {", ".join(totals)}; throughput {summary.get("throughput_fps")} frames/s')
    return '\n'.join(lines)


def replay_and_report(bag: Path, out: Path, params: Path | None = None, backend: str | None = None,
                      max_frames: int | None = None, progress: bool = True) -> tuple[ReplayResult, Path]:
    replay = Replay(bag, out, params, backend, max_frames, progress=progress)
    result = replay.run()
    report = write_report(out, result.summary, result.latency_ms, result.samples, replay.fusion.taxonomy, str(bag),
                          str(result.output_bag))
    return result, report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='perception-replay', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('bag', type=Path, help='rosbag2 recording (directory or .mcap / .db3)')
    parser.add_argument('--out', type=Path, required=True, help='folder for the output bag and the report')
    parser.add_argument('--params', type=Path, help='node parameters (default: config/perception.yaml)')
    parser.add_argument('--backend', choices=('sparse', 'pointnet2'), help='override the LiDAR backend')
    parser.add_argument('--max-frames', type=int, help='stop after this many sweeps')
    args = parser.parse_args(argv)
    if (args.out / 'replay').exists():
        print(f'perception-replay: {args.out / "replay"} already exists; choose another --out', file=sys.stderr)
        return 1
    try:
        result, report = replay_and_report(args.bag, args.out, args.params, args.backend, args.max_frames)
    except (BagError, FileNotFoundError, ValueError, KeyError) as error:
        print(f'perception-replay: {error}', file=sys.stderr)
        return 1
    print(summary_table(result.summary))
    print(f'report: {report}\noutput bag: {result.output_bag}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
