"""Held-out simulated frames for the benchmarks, cached under outputs/cache (an eval seed no model has seen)."""
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.sim.simulator import DriveSimulator

CACHE = Path(__file__).resolve().parent.parent / 'outputs' / 'cache'


def eval_frames(seed: int, frames: int) -> dict:
    """{'image', 'semantic', 'instance', 'stamp_ns'} stacked over the drive's frames, plus LiDAR lists."""
    path = CACHE / f'eval_{seed}_{frames}.npz'
    if path.exists():
        data = np.load(path, allow_pickle=True)
        return {k: data[k] for k in data.files}
    sim = DriveSimulator(seed, frames)
    if sim.rig.splits.split_of(seed) != 'eval':
        raise ValueError(f'seed {seed} is not an eval seed {sim.rig.splits.eval}')
    out = {k: [] for k in ('image', 'semantic', 'instance', 'stamp_ns', 'points', 'point_semantic',
                           'point_instance')}
    for frame in tqdm(sim, total=frames, desc=f'simulating eval seed {seed}'):
        for key in out:
            out[key].append(getattr(frame, key))
    data = {k: np.stack(v) if k in ('image', 'semantic', 'instance', 'stamp_ns') else np.array(v, dtype=object)
            for k, v in out.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data
