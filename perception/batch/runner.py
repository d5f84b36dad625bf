"""A batch: every recording once (skipping those already done), one task per recording, pooled into one report.

Engines: Ray (an embedded local instance with `workers` CPUs, or the cluster at `address`), or this process, one
recording after another. Pooled metrics come from the recordings' summed confusion matrices and panoptic counts,
not from averaging per-recording means. An embedded Ray instance listens on the loopback interface only, and Ray's
usage reporting is off.
"""
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from perception.batch.recording import (RecordingResult, ReplayOptions, evaluate_recording, load_done,
                                        recording_name)
from perception.eval.evaluator import DriveEvaluator

LOOPBACK_ADDRESSES = ('127.0.0.1', 'localhost')


def find_recordings(paths: list[Path]) -> list[Path]:
    """Bags among `paths`: a bag (a folder with metadata.yaml, or an .mcap / .db3 file) or a folder of bags."""
    found = []
    for path in map(Path, paths):
        if (path / 'metadata.yaml').is_file() or path.suffix in ('.mcap', '.db3'):
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.iterdir() if (p / 'metadata.yaml').is_file() or
                            p.suffix in ('.mcap', '.db3'))
        else:
            raise FileNotFoundError(f'{path}: neither a recording nor a folder of recordings')
    names = [recording_name(bag) for bag in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f'recordings with the same name: {", ".join(duplicates)} (results are kept per name)')
    return found


@dataclass
class BatchResult:
    rows: list[dict]                  # per recording, in input order
    pooled: dict                      # DriveEvaluator.summary() of the pooled counts
    wall_s: float
    engine: str


def pool(evaluators: list[DriveEvaluator]) -> DriveEvaluator | None:
    """One evaluator holding the counts of all."""
    if not evaluators:
        return None
    pooled = DriveEvaluator(evaluators[0].taxonomy)
    for evaluator in evaluators:
        pooled.merge(evaluator)
    return pooled


def init_ray(address: str | None, workers: int | None):
    """The ray module, initialised: an embedded instance on the loopback interface, or the cluster at address."""
    os.environ.setdefault('RAY_USAGE_STATS_ENABLED', '0')  # Ray would otherwise report usage off the machine
    if address is None or address.split(':')[0] in LOOPBACK_ADDRESSES:
        # Ray takes "127.0.0.1" as "this machine" and advertises (and binds) the external address instead, unless
        # this flag (read when ray is imported) says that the cluster is local: then everything uses loopback.
        os.environ.setdefault('RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER', '0')
    try:
        import ray
    except ImportError as error:
        raise ImportError('Ray is not installed: run `make setup-ray`, or pass --local') from error
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
                     object_store_memory=200 * 2**20)
        else:
            ray.init(address=address, log_to_driver=False)
    return ray


def _run_ray(todo: list[tuple[Path, Path]], options: ReplayOptions, address: str | None, workers: int | None):
    ray = init_ray(address, workers)
    task = ray.remote(num_cpus=1, max_retries=0)(evaluate_recording)
    pending = {task.remote(Path(bag).resolve(), folder, options): bag for bag, folder in todo}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        bag = pending.pop(done[0])
        try:
            yield bag, ray.get(done[0])
        except ray.exceptions.RayError as error:  # the worker died (killed, out of memory): still one recording
            yield bag, RecordingResult({'recording': recording_name(bag), 'bag': str(bag), 'status': 'failed',
                                        'error': f'{type(error).__name__}: {error}'})


def _run_local(todo: list[tuple[Path, Path]], options: ReplayOptions):
    for bag, folder in todo:
        yield bag, evaluate_recording(Path(bag).resolve(), folder, options)


def run_batch(recordings: list[Path], out: Path, options: ReplayOptions = ReplayOptions(), engine: str = 'ray',
              address: str | None = None, workers: int | None = None, progress: bool = True) -> BatchResult:
    """Evaluate every recording not yet done under `out`, then write out/batch.json and out/batch.md."""
    if engine not in ('ray', 'local'):
        raise ValueError(f"engine must be 'ray' or 'local', got {engine!r}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: dict[Path, RecordingResult] = {}
    todo = []
    for bag in recordings:
        folder = out / recording_name(bag)
        done = load_done(folder)
        if done is not None:
            results[bag] = done
        else:
            todo.append((bag, folder))
    with tqdm(total=len(recordings), initial=len(results), desc='recordings', unit='bag', disable=not progress) as bar:
        runs = (_run_ray(todo, options, address, workers) if engine == 'ray' and todo else
                _run_local(todo, options))
        failed = 0
        for bag, result in runs:
            results[bag] = result
            failed += result.row['status'] != 'done'
            bar.set_postfix(failed=failed)
            bar.update()
    rows = [results[bag].row for bag in recordings]
    pooled = pool([results[bag].evaluator for bag in recordings if results[bag].evaluator is not None])
    batch = BatchResult(rows, pooled.summary() if pooled else {}, round(time.perf_counter() - started, 2), engine)
    write_batch_report(out, batch)
    return batch


def _metric(summary: dict, *keys):
    for key in keys:
        summary = summary.get(key, {}) if isinstance(summary, dict) else {}
    return summary if isinstance(summary, (int, float)) else None


def metric_columns(summary: dict) -> dict:
    """The headline numbers of a summary (per recording or pooled)."""
    return {'frames': _metric(summary, 'frames', 'lidar'),
            'camera mIoU': _metric(summary, 'camera', 'all', 'miou'),
            'camera PQ': _metric(summary, 'camera_panoptic', 'all', 'all', 'pq'),
            'LiDAR mIoU': _metric(summary, 'lidar', 'miou'),
            'scene mIoU': _metric(summary, 'scene', 'miou'),
            'scene PQ': _metric(summary, 'scene', 'panoptic', 'all', 'pq')}


def markdown_table(batch: BatchResult) -> str:
    columns = ['recording', 'status', 'frames', 'camera mIoU', 'camera PQ', 'LiDAR mIoU', 'scene mIoU', 'scene PQ',
               'wall s']
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    for row in batch.rows:
        status = row['status'] + (' (earlier run)' if row.get('skipped') else '')
        if row['status'] != 'done':
            status += f': {row["error"]}'
        cells = {'recording': row['recording'], 'status': status, 'wall s': row.get('wall_s'),
                 **metric_columns(row.get('summary', {}))}
        lines.append('| ' + ' | '.join('' if cells[c] is None else str(cells[c]) for c in columns) + ' |')
    pooled = {'recording': '**pooled**', 'status': f'{sum(r["status"] == "done" for r in batch.rows)} done',
              'wall s': batch.wall_s, **metric_columns(batch.pooled)}
    lines.append('| ' + ' | '.join('' if pooled[c] is None else str(pooled[c]) for c in columns) + ' |')
    return '\n'.join(lines)


def write_batch_report(out: Path, batch: BatchResult) -> None:
    """out/batch.json (rows without tracebacks, pooled summary) and out/batch.md (the table)."""
    rows = [{k: v for k, v in row.items() if k != 'traceback'} for row in batch.rows]
    (out / 'batch.json').write_text(json.dumps({'engine': batch.engine, 'wall_s': batch.wall_s, 'recordings': rows,
                                                'pooled': batch.pooled}, indent=2, default=float) + '\n')
    (out / 'batch.md').write_text('# Batch evaluation\n\n' + markdown_table(batch) + '\n\nPooled: metrics of the '
                                  'summed confusion matrices and panoptic counts of all done recordings.\n')
