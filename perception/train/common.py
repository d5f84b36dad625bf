"""What every trainer shares: the common command-line options, the optimiser, the training loop (`TrainRun`) with
resumable checkpoints, and the provenance record shipped beside weights."""
import argparse
import os
import pickle
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from perception.paths import PACKAGE_DIR


def add_training_arguments(parser: argparse.ArgumentParser, *, steps: int, batch_size: int | None, lr: float | None,
                           run_dir: Path | None, out: Path | None, val_every: int = 500,
                           checkpoint_every: int = 200, unset: dict[str, str] | None = None) -> None:
    """Declare the options every trainer shares, with the trainer's defaults. A default of None means the trainer
    fills the value in after parsing (`unset` says how, per option: {'out': 'overwrite --camera'});
    `check_training_arguments` then validates them all."""
    def default(value, name: str) -> str:
        return (unset or {}).get(name, 'set by the trainer') if value is None else f'default: {value}'

    group = parser.add_argument_group('training run')
    group.add_argument('--steps', type=int, default=steps, help=f'optimiser steps (default: {steps})')
    group.add_argument('--batch-size', type=int, default=batch_size,
                       help=f'samples per step ({default(batch_size, "batch_size")})')
    group.add_argument('--lr', type=float, default=lr, help=f'peak one-cycle learning rate ({default(lr, "lr")})')
    group.add_argument('--run-dir', type=Path, default=run_dir,
                       help=f'checkpoints and logs ({default(run_dir, "run_dir")})')
    group.add_argument('--resume', action='store_true', help='continue from RUN_DIR/last.pt')
    group.add_argument('--out', type=Path, default=out, help=f'weights file to write ({default(out, "out")})')
    group.add_argument('--val-every', type=int, default=val_every,
                       help=f'steps between validations (default: {val_every})')
    group.add_argument('--checkpoint-every', type=int, default=checkpoint_every,
                       help=f'steps between resumable checkpoints (default: {checkpoint_every})')
    group.add_argument('--workers', type=int, default=1, help='data loader worker processes (default: 1)')
    group.add_argument('--device', default='auto', help='auto (CUDA when present), cpu, cuda or cuda:N (default: auto)')
    group.add_argument('--seed', type=int, default=0, help='torch and numpy seed (default: 0)')


def check_training_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with usage (status 2) if a shared option is out of range."""
    if min(args.steps, args.batch_size, args.val_every, args.checkpoint_every) < 1 or args.workers < 0:
        parser.error('--steps, --batch-size, --val-every and --checkpoint-every must be positive, --workers '
                     'non-negative')
    if args.lr <= 0:
        parser.error('--lr must be positive')


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def adamw_one_cycle(parameters, *, lr: float, weight_decay: float, steps: int):
    """(AdamW, one-cycle schedule peaking at `lr` after 5% of `steps`): every trainer's optimiser."""
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps, pct_start=0.05)


def training_loader(dataset, *, batch_size: int, workers: int, **options) -> DataLoader:
    """A shuffled DataLoader dropping the last partial batch (unless `options` say otherwise)."""
    options = {'shuffle': True, 'drop_last': True, **options}
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers, persistent_workers=workers > 0,
                      **options)


