"""make demo: the main job on the built-in default input. Simulates the default drive (an eval seed no model
was trained on) into rosbags/ if it is not there yet, replays it through the whole pipeline, and prints the metric
table and the paths of the report and the output bag."""
import argparse
import sys
import time
from pathlib import Path

from perception.io.bag import BagError
from perception.replay.cli import replay_and_report, summary_table
from perception.sim.record import record_drive
from perception.sim.simulator import DriveSimulator, SensorRig


def main(argv=None) -> int:
    rig = SensorRig.from_config()
    parser = argparse.ArgumentParser(prog='perception-demo', description=__doc__)
    parser.add_argument('--seed', type=int, default=rig.splits.demo)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--out', type=Path, default=Path('outputs/demo'))
    args = parser.parse_args(argv)
    started = time.time()
    bag = Path('rosbags') / f'sim{args.seed}'
    try:
        if not bag.exists():
            print(f'simulating the default drive (seed {args.seed}, {args.frames} frames) into {bag}')
            record_drive(DriveSimulator(args.seed, args.frames, rig), bag=bag)
        out = args.out / time.strftime('%Y%m%d-%H%M%S')
        result, report = replay_and_report(bag, out)
    except (BagError, FileNotFoundError, ValueError) as error:
        print(f'perception-demo: {error}', file=sys.stderr)
        return 1
    print(summary_table(result.summary))
    print(f'report: {report}\noutput bag: {result.output_bag}\n(demo took {time.time() - started:.0f} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
