"""perception-batch: evaluate many recordings, one perception-replay per recording, pooled into one report.

    perception-batch rosbags/ --out outputs/batch                  # embedded Ray, one task per core
    perception-batch rosbags/sim3000 rosbags/sim3001 --out DIR --workers 2
    perception-batch rosbags/ --out DIR --address 127.0.0.1:6379   # join a running Ray cluster
    perception-batch rosbags/ --out DIR --local                    # no Ray: one recording after another here

Writes DIR/<recording>/ (report.md, result.json, the evaluator's counts; the output bag with --keep-bags) and
DIR/batch.md + DIR/batch.json: a row per recording and the pooled metrics (from the summed confusion matrices). A
re-run skips recordings already done; a recording that fails is reported and the others go on. With --address,
DIR must be storage that every node of the cluster sees.
"""
import argparse
import sys
from pathlib import Path

from perception.batch.recording import ReplayOptions
from perception.batch.runner import find_recordings, markdown_table, run_batch


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='perception-batch', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('recordings', type=Path, nargs='+', help='bags, or folders of bags')
    parser.add_argument('--out', type=Path, required=True, help='results folder (re-runs skip what is done there)')
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument('--workers', type=int, help='CPUs of the embedded Ray instance (default: all cores)')
    engine.add_argument('--address', help='a running Ray cluster to join (host:port)')
    engine.add_argument('--local', action='store_true', help='no Ray: one recording after another in this process')
    parser.add_argument('--params', type=Path, help='node parameters (default: config/perception.yaml)')
    parser.add_argument('--backend', choices=('sparse', 'pointnet2'), help='override the LiDAR backend')
    parser.add_argument('--max-frames', type=int, help='stop each recording after this many sweeps')
    parser.add_argument('--keep-bags', action='store_true', help="keep each recording's output bag")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error('--workers must be at least 1')
    try:
        recordings = find_recordings(args.recordings)
        if not recordings:
            raise FileNotFoundError(f'no recordings in {", ".join(map(str, args.recordings))}')
        options = ReplayOptions(args.params, args.backend, args.max_frames, args.keep_bags)
        batch = run_batch(recordings, args.out, options, 'local' if args.local else 'ray', args.address,
                          args.workers)
    except (FileNotFoundError, ValueError, ImportError, ConnectionError) as error:
        print(f'perception-batch: {error}', file=sys.stderr)
        return 1
    print(markdown_table(batch))
    failed = [row['recording'] for row in batch.rows if row['status'] != 'done']
    print(f'\n{len(batch.rows) - len(failed)} of {len(batch.rows)} recordings done in {batch.wall_s} s'
          + (f'; failed: {", ".join(failed)}' if failed else '') + f'\nreport: {args.out / "batch.md"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
