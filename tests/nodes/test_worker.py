"""Latest-only processing without ROS: a busy worker keeps only the newest input and counts the others as dropped,
and survives whatever its processing raises."""
import threading
import time

from perception.nodes.worker import LatestOnlyWorker


def wait_until(condition, timeout_s=10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


class Recorder:
    def __init__(self, fail_on=()):
        self.processed, self.errors, self.drops, self.threads = [], [], 0, set()
        self.release, self.busy = threading.Event(), threading.Event()
        self.fail_on = set(fail_on)

    def process(self, item, received_s):
        assert received_s <= time.monotonic()
        self.threads.add(threading.current_thread().name)
        self.busy.set()
        self.release.wait(10)
        if item in self.fail_on:
            raise RuntimeError(f'cannot take {item}')
        self.processed.append(item)

    def drop(self):
        self.drops += 1

    def error(self, item, error):
        self.errors.append((item, str(error)))


def test_a_burst_while_busy_processes_only_the_newest_and_counts_the_rest():
    recorder = Recorder()
    setups = []
    worker = LatestOnlyWorker(recorder.process, recorder.drop, recorder.error,
                              setup=lambda: setups.append(threading.current_thread().name), name='model')
    try:
        worker.submit(0)
        assert recorder.busy.wait(5)
        for item in range(1, 21):  # 20 frames arrive while frame 0 is processed
            worker.submit(item)
        assert not worker.idle()
        recorder.release.set()
        assert wait_until(worker.idle)
        assert recorder.processed == [0, 20]
        assert recorder.drops == 19
        assert setups == ['model'] and recorder.threads == {'model'}
    finally:
        recorder.release.set()
        worker.stop()


def test_an_exception_is_reported_and_the_next_input_is_processed():
    recorder = Recorder(fail_on={'bad'})
    recorder.release.set()
    worker = LatestOnlyWorker(recorder.process, recorder.drop, recorder.error)
    try:
        worker.submit('bad')
        assert wait_until(lambda: recorder.errors)
        worker.submit('good')
        assert wait_until(lambda: recorder.processed)
        assert recorder.errors == [('bad', 'cannot take bad')] and recorder.processed == ['good']
        assert recorder.drops == 0
    finally:
        worker.stop()


def test_stop_ends_the_thread_and_forgets_the_pending_input():
    recorder = Recorder()
    worker = LatestOnlyWorker(recorder.process, recorder.drop, recorder.error)
    worker.submit(1)
    assert recorder.busy.wait(5)
    worker.submit(2)
    stopper = threading.Thread(target=worker.stop)
    stopper.start()
    recorder.release.set()
    stopper.join(10)
    assert not stopper.is_alive() and recorder.processed == [1]
