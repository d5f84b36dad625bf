"""What every training script shares: resumable checkpoints, provenance of shipped weights, and split checks."""
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from perception.paths import PACKAGE_DIR


class Checkpoints:
    """`last.pt` in a run directory, written atomically every few steps; `resume()` restores it."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.path = self.directory / 'last.pt'

    def save(self, step: int, model, optimizer, scheduler, **extra) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        state = {'step': step, 'model': model.state_dict(), 'optimizer': optimizer.state_dict(),
                 'scheduler': scheduler.state_dict(), 'rng': torch.get_rng_state(), **extra}
        tmp = self.path.with_suffix('.tmp')
        torch.save(state, tmp)
        os.replace(tmp, self.path)

    def resume(self, model, optimizer, scheduler, total_steps: int) -> dict:
        """Load the last checkpoint into the given objects and return its extra entries (with 'step').
        ValueError (one line) if there is none, it is for another network, or for another number of steps."""
        if not self.path.exists():
            raise ValueError(f'--resume but no {self.path}')
        state = torch.load(self.path, map_location='cpu', weights_only=False)
        if state.get('total_steps', total_steps) != total_steps:
            raise ValueError(f'{self.path} was trained for --steps {state["total_steps"]}; resume with the same value')
        try:
            model.load_state_dict(state.pop('model'))
        except RuntimeError as error:  # another architecture than the checkpoint's
            raise ValueError(f'{self.path} does not fit this network: {str(error).splitlines()[0]}') from None
        optimizer.load_state_dict(state.pop('optimizer'))
        scheduler.load_state_dict(state.pop('scheduler'))
        torch.set_rng_state(state.pop('rng'))
        return state


def train(name: str, steps: int, loader, compute_loss, validate, save_best, checkpoints: Checkpoints, model, optimizer,
          scheduler, val_every: int, checkpoint_every: int, resume: bool, clip_grad_norm: float | None = None) -> float:
    """The loop every trainer runs: `compute_loss(batch) -> loss` and an optimiser step until `steps`,
    `validate() -> score` every `val_every` steps (keeping the best through `save_best()`), a resumable checkpoint
    every `checkpoint_every`. Returns the best validation score. ValueError (one line) when --resume cannot."""
    state = checkpoints.resume(model, optimizer, scheduler, steps) if resume else {}
    step, best = state.get('step', 0), state.get('best', -1.0)
    checkpoints.directory.mkdir(parents=True, exist_ok=True)
    parameters = [p for group in optimizer.param_groups for p in group['params']]
    progress = tqdm(total=steps, initial=step, desc=name, unit='step')
    while step < steps:
        for batch in loader:
            loss = compute_loss(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(parameters, clip_grad_norm)
            optimizer.step()
            scheduler.step()
            step += 1
            progress.update()
            progress.set_postfix(loss=f'{loss.item():.3f}', lr=f'{scheduler.get_last_lr()[0]:.1e}')
            if step % val_every == 0 or step == steps:
                score = validate()
                progress.write(f'step {step}: validation {100 * score:.1f}')
                if score > best:
                    best = score
                    save_best()
            if step % checkpoint_every == 0 or step == steps:
                checkpoints.save(step, model, optimizer, scheduler, best=best, total_steps=steps)
            if step >= steps:
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


def check_simulated_split(names: list[str], split: str, seeds: dict) -> None:
    """Refuse simulated sequences (named simSEED) whose seed is not in `split`'s range: models never see held-out
    seeds. Other names (real datasets) pass."""
    first, last = seeds[split]
    wrong = sorted({n for n in names if n.startswith('sim') and n[3:].isdigit() and not first <= int(n[3:]) <= last})
    if wrong:
        raise ValueError(f'{", ".join(wrong[:5])}: not {split} seeds ({first}-{last})')
