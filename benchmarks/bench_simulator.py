"""Simulator speed at default settings: wall time to write an N-frame bag (target: 100 frames < 2 min on 2 cores).

    .venv/bin/python benchmarks/bench_simulator.py [--frames 100] [--seed 3000]
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.sim.record import record_drive  # noqa: E402
from perception.sim.simulator import DriveSimulator  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--seed', type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        sim = DriveSimulator(args.seed, args.frames)
        world = time.perf_counter() - start
        record_drive(sim, bag=Path(tmp) / 'bag')
        total = time.perf_counter() - start
        size = sum(p.stat().st_size for p in (Path(tmp) / 'bag').iterdir()) / 2**20
    rows = [{'frames': args.frames, 'world build s': world, 'total s': total, 'frames/s': args.frames / total,
             'bag MiB': size, 'target met (<120 s per 100 frames)': total * 100 / args.frames < 120}]
    publish('simulator', rows, {'seed': args.seed, 'static triangles': sim.world.static.num_triangles,
                                'agents': len(sim.world.agents)})


if __name__ == '__main__':
    main()
