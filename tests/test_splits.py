"""Seed splits: one reading of config/simulator.yaml for the simulator and the trainers."""
import pytest

from perception.sim.simulator import SensorRig
from perception.splits import load_splits

SPLITS = load_splits()


def test_splits_are_disjoint_and_the_demo_is_an_eval_seed():
    ranges = sorted(SPLITS.range_of(name) for name in ('train', 'val', 'eval'))
    assert all(first <= last < following for (first, last), (following, _) in zip(ranges, ranges[1:]))
    assert SPLITS.split_of(SPLITS.demo) == 'eval'
    assert SPLITS.split_of(SPLITS.train[0]) == 'train' and SPLITS.split_of(SPLITS.val[1]) == 'val'
    assert SPLITS.split_of(SPLITS.eval[1] + 1) is None


def test_the_simulator_reads_the_same_splits():
    assert SensorRig.from_config().splits == SPLITS


def test_held_out_simulated_sequences_are_refused_and_real_ones_pass():
    SPLITS.check_simulated([f'sim{SPLITS.train[0]}', '00', 'aachen'], 'train')
    with pytest.raises(ValueError, match=f'sim{SPLITS.demo}: not train seeds'):
        SPLITS.check_simulated([f'sim{SPLITS.train[0]}', f'sim{SPLITS.demo}'], 'train')
    with pytest.raises(KeyError):
        SPLITS.range_of('demo')
