"""perception-drive's supervision of one process per node, without ROS: a node that exits stops the graph with
status 1, a stop request ends every node cleanly, and a missing parameter file is a one-line error."""
import sys
import threading
import time

import pytest

from perception.nodes.drive import main, node_command, run_graph

SLEEPER = [sys.executable, '-c', 'import sys, time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n'
           '    sys.exit(0)']


def test_a_node_that_exits_stops_the_others_and_the_graph_fails(capsys):
    started = time.monotonic()
    status = run_graph({'camera_segmentation': SLEEPER, 'fusion': [sys.executable, '-c', 'raise SystemExit(3)']},
                       threading.Event(), grace_s=10)
    assert status == 1 and time.monotonic() - started < 20
    assert 'fusion exited with status 3; stopping the graph' in capsys.readouterr().err


def test_a_stop_request_ends_every_node():
    event = threading.Event()
    stop = threading.Timer(1.0, event.set)
    stop.start()
    started = time.monotonic()
    assert run_graph({'a': SLEEPER, 'b': SLEEPER}, event, grace_s=10) == 0
    assert time.monotonic() - started < 15


def test_each_node_runs_as_its_own_module():
    assert node_command('fusion', ['--ros-args'])[1:] == ['-m', 'perception.nodes.fusion', '--ros-args']


@pytest.mark.parametrize('content, message', [
    (None, 'no such parameter file'),
    (b'\x7fELF\x02\x01\x01\x00', 'not a YAML parameter file'),
    (b'fusion:\n  ros__parameters:\n    sync: {slop_s: 0.05}\n', "no ros__parameters for node 'camera_segmentation'"),
])
def test_a_missing_or_non_parameter_file_is_one_line(tmp_path, capsys, content, message):
    """Checked before any node starts (rclpy would print a traceback from each node's process)."""
    params = tmp_path / 'params.yaml'
    if content is not None:
        params.write_bytes(content)
    assert main(['--params', str(params)]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and message in err
