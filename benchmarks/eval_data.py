"""Held-out simulated frames for the benchmarks, cached under outputs/cache (an eval seed no model has seen)."""
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.sim.simulator import DriveSimulator

CACHE = Path(__file__).resolve().parent.parent / 'outputs' / 'cache'


FRAME_KEYS = ('image', 'semantic', 'instance', 'stamp_ns')  # one array per frame, all of one shape
POINT_KEYS = ('points', 'point_semantic', 'point_instance')  # one array per frame, of the sweep's length


def eval_frames(seed: int, frames: int) -> dict:
    """{'image', 'semantic', 'instance', 'stamp_ns'} stacked over the drive's frames, plus LiDAR lists. The cache
    holds plain arrays (sweeps concatenated, with their lengths), so loading it unpickles nothing."""
    path = CACHE / f'eval_{seed}_{frames}_arrays.npz'
    if not path.exists():
        sim = DriveSimulator(seed, frames)
        if sim.rig.splits.split_of(seed) != 'eval':
            raise ValueError(f'seed {seed} is not an eval seed {sim.rig.splits.eval}')
        out = {k: [] for k in FRAME_KEYS + POINT_KEYS}
        for frame in tqdm(sim, total=frames, desc=f'simulating eval seed {seed}'):
            for key in out:
                out[key].append(getattr(frame, key))
        data = {k: np.stack(out[k]) for k in FRAME_KEYS} | {k: np.concatenate(out[k]) for k in POINT_KEYS}
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(path, point_counts=[len(points) for points in out['points']], **data)
    with np.load(path) as archive:
        data = {k: archive[k] for k in archive.files}
    splits = np.cumsum(data.pop('point_counts'))[:-1]
    return data | {k: np.split(data[k], splits) for k in POINT_KEYS}
