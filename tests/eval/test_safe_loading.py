"""Nothing a user points a tool at is unpickled: evaluator counts are saved as plain arrays (np.load without
pickle), every torch.load in the package takes weights only."""
import ast
import os
import pickle

import numpy as np

from perception.batch.recording import COUNTS, load_done
from perception.eval.evaluator import DriveEvaluator
from perception.paths import PACKAGE_DIR
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def test_evaluator_counts_round_trip_without_pickle(tmp_path):
    evaluator = DriveEvaluator(TAXONOMY)
    rng = np.random.default_rng(0)
    labels, truth = rng.integers(0, TAXONOMY.num_classes, (2, 48, 64))
    instance = rng.integers(0, 3, (48, 64))
    evaluator.add_camera(True, labels.astype(np.uint8), None, truth, instance)
    points = rng.integers(0, TAXONOMY.num_classes, (2, 500))
    evaluator.add_lidar(points[0], rng.integers(0, 4, 500), points[1], rng.integers(0, 4, 500))
    evaluator.count_sweep({'total': 12.5})
    evaluator.save(tmp_path / 'counts.npz')
    loaded = DriveEvaluator.load(tmp_path / 'counts.npz', TAXONOMY)
    assert loaded.summary() == evaluator.summary()
    with np.load(tmp_path / 'counts.npz', allow_pickle=False) as data:  # plain arrays only
        assert all(data[name].dtype != object for name in data.files)


class _Exploit:
    def __reduce__(self):
        return os.system, ('touch pwned',)


def test_a_planted_pickle_in_a_batch_folder_is_never_loaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / 'sim3000'
    folder.mkdir()
    (folder / 'result.json').write_text('{"status": "done"}')
    (folder / COUNTS).write_bytes(pickle.dumps(_Exploit()))
    (folder / 'evaluator.pkl').write_bytes(pickle.dumps(_Exploit()))
    assert load_done(folder) is None
    assert not (tmp_path / 'pwned').exists()


def test_every_torch_load_takes_weights_only():
    for path in PACKAGE_DIR.rglob('*.py'):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == 'torch.load':
                keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
                assert keywords.get('weights_only') == 'True', f'{path}:{node.lineno}'
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ('pickle.load', 'pickle.loads'):
                raise AssertionError(f'{path}:{node.lineno} unpickles')
