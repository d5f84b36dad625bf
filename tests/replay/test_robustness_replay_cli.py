"""perception-replay as an unlucky user meets it: a bad --out is one line (exit 1) before any model loads; an earlier
run is replaced only with --overwrite; Ctrl-C closes the output bag and writes the report, both marked partial (exit
130); damaged data stops the run in one line naming topic and time (exit 1, outputs marked partial), and
--skip-corrupt reads past it, counting what it skipped (exit 0)."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from mcap.reader import make_reader

from perception.io import topics as T
from perception.io.bag import BagReader
from perception.replay import replay as replay_module
from perception.replay.cli import main
from perception.sim.record import record_drive
from perception.sim.simulator import DriveSimulator

FRAMES = 3


@pytest.fixture(scope='module')
def drive(tmp_path_factory):
    bag = tmp_path_factory.mktemp('drive') / 'sim3006'
    record_drive(DriveSimulator(3006, FRAMES), bag=bag, progress=False)
    return bag


def run(argv, capsys) -> tuple[int, str, str]:
    """Exit status, stdout, and stderr without the progress bar."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert 'Traceback' not in err
    messages = [line for line in err.replace('\r', '\n').splitlines() if line and not line.startswith('replay:')]
    return code, out, ''.join(f'{line}\n' for line in messages)


@pytest.fixture
def no_models(monkeypatch):
    """Fail the test if a model would load: bad --out must be refused first."""
    def refuse(*args, **kwargs):
        raise AssertionError('the replay started despite a bad --out')
    monkeypatch.setattr(replay_module.Replay, '__init__', refuse)


@pytest.mark.parametrize('make_out, message', [
    (lambda tmp: (tmp / 'a_file').write_text('x') and tmp / 'a_file', 'is a file, not a folder'),
    (lambda tmp: (tmp / 'a_file').write_text('x') and tmp / 'a_file' / 'out', 'cannot be written'),
    (lambda tmp: '/sys/perception_replay_out', 'cannot be written'),
])
def test_a_bad_out_is_one_line_before_any_work(drive, tmp_path, capsys, no_models, make_out, message):
    code, _, err = run([drive, '--out', make_out(tmp_path)], capsys)
    assert code == 1 and err.count('\n') == 1 and message in err


def test_an_earlier_run_needs_overwrite_which_replaces_it_cleanly(drive, tmp_path, capsys, monkeypatch):
    out = tmp_path / 'out'
    (out / 'replay').mkdir(parents=True)
    (out / 'report.md').write_text('old report')
    (out / 'camera_1.png').write_bytes(b'old figure')
    (out / 'notes.txt').write_text('the user\'s own file')
    code, _, err = run([drive, '--out', out], capsys)
    assert code == 1 and err.count('\n') == 1 and '--overwrite' in err
    code, _, _ = run([drive, '--out', out, '--overwrite', '--max-frames', 1], capsys)
    assert code == 0
    assert 'old report' not in (out / 'report.md').read_text() and not (out / 'camera_1.png').exists()
    assert (out / 'notes.txt').exists()
    with BagReader(out / 'replay') as reader:
        assert sum(1 for _ in reader.messages([T.SCENE])) == 1


def test_ctrl_c_closes_the_bag_and_writes_a_report_marked_partial(drive, tmp_path, capsys, monkeypatch):
    real_lidar = replay_module.Replay._lidar

    def lidar_then_ctrl_c(self, stamp, *args):
        real_lidar(self, stamp, *args)
        if self.evaluator.frames['lidar'] == 1:
            raise KeyboardInterrupt
    monkeypatch.setattr(replay_module.Replay, '_lidar', lidar_then_ctrl_c)
    out = tmp_path / 'out'
    code, _, err = run([drive, '--out', out], capsys)
    assert code == 130 and err.count('\n') == 1 and 'partial run, interrupted after 1 of 3 sweeps' in err
    assert 'Partial run' in (out / 'report.md').read_text()
    assert json.loads((out / 'report.json').read_text())['partial'] == 'interrupted after 1 of 3 sweeps'
    with BagReader(out / 'replay') as reader:  # closed properly: readable, with its metadata
        assert sum(1 for _ in reader.messages([T.SCENE])) == 1
    assert 'perception.partial: interrupted after 1 of 3 sweeps' in (out / 'replay' / 'metadata.yaml').read_text()


