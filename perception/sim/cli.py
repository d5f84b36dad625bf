"""perception-sim: simulate drives into rosbag2 recordings and training layouts."""
import argparse
import sys
from pathlib import Path

from perception.io.bag import BagError
from perception.sim.lidar import load_lidars
from perception.sim.record import record_drive
from perception.sim.simulator import DriveSimulator, SensorRig


MIN_IMAGE_SIDE, MAX_IMAGE_SIDE = 16, 4096  # pixels: --width / --height (memory grows with their product)
MAX_SEED = 2 ** 63 - 1


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-sim', description=__doc__)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--seed', type=int, help='simulate one drive with this seed (0 .. 2**63 - 1)')
    which.add_argument('--split', choices=('train', 'val', 'eval'),
                       help='simulate the first --sequences seeds of a split (config/simulator.yaml)')
    parser.add_argument('--sequences', type=int, default=1, help='drives to simulate with --split')
    parser.add_argument('--frames', type=int, default=100, help='frames per drive (10 Hz)')
    parser.add_argument('--out', type=Path, help='bag to write (with --split: a folder of bags, one per seed)')
    parser.add_argument('--stride', type=int, default=1,
                        help='write every STRIDE-th frame (training exports: more variety per simulated second)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap')
    parser.add_argument('--cityscapes', type=Path, help='also export camera frames in the Cityscapes layout here')
    parser.add_argument('--semantickitti', type=Path, help='also export sweeps in the SemanticKITTI layout here')
    parser.add_argument('--width', type=int, help=f'camera width, {MIN_IMAGE_SIDE} .. {MAX_IMAGE_SIDE} pixels '
                        '(default from config/simulator.yaml)')
    parser.add_argument('--height', type=int, help=f'camera height, {MIN_IMAGE_SIDE} .. {MAX_IMAGE_SIDE} pixels')
    parser.add_argument('--config', type=Path, help='simulator config (default: config/simulator.yaml)')
    lidars = load_lidars()
    parser.add_argument('--lidar', choices=sorted(lidars.sensors), default=lidars.default,
                        help=f'LiDAR model from config/lidars.yaml (default: {lidars.default})')
    parser.add_argument('--randomise', action='store_true',
                        help='draw materials, colours and sensor responses anew per drive (domain randomisation)')
    args = parser.parse_args(argv)
    if min(args.frames, args.sequences, args.stride) < 1:
        parser.error('--frames, --sequences and --stride must be at least 1')
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        parser.error(f'--seed must be a non-negative integer below 2**63, got {args.seed}')
    if (args.width is None) != (args.height is None) or (args.width is not None and not (
            MIN_IMAGE_SIDE <= min(args.width, args.height) and max(args.width, args.height) <= MAX_IMAGE_SIDE)):
        parser.error(f'--width and --height go together and must be at least {MIN_IMAGE_SIDE} and at most '
                     f'{MAX_IMAGE_SIDE} pixels')
    if not (args.out or args.cityscapes or args.semantickitti):
        parser.error('nothing to write: give --out, --cityscapes and/or --semantickitti')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        rig = SensorRig.from_config(args.config, args.width, args.height, args.lidar, args.randomise)
    except (OSError, KeyError, ValueError) as error:
        print(f'perception-sim: bad simulator config: {error}', file=sys.stderr)
        return 1
    if args.seed is not None:
        seeds = [args.seed]
    else:
        first, last = rig.splits.range_of(args.split)
        seeds = list(range(first, min(first + args.sequences, last + 1)))
    for seed in seeds:
        bag = args.out / f'sim{seed}' if args.out and args.split else args.out
        if bag and bag.exists():
            print(f'perception-sim: {bag} already exists; not overwriting', file=sys.stderr)
            return 1
        try:
            record_drive(DriveSimulator(seed, args.frames, rig), bag, args.cityscapes, args.semantickitti,
                         args.storage, stride=args.stride)
        except (BagError, OSError) as error:
            print(f'perception-sim: {error}', file=sys.stderr)
            return 1
        if bag:
            print(f'wrote {bag}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
