"""Fixtures shared by the trainer tests."""
import numpy as np
import pytest

from perception.io.semantickitti import write_frame
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


@pytest.fixture(scope='module')
def kitti_root(tmp_path_factory):
    """Sequences 00 (train, 3 sweeps) and 01 (val, 1 sweep) of ground, a car and a pole."""
    root = tmp_path_factory.mktemp('kitti')
    rng = np.random.default_rng(0)
    road, car, pole = TAXONOMY.id_of('road'), TAXONOMY.id_of('car'), TAXONOMY.id_of('pole')
    for sequence, frames in ((0, 3), (1, 1)):
        for frame in range(frames):
            parts = [(rng.uniform([-20, -20, -1.7], [20, 20, -1.7], (1500, 3)), road),
                     (rng.uniform([4, -1, -1.5], [8.5, 1, 0], (400, 3)), car),
                     (rng.uniform([-3.1, 5.9, -1.7], [-2.9, 6.1, 2.5], (100, 3)), pole)]
            xyz = np.concatenate([p for p, _ in parts])
            points = np.hstack([xyz, rng.uniform(0, 1, (len(xyz), 1))]).astype(np.float32)
            labels = np.concatenate([np.full(len(p), label, np.uint8) for p, label in parts])
            write_frame(root, sequence, frame, points, labels, np.where(labels == car, 1, 0))
    return root
