"""Stage timing: per-stage and total milliseconds, synchronising CUDA at the end of every stage."""
import time

import torch

from perception.core.device import StageTimer


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
