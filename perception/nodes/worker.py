"""Latest-only processing: a node's heavy work runs on its own thread and always takes the newest input.

The subscription callback only hands the message over (`submit`), so the executor keeps taking messages while a
model runs. An input that arrives while another is still waiting replaces it, and the replaced one is counted as
dropped: a node slower than its input skips frames instead of queueing them, and its latency cannot grow with the
length of the run. No rclpy here: tests drive it directly.
"""
import threading
import time
from typing import Any, Callable


class LatestOnlyWorker:
    """One thread that runs `process(item, received_s)` on the newest submitted item.

    `received_s` is the time.monotonic() of the submission. `on_drop()` is called for each replaced item,
    `on_error(item, error)` for an exception `process` raises (the worker keeps running), and `setup()` once on the
    worker thread before anything else (for per-thread settings such as torch's thread count).
    """

    def __init__(self, process: Callable[[Any, float], None], on_drop: Callable[[], None],
                 on_error: Callable[[Any, Exception], None], setup: Callable[[], None] | None = None,
                 name: str = 'latest-only'):
        self._process, self._on_drop, self._on_error, self._setup = process, on_drop, on_error, setup
        self._ready = threading.Condition()
        self._pending: tuple[Any, float] | None = None
        self._busy = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, item: Any) -> None:
        with self._ready:
            replaced = self._pending is not None
            self._pending = (item, time.monotonic())
            self._ready.notify_all()
        if replaced:
            self._on_drop()

    def idle(self) -> bool:
        """Nothing pending and nothing being processed."""
        with self._ready:
            return self._pending is None and not self._busy

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the item in progress, forget a pending one, and end the thread."""
        with self._ready:
            self._stopped = True
            self._pending = None
            self._ready.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        if self._setup is not None:
            self._setup()
        while True:
            with self._ready:
                while self._pending is None and not self._stopped:
                    self._ready.wait()
                if self._stopped:
                    return
                (item, received_s), self._pending = self._pending, None
                self._busy = True
            try:
                self._process(item, received_s)
            except Exception as error:  # noqa: BLE001 - any exception of one input must not end the worker
                self._on_error(item, error)
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()