class Checkpoints:
    """`last.pt` in a run directory, written atomically every few steps; `resume()` restores it. Only tensors and
    plain types are stored, so resuming loads with `weights_only=True` (no arbitrary unpickling)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / 'last.pt'

    def save(self, step: int, model, optimizer, scheduler, *, best: float, total_steps: int) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {'step': int(step), 'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                 'scheduler': scheduler.state_dict(), 'rng': torch.get_rng_state(), 'best': float(best),
                 'total_steps': int(total_steps)}
        tmp = self.path.with_suffix('.tmp')
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def resume(self, model, optimizer, scheduler, total_steps: int) -> dict:
        """Load the last checkpoint into the given objects and return {'step', 'best'}. ValueError (one line) if
        there is none, it cannot be loaded safely, it is for another network, or for another number of steps."""
        if not self.path.exists():
            raise ValueError(f'--resume but no {self.path}')
        try:
            state = torch.load(self.path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError as error:
            raise ValueError(f'{self.path} holds more than tensors and plain types: '
                             f'{str(error).splitlines()[0]}') from None
        if state['total_steps'] != total_steps:
            raise ValueError(f'{self.path} was trained for --steps {state["total_steps"]}; resume with the same value')
        try:
            model.load_state_dict(state['model'])
        except RuntimeError as error:  # another architecture than the checkpoint's
            raise ValueError(f'{self.path} does not fit this network: {str(error).splitlines()[0]}') from None
        optimizer.load_state_dict(state['optimizer'])
        scheduler.load_state_dict(state['scheduler'])
        torch.set_rng_state(state['rng'])
        return {'step': state['step'], 'best': state['best']}


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """The schedule of one training run: `steps` optimiser steps, validation every `val_every` (keeping the best
    weights), a resumable checkpoint in `run_dir` every `checkpoint_every`, optional gradient clipping."""

    name: str
    steps: int
    run_dir: Path
    val_every: int
    checkpoint_every: int
    resume: bool = False
    clip_grad_norm: float | None = None

    @classmethod
    def from_args(cls, name: str, args: argparse.Namespace, **options) -> 'TrainRun':
        """From the options of `add_training_arguments`; `options` sets the other fields (clip_grad_norm)."""
        return cls(name=name, steps=args.steps, run_dir=Path(args.run_dir), val_every=args.val_every,
                   checkpoint_every=args.checkpoint_every, resume=args.resume, **options)

    @property
    def best_path(self) -> Path:
        """Where trainers keep the best validated weights (their `save_best` writes it)."""
        return self.run_dir / 'best.pt'

    def fit(self, *, model, optimizer, scheduler, loader, compute_loss, validate, save_best) -> float:
        """The loop every trainer runs: `compute_loss(batch) -> loss` and an optimiser step until `steps`,
        `validate() -> score` every `val_every` steps (keeping the best through `save_best()`), a resumable
        checkpoint every `checkpoint_every`. Returns the best validation score. ValueError (one line) when
        `resume` cannot."""
        checkpoints = Checkpoints(self.run_dir)
        state = checkpoints.resume(model, optimizer, scheduler, self.steps) if self.resume else {}
        step, best = state.get('step', 0), state.get('best', -1.0)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        parameters = [p for group in optimizer.param_groups for p in group['params']]
        progress = tqdm(total=self.steps, initial=step, desc=self.name, unit='step')
        while step < self.steps:
            for batch in loader:
                loss = compute_loss(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.clip_grad_norm:
                    torch.nn.utils.clip_grad_norm_(parameters, self.clip_grad_norm)
                optimizer.step()
                scheduler.step()
                step += 1
                progress.update()
                progress.set_postfix(loss=f'{loss.item():.3f}', lr=f'{scheduler.get_last_lr()[0]:.1e}')
                if step % self.val_every == 0 or step == self.steps:
                    score = float(validate())
                    progress.write(f'step {step}: validation {100 * score:.1f}')
                    if score > best:
                        best = score
                        save_best()
                if step % self.checkpoint_every == 0 or step == self.steps:
                    checkpoints.save(step, model, optimizer, scheduler, best=best, total_steps=self.steps)
                if step >= self.steps:
                    break
        progress.close()
        return best


def git_commit() -> str | None:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=PACKAGE_DIR, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(started: float, data: dict, results: dict) -> dict:
    """The record shipped next to weights: exact command, code version, data, time, machine and results."""
    return {'command': ' '.join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]]),
            'git_commit': git_commit(), 'finished': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
            'wall_time_min': round((time.time() - started) / 60, 1), 'data': data, 'results': results,
            'machine': {'python': platform.python_version(), 'torch': str(torch.__version__),
                        'threads': torch.get_num_threads(),
                        'device': torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}}


def write_record(weights: Path, record: dict) -> Path:
    """`<weights>.yaml` beside the weights file."""
    path = Path(weights).with_suffix('.yaml')
    path.write_text(yaml.safe_dump(record, sort_keys=False))
    return path
