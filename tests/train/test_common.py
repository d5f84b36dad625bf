"""The shared training scaffolding: one option block for every trainer, the loop's checkpoints that resume with
`weights_only=True` loading, and the refusal of anything else."""
import argparse

import numpy as np
import pytest
import torch

from perception.train import camera, lidar, panoptic, propagation
from perception.train.common import (Checkpoints, TrainRun, adamw_one_cycle, add_training_arguments,
                                     check_training_arguments)

SHARED = {'steps', 'batch_size', 'lr', 'run_dir', 'resume', 'out', 'val_every', 'checkpoint_every', 'workers',
          'device', 'seed'}


@pytest.mark.parametrize('parse_args, argv', [(camera.parse_args, []), (panoptic.parse_args, []),
                                              (propagation.parse_args, []),
                                              (lidar.parse_args, ['--backend', 'sparse'])])
def test_every_loop_trainer_declares_the_shared_options(parse_args, argv):
    args = vars(parse_args([*argv, '--steps', '7', '--seed', '3', '--workers', '0', '--device', 'cpu']))
    assert SHARED <= set(args)
    assert (args['steps'], args['seed'], args['workers'], args['device']) == (7, 3, 0, 'cpu')
    assert args['out'] is not None and args['run_dir'] is not None  # filled in by the trainer when unset


@pytest.mark.parametrize('argv', [['--steps', '0'], ['--batch-size', '0'], ['--lr', '0'], ['--val-every', '0'],
                                  ['--checkpoint-every', '0'], ['--workers', '-1']])
def test_out_of_range_shared_options_exit_with_usage(argv):
    parser = argparse.ArgumentParser()
    add_training_arguments(parser, steps=10, batch_size=2, lr=1e-3, run_dir=None, out=None)
    with pytest.raises(SystemExit) as exit_info:
        check_training_arguments(parser, parser.parse_args(argv))
    assert exit_info.value.code == 2


def _run(tmp_path, steps: int, resume: bool = False):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), lr=1e-2, weight_decay=0.0, steps=steps)
    run = TrainRun(name='test', steps=steps, run_dir=tmp_path, val_every=2, checkpoint_every=1, resume=resume)
    batches = [torch.randn(4, 3) for _ in range(2)]
    scores = iter(np.float64(s) for s in (0.1, 0.3, 0.2, 0.4))  # numpy scores are stored as plain floats
    saved = []
    best = run.fit(model=model, optimizer=optimizer, scheduler=scheduler, loader=batches,
                   compute_loss=lambda batch: model(batch).square().mean(), validate=lambda: next(scores),
                   save_best=lambda: saved.append(True))
    return model, best, saved


def test_fit_keeps_the_best_and_resumes_from_a_weights_only_checkpoint(tmp_path):
    model, best, saved = _run(tmp_path, 4)
    assert best == pytest.approx(0.3) and len(saved) == 2  # validations at steps 2 and 4: 0.1, 0.3
    state = torch.load(tmp_path / 'last.pt', weights_only=True)
    assert state['step'] == 4 and type(state['best']) is float
    resumed, best_again, saved_again = _run(tmp_path, 4, resume=True)  # nothing left to do
    assert best_again == best and not saved_again
    assert torch.equal(resumed.weight, model.weight)
    with pytest.raises(ValueError, match='--steps 4'):
        _run(tmp_path, 6, resume=True)


def test_resume_refuses_a_checkpoint_that_needs_unpickling(tmp_path):
    model = torch.nn.Linear(3, 1)
    optimizer, scheduler = adamw_one_cycle(model.parameters(), lr=1e-2, weight_decay=0.0, steps=4)
    checkpoints = Checkpoints(tmp_path)
    torch.save({'step': 1, 'total_steps': 4, 'best': argparse.Namespace()}, checkpoints.path)
    with pytest.raises(ValueError, match='more than tensors and plain types'):
        checkpoints.resume(model, optimizer, scheduler, 4)
    with pytest.raises(ValueError, match='--resume but no'):
        Checkpoints(tmp_path / 'empty').resume(model, optimizer, scheduler, 4)
