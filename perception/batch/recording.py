"""One recording of a batch: replayed and evaluated into its own folder by perception-replay's entry point.

    OUT/<recording>/report.md        perception-replay's report
    OUT/<recording>/replay/          the output bag (kept with keep_bag)
    OUT/<recording>/evaluator.npz    the evaluator's counts (confusion matrices, PQ counts, latencies) for pooling
    OUT/<recording>/result.json      written last: status 'done' (metrics) or 'failed' (the error)

A recording whose result.json says 'done' and whose counts load is done: a re-run skips it.
"""
import json
import os
import shutil
import socket
import time
import traceback
import zipfile
from dataclasses import dataclass
from pathlib import Path

from perception.eval.evaluator import DriveEvaluator
from perception.replay.cli import replay_and_report
from perception.taxonomy import load_taxonomy

RESULT, COUNTS = 'result.json', 'evaluator.npz'


@dataclass(frozen=True)
class ReplayOptions:
    params: Path | None = None       # node parameters (default: config/perception.yaml)
    backend: str | None = None       # LiDAR backend override
    max_frames: int | None = None
    keep_bag: bool = False           # keep each recording's output bag


@dataclass
class RecordingResult:
    row: dict                                # result.json: recording, bag, status, summary or error, wall_s, host
    evaluator: DriveEvaluator | None = None  # the counts to pool (None when failed)


def recording_name(bag: Path) -> str:
    """The folder name of a recording's results: the bag's name without a storage suffix."""
    bag = Path(bag)
    return bag.stem if bag.suffix in ('.mcap', '.db3') else bag.name


def _write_json(path: Path, data: dict) -> None:
    partial = path.with_suffix('.partial')
    partial.write_text(json.dumps(data, indent=2, default=float) + '\n')
    os.replace(partial, path)  # a reader sees the old file or the whole new one


def load_done(folder: Path) -> RecordingResult | None:
    """The finished result in `folder`, or None if the recording is not done (absent, failed, unreadable)."""
    try:
        row = json.loads((folder / RESULT).read_text())
        if row.get('status') != 'done':
            return None
        evaluator = DriveEvaluator.load(folder / COUNTS, load_taxonomy())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    return RecordingResult({**row, 'skipped': True}, evaluator)


def evaluate_recording(bag: Path, folder: Path, options: ReplayOptions) -> RecordingResult:
    """Replay and evaluate one recording into `folder` (emptied first). Never raises for a bad recording: the
    error is the result, so that the batch goes on."""
    bag, folder = Path(bag), Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    row = {'recording': recording_name(bag), 'bag': str(bag), 'host': socket.gethostname(), 'pid': os.getpid()}
    started = time.perf_counter()
    try:
        result, report = replay_and_report(bag, folder, options.params, options.backend, options.max_frames,
                                           progress=False)
    except Exception as error:  # noqa: BLE001 - whatever breaks one recording is reported, not raised
        row.update(status='failed', error=f'{type(error).__name__}: {error}', traceback=traceback.format_exc(),
                   wall_s=round(time.perf_counter() - started, 2))
        _write_json(folder / RESULT, row)
        return RecordingResult(row)
    result.evaluator.save(folder / COUNTS)
    if not options.keep_bag:
        shutil.rmtree(result.output_bag, ignore_errors=True)
    row.update(status='done', summary=result.summary, report=str(report),
               output_bag=str(result.output_bag) if options.keep_bag else None,
               wall_s=round(time.perf_counter() - started, 2))
    _write_json(folder / RESULT, row)
    return RecordingResult(row, result.evaluator)
