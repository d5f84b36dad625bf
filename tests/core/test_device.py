"""Stage timing: per-stage and total milliseconds, synchronising CUDA at the end of every stage; the BLAS
thread cap of the graph's and replay's processes."""
import time

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from perception.core.device import StageTimer, single_threaded_blas


def test_stages_are_timed_and_listed_stages_start_at_zero():
    timer = StageTimer('cpu', stages=('skipped', 'slept'))
    with timer('slept'):
        time.sleep(0.02)
    timing = timer.finish()
    assert list(timing) == ['skipped', 'slept', 'total']
    assert timing['skipped'] == 0.0 and 15 <= timing['slept'] <= timing['total']


def test_cuda_stages_wait_for_the_device(monkeypatch):
    synchronised = []
    monkeypatch.setattr(torch.cuda, 'synchronize', lambda device=None: synchronised.append(device))
    timer = StageTimer('cuda')
    with timer('inference'):
        assert not synchronised
    assert synchronised == [torch.device('cuda')]
    timer.finish()
    assert len(synchronised) == 2
    StageTimer('cpu').finish()
    assert len(synchronised) == 2


def _blas_threads() -> list[int]:
    return [pool['num_threads'] for pool in threadpool_info() if pool['user_api'] == 'blas']


def test_blas_runs_one_thread_inside_and_its_setting_comes_back_after():
    np.ones((4, 3)) @ np.eye(3)  # numpy's BLAS is loaded
    with threadpool_limits(2, user_api='blas'):
        assert _blas_threads() and set(_blas_threads()) == {2}
        with single_threaded_blas():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {2}