def damaged_copy(drive, out, topic):
    """The drive with random bytes in the chunk holding `topic`'s message of the second frame."""
    bag = out / 'sim3006'
    shutil.copytree(drive, bag)
    path = next(bag.glob('*.mcap'))
    with open(path, 'rb') as stream:
        summary = make_reader(stream).get_summary()
    ids = {cid for cid, channel in summary.channels.items() if channel.topic == topic}
    index = [index for index in summary.chunk_indexes if ids & index.message_index_offsets.keys()][1]
    data = bytearray(path.read_bytes())
    middle = index.chunk_start_offset + index.chunk_length // 2
    data[middle:middle + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return bag


def test_damage_before_the_run_is_one_line_with_topic_and_time(drive, tmp_path, capsys):
    out = tmp_path / 'out'
    code, _, err = run([damaged_copy(drive, tmp_path, T.LIDAR_POINTS), '--out', out], capsys)
    assert code == 1 and err.count('\n') == 1
    assert 'chunk checksum mismatch' in err and T.LIDAR_POINTS in err and '0.100 s into the recording' in err


def test_damage_during_the_run_stops_it_with_the_outputs_marked_partial(drive, tmp_path, capsys):
    out = tmp_path / 'out'
    code, _, err = run([damaged_copy(drive, tmp_path, T.GT_LIDAR_POINTS), '--out', out], capsys)
    assert code == 1 and err.count('\n') == 1 and '--skip-corrupt' in err
    assert 'chunk checksum mismatch' in err and T.GT_LIDAR_POINTS in err and '0.100 s into the recording' in err
    assert 'stopped by damaged data' in json.loads((out / 'report.json').read_text())['partial']
    assert 'perception.partial' in (out / 'replay' / 'metadata.yaml').read_text()


def test_skip_corrupt_reads_past_the_damage_and_counts_it(drive, tmp_path, capsys):
    out = tmp_path / 'out'
    code, stdout, err = run([damaged_copy(drive, tmp_path, T.CAMERA_IMAGE), '--out', out, '--skip-corrupt'], capsys)
    assert code == 0 and err == ''
    damaged = json.loads((out / 'report.json').read_text())['damaged']
    assert damaged['skipped_messages'][T.CAMERA_IMAGE] == 1 and damaged['skipped_messages'][T.LIDAR_POINTS] == 1
    assert len(damaged['where']) == 1 and 'Damaged recording' in (out / 'report.md').read_text()
    assert f'skipped {sum(damaged["skipped_messages"].values())} damaged messages' in stdout
    with BagReader(out / 'replay') as reader:
        assert sum(1 for _ in reader.messages([T.SCENE])) == FRAMES - 1  # every sweep read makes a scene


@pytest.mark.ros
@pytest.mark.timeout(120)
@pytest.mark.parametrize('skip_corrupt', [False, True])
def test_play_stops_at_damage_in_one_line_or_plays_past_it(drive, tmp_path, ros_env, skip_corrupt):
    bag = damaged_copy(drive, tmp_path, T.CAMERA_IMAGE)
    command = [sys.executable, '-m', 'perception.replay.play', str(bag), '--rate', '100', '--delay', '0',
               '--topics', T.CAMERA_IMAGE, T.LIDAR_POINTS] + (['--skip-corrupt'] if skip_corrupt else [])
    player = subprocess.run(command, env=ros_env, capture_output=True, text=True, timeout=100)
    assert 'Traceback' not in player.stderr
    if skip_corrupt:
        assert player.returncode == 0, player.stderr
        assert 'skipped 2 damaged messages (/camera/image_raw: 1, /lidar/points: 1)' in player.stdout
        assert 'skipped damaged data' in player.stderr and 'chunk checksum mismatch' in player.stderr
    else:
        assert player.returncode == 1
        error = [line for line in player.stderr.splitlines() if line.startswith('perception-play')]
        assert len(error) == 1 and 'chunk checksum mismatch' in error[0] and '0.100 s into the recording' in error[0]
