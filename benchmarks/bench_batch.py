"""perception-batch on N short simulated recordings (eval seeds): one after another in this process, on an
embedded Ray instance with 1 and 2 workers (speed-up; the pooled metrics must equal the sequential run's), and
through `perception-batch --address` on a two-node Ray cluster on this machine (loopback only). Wall times count
the batch, not Ray's start (reported apart); /proc/loadavg is recorded with each run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_batch.py [--recordings DIR] [--count 8] [--frames 6]

The cluster's two nodes come from Ray's own `ray.cluster_utils.Cluster` (each node its own raylet and workers),
not from `ray start`: Ray 2.60 lets a head node started with `ray start --head --node-ip-address 127.0.0.1` listen
on loopback only, but rewrites the address a second `ray start --address 127.0.0.1:PORT` joins to this machine's
external address, where that head does not listen.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.batch.runner import find_recordings, init_ray, run_batch  # noqa: E402
from perception.sim.cli import main as simulate  # noqa: E402

METRICS = ('camera', 'camera_panoptic', 'lidar', 'scene', 'frames')
CLUSTER = '''
import sys
from ray.cluster_utils import Cluster
cluster = Cluster(initialize_head=True, head_node_args={'num_cpus': 1, 'include_dashboard': False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
print(cluster.address, flush=True)
sys.stdin.read()  # until the benchmark closes stdin
cluster.shutdown()
'''
RAY_PROCESSES = ('gcs_server', 'raylet', '"ray::')
LOOPBACK_ENV = {'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER': '0', 'RAY_USAGE_STATS_ENABLED': '0'}


def loadavg() -> str:
    return ' '.join(Path('/proc/loadavg').read_text().split()[:3])


def make_recordings(folder: Path, count: int, frames: int, first_seed: int) -> list[Path]:
    for seed in range(first_seed, first_seed + count):
        if not (folder / f'sim{seed}' / 'metadata.yaml').is_file():
            simulate(['--seed', str(seed), '--frames', str(frames), '--out', str(folder / f'sim{seed}')])
    return find_recordings([folder / f'sim{seed}' for seed in range(first_seed, first_seed + count)])


def metrics(summary: dict) -> dict:
    return {key: summary.get(key) for key in METRICS}


def row_of(label: str, wall: float, pooled: dict, load: tuple[str, str], ray_start: float | None = None) -> dict:
    return {'run': label, 'wall s': wall, 'Ray start s': ray_start, 'camera mIoU': pooled['camera']['all']['miou'],
            'LiDAR mIoU': pooled['lidar']['miou'], 'scene mIoU': pooled['scene']['miou'],
            'load before': load[0], 'load after': load[1], 'pooled': metrics(pooled)}


def in_process(label: str, recordings: list[Path], out: Path, engine: str, workers: int | None = None) -> dict:
    load = loadavg()
    ray_start = None
    if engine == 'ray':
        start = time.perf_counter()
        init_ray(None, workers)
        ray_start = time.perf_counter() - start
    start = time.perf_counter()
    batch = run_batch(recordings, out, engine=engine, workers=workers, progress=False)
    wall = time.perf_counter() - start
    if engine == 'ray':
        import ray
        ray.shutdown()
    assert all(row['status'] == 'done' for row in batch.rows), batch.rows
    return row_of(label, wall, batch.pooled, (load, loadavg()), ray_start)


def two_node_cluster(recordings: list[Path], out: Path) -> dict:
    env = {**os.environ, **LOOPBACK_ENV}
    start = time.perf_counter()
    cluster = subprocess.Popen([sys.executable, '-c', CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)
    try:
        address = cluster.stdout.readline().strip()
        ray_start = time.perf_counter() - start
        listening = subprocess.run(['ss', '-ltnpH'], capture_output=True, text=True).stdout.splitlines()
        load = loadavg()
        start = time.perf_counter()
        command = [str(Path(sys.executable).parent / 'perception-batch'), *map(str, recordings), '--out', str(out),
                   '--address', address]
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
    finally:
        cluster.stdin.close()
        cluster.wait(timeout=120)
    batch = json.loads((out / 'batch.json').read_text())
    row = row_of(f'Ray, 2-node cluster at {address} (--address)', wall, batch['pooled'], (load, loadavg()),
                 ray_start)
    hosts = {(r['host'], r['pid']) for r in batch['recordings']}
    row['worker processes'] = len(hosts)
    row['Ray listeners off loopback'] = [line for line in listening if any(p in line for p in RAY_PROCESSES)
                                         and not any(a in line for a in ('127.0.0.1', '[::1]'))]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--recordings', type=Path, default=Path('outputs/bench_batch/recordings'))
    parser.add_argument('--count', type=int, default=8)
    parser.add_argument('--frames', type=int, default=6)
    parser.add_argument('--first-seed', type=int, default=3010, help='eval seeds only')
    parser.add_argument('--no-cluster', action='store_true')
    args = parser.parse_args(argv)
    recordings = make_recordings(args.recordings, args.count, args.frames, args.first_seed)
    with tempfile.TemporaryDirectory(prefix='bench_batch_') as work:
        work = Path(work)
        rows = [in_process('in process, one after another (--local)', recordings, work / 'local', 'local'),
                in_process('Ray, 1 worker', recordings, work / 'ray1', 'ray', 1),
                in_process('Ray, 2 workers', recordings, work / 'ray2', 'ray', 2)]
        if not args.no_cluster:
            rows.append(two_node_cluster(recordings, work / 'cluster'))
    sequential = rows[0]
    one_worker = rows[1]['wall s']
    for row in rows:
        row['speed-up vs Ray 1 worker'] = one_worker / row['wall s']
        row['speed-up vs in process'] = sequential['wall s'] / row['wall s']
        row['pooled = sequential'] = row['pooled'] == sequential['pooled']
    columns = ['run', 'wall s', 'speed-up vs Ray 1 worker', 'speed-up vs in process', 'Ray start s',
               'pooled = sequential', 'camera mIoU', 'LiDAR mIoU', 'scene mIoU', 'load before', 'load after']
    publish('batch', rows, {'recordings': [str(r) for r in recordings], 'frames': args.frames}, columns)
    return 0 if all(row['pooled = sequential'] for row in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
