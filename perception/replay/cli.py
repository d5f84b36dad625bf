"""perception-replay: run a recorded drive through the whole pipeline offline (stamp order, no DDS), write an
output bag with every perception topic, and evaluate against the ground truth when the recording has it.

    perception-replay rosbags/sim3000 --out outputs/sim3000 [--overwrite] [--skip-corrupt]

Exit status: 0 done; 1 an error (one line on stderr: bad bag or parameters, an --out that cannot be written, damaged
data without --skip-corrupt: the outputs written so far are kept, marked partial); 2 bad arguments; 130 interrupted
(Ctrl-C): the output bag is closed and the report written, both marked partial.
"""
import argparse
import shutil
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


EXIT_ERROR, EXIT_INTERRUPTED = 1, 130
# What a run writes into --out (eval/report.py names the figures), removed by --overwrite.
RUN_OUTPUTS = ('replay', 'report.md', 'report.json', 'per_class_iou.png', 'latency.png', 'camera_*.png',
               'scene_bev_*.png')


def prepare_output(out: Path, overwrite: bool) -> None:
    """Create the --out folder; with `overwrite`, first remove a previous run's outputs from it. ValueError (one
    line) for an --out that is a file, cannot be created or written, or holds a run and overwrite is not given."""
    if out.exists() and not out.is_dir():
        raise ValueError(f'--out {out} is a file, not a folder')
    if (out / 'replay').exists():
        if not overwrite:
            raise ValueError(f'{out / "replay"} already exists (an earlier run); choose another --out or pass '
                             '--overwrite to replace that run')
        for pattern in RUN_OUTPUTS:
            for path in out.glob(pattern):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / '.perception-replay-write-test'
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ValueError(f'--out {out} cannot be written ({error.strerror or error})') from None


def replay_and_report(bag: Path, out: Path, params: Path | None = None, backend: str | None = None,
                      max_frames: int | None = None, progress: bool = True, skip_corrupt: bool = False
                      ) -> tuple[ReplayResult, Path]:
    """Replay and write the report, also for a run that ended early (ReplayResult.stopped; marked partial)."""
    replay = Replay(bag, out, params, backend, max_frames, progress=progress, skip_corrupt=skip_corrupt)
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
    parser.add_argument('--overwrite', action='store_true', help="replace an earlier run's outputs in --out")
    parser.add_argument('--skip-corrupt', action='store_true',
                        help='read past damaged data in the bag, counting the messages skipped (default: stop)')
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 1:
        parser.error('--max-frames must be at least 1')
    try:
        prepare_output(args.out, args.overwrite)
        result, report = replay_and_report(args.bag, args.out, args.params, args.backend, args.max_frames,
                                           skip_corrupt=args.skip_corrupt)
    except KeyboardInterrupt:
        print('perception-replay: interrupted before the replay started; nothing written', file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BagError, OSError, ValueError) as error:
        print(f'perception-replay: {" ".join(str(error).split())}', file=sys.stderr)
        return EXIT_ERROR
    print(summary_table(result.summary))
    print(f'report: {report}\noutput bag: {result.output_bag}')
    if 'damaged' in result.summary:
        skipped = result.summary['damaged']['skipped_messages']
        print(f'skipped {sum(skipped.values())} damaged messages '
              f'({", ".join(f"{topic}: {n}" for topic, n in skipped.items())})')
    if result.stopped is not None:
        hint = '; --skip-corrupt reads past damaged data' if isinstance(result.stopped, BagError) else ''
        print(f'perception-replay: partial run, {result.summary["partial"]}{hint}', file=sys.stderr)
        return EXIT_INTERRUPTED if isinstance(result.stopped, KeyboardInterrupt) else EXIT_ERROR
    return 0


if __name__ == '__main__':
    sys.exit(main())
