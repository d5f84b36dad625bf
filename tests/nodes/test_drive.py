"""perception-drive's supervision of one process per node, without ROS: a node that exits stops the graph with
status 1, a stop request ends every node cleanly, and a missing parameter file is a one-line error."""
import sys
import threading
import time

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


def test_a_missing_parameter_file_is_one_line(tmp_path, capsys):
    assert main(['--params', str(tmp_path / 'none.yaml')]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'no parameter file' in err
