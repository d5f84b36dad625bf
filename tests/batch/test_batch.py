"""perception-batch: a batch on Ray equals the recordings replayed one after another, pooled metrics come from the
summed counts, a re-run skips what is done, and a broken recording is reported while the others finish."""
import importlib.util
import json
import os

import pytest

from perception.batch.recording import ReplayOptions
from perception.batch.runner import find_recordings, run_batch
from perception.replay.cli import replay_and_report
from perception.sim.cli import main as simulate

METRICS = ('camera', 'camera_panoptic', 'lidar', 'scene', 'frames')  # not the timings


def metrics(summary: dict) -> dict:
    return {key: summary.get(key) for key in METRICS}


@pytest.fixture(scope='module')
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp('bags')
    for seed in (3020, 3021):  # eval seeds, two frames each
        assert simulate(['--seed', str(seed), '--frames', '2', '--out', str(folder / f'sim{seed}')]) == 0
    return folder


@pytest.fixture(scope='module')
def sequential(recordings, tmp_path_factory):
    out = tmp_path_factory.mktemp('sequential')
    return out, run_batch(find_recordings([recordings]), out, engine='local', progress=False)


def test_pooled_metrics_are_the_summed_counts(recordings, sequential, tmp_path):
    _, batch = sequential
    assert [row['status'] for row in batch.rows] == ['done', 'done'], [row.get('error') for row in batch.rows]
    evaluators = [replay_and_report(bag, tmp_path / bag.name, progress=False)[0].evaluator
                  for bag in find_recordings([recordings])]
    for row, evaluator in zip(batch.rows, evaluators):
        assert metrics(row['summary']) == metrics(evaluator.summary())  # deterministic replays
    pooled = evaluators[0].merge(evaluators[1])
    assert metrics(batch.pooled) == metrics(pooled.summary())
    assert batch.pooled['frames']['lidar'] == 4


@pytest.mark.skipif(importlib.util.find_spec('ray') is None, reason='Ray is not installed (make setup-ray)')
def test_local_ray_batch_equals_the_sequential_run(recordings, sequential, tmp_path):
    _, expected = sequential
    batch = run_batch(find_recordings([recordings]), tmp_path, engine='ray', workers=2, progress=False)
    import ray
    ray.shutdown()
    assert batch.engine == 'ray'
    assert [row['status'] for row in batch.rows] == ['done', 'done'], [row.get('error') for row in batch.rows]
    assert all(row['pid'] != os.getpid() for row in batch.rows)  # replayed in Ray's worker processes
    for row, reference in zip(batch.rows, expected.rows):
        assert row['recording'] == reference['recording']
        assert metrics(row['summary']) == metrics(reference['summary'])
    assert metrics(batch.pooled) == metrics(expected.pooled)


def test_rerun_skips_done_and_reports_a_broken_recording(recordings, sequential, tmp_path):
    out, expected = sequential
    broken = tmp_path / 'broken.mcap'
    broken.write_bytes(b'not a bag at all')
    done_before = {row['recording']: (out / row['recording'] / 'result.json').stat().st_mtime_ns
                   for row in expected.rows}
    batch = run_batch(find_recordings([recordings, broken]), out, ReplayOptions(), engine='local', progress=False)
    statuses = {row['recording']: row['status'] for row in batch.rows}
    assert statuses == {'sim3020': 'done', 'sim3021': 'done', 'broken': 'failed'}
    for name, mtime in done_before.items():  # skipped, not replayed again
        assert (out / name / 'result.json').stat().st_mtime_ns == mtime
    assert all(row.get('skipped') for row in batch.rows if row['status'] == 'done')
    assert metrics(batch.pooled) == metrics(expected.pooled)  # the broken one adds nothing
    failed = json.loads((out / 'broken' / 'result.json').read_text())
    assert failed['status'] == 'failed' and failed['error']
    report = (out / 'batch.md').read_text()
    assert 'broken' in report and 'failed' in report and '**pooled**' in report
