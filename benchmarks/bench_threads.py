"""Threads per model (the `model.threads` defaults): ms per frame of the LiDAR model (sparse U-Net or PointNet++) and
of the camera model with 1 and 2 torch threads, each alone and while the other model runs beside it on its own
thread (as in the live graph and the parallel replay); medians over rounds that interleave the configurations, so
a change in the machine's load hits them alike. On a 2-core machine the combination with the best pair of rates
beside each other is the default.

    .venv/bin/python benchmarks/bench_threads.py [--bag rosbags/sim3000] [--frames 5] [--rounds 3] [--backend sparse]
"""
import argparse
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_live import demo_bag  # noqa: E402
from live_graph import load_average  # noqa: E402
from report import publish  # noqa: E402

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.device import use_threads  # noqa: E402
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.io import topics as T  # noqa: E402
from perception.io.bag import BagReader  # noqa: E402
from perception.msgs.adapters import camera_input, lidar_input  # noqa: E402


def inputs(bag: Path, frames: int) -> tuple[list, list]:
    images, sweeps = [], []
    with BagReader(bag) as reader:
        for topic, stamp, msg in reader.messages([T.CAMERA_IMAGE, T.LIDAR_POINTS]):
            if topic == T.CAMERA_IMAGE and len(images) < frames:
                images.append((camera_input(msg), stamp))
            elif topic == T.LIDAR_POINTS and len(sweeps) < frames:
                sweeps.append(lidar_input(msg))
            if len(images) == len(sweeps) == frames:
                break
    return images, sweeps


def timed(run, threads: int, stop: threading.Event | None = None, out: dict | None = None) -> float:
    """ms per call of run(i) on this thread with `threads` torch threads; with `stop`, loops until it is set."""
    use_threads(threads)
    run(0)  # warm-up
    times, i = [], 1
    while (stop is None and i <= run.count) or (stop is not None and not stop.is_set()):
        start = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - start)
        i += 1
    ms = 1e3 * float(np.median(times)) if times else float('nan')
    if out is not None:
        out['ms'] = ms
    return ms


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--bag', type=Path)
    parser.add_argument('--frames', type=int, default=5, help='frames per configuration and round')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--backend', choices=('sparse', 'pointnet2'), default='sparse')
    args = parser.parse_args()
    bag = args.bag or demo_bag(Path('rosbags/sim3000').resolve(), 100)
    images, sweeps = inputs(bag, args.frames)
    lidar = LidarSegmenter(replace(LidarSegmenterConfig.from_parameters(load_parameters('lidar_segmentation')),
                                   backend=args.backend, device='cpu'))
    camera = CameraSegmenter(replace(CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')),
                                     device='cpu'))

    def run_lidar(i):
        lidar.process(sweeps[i % len(sweeps)])

    def run_camera(i):
        image, stamp = images[i % len(images)]
        camera.process(image, stamp)
    run_lidar.count = run_camera.count = args.frames
    configurations = ((1, 1), (2, 1), (1, 2), (2, 2))
    measured = {c: {'LiDAR alone': [], 'camera alone': [], 'LiDAR beside camera': [], 'camera beside LiDAR': []}
                for c in configurations}
    loads = []
    for _ in range(args.rounds):  # configurations interleaved, so a change in load hits them alike
        for lidar_threads, camera_threads in configurations:
            loads.append(load_average())
            times = measured[lidar_threads, camera_threads]
            times['LiDAR alone'].append(timed(run_lidar, lidar_threads))
            times['camera alone'].append(timed(run_camera, camera_threads))
            stop, beside = threading.Event(), {}
            background = threading.Thread(target=timed, args=(run_camera, camera_threads, stop, beside))
            background.start()
            times['LiDAR beside camera'].append(timed(run_lidar, lidar_threads))
            stop.set()
            background.join()
            times['camera beside LiDAR'].append(beside['ms'])
    rows = [{'LiDAR threads': lidar, 'camera threads': camera,
             **{f'{name} ms': float(np.median(values)) for name, values in measured[lidar, camera].items()}}
            for lidar, camera in configurations]
    publish('threads', rows, {'bag': str(bag), 'frames': args.frames, 'rounds': args.rounds, 'backend': args.backend,
                              'points per sweep': int(np.mean([len(s) for s in sweeps])), 'load averages': loads})
    print(f'load averages during the rounds: {loads[0]} ... {loads[-1]}')


if __name__ == '__main__':
    main()
