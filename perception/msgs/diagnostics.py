"""/diagnostics of the perception nodes (and replay): one DiagnosticStatus per node and message, with a level, a
one-line message, per-stage latency in milliseconds ('<stage>_ms') and counters. Every value is a number written
as text (KeyValue values are strings): milliseconds with two decimals, counters as integers."""
import threading

from perception.msgs.types import MessageTypes, make_header

OK, WARN, ERROR = 'OK', 'WARN', 'ERROR'  # names of the diagnostic_msgs/DiagnosticStatus level constants


def node_diagnostics(types: MessageTypes, node: str, stamp_ns: int, *, level: str = OK, message: str = 'ok',
                     timing_ms: dict | None = None, counters: dict | None = None):
    """DiagnosticArray with one status named 'perception/<node>'. ValueError for an unknown level or a counter
    that is not an integer."""
    if level not in (OK, WARN, ERROR):
        raise ValueError(f'diagnostic level must be OK, WARN or ERROR, not {level!r}')
    values = [types.KeyValue(key=f'{stage}_ms', value=f'{float(ms):.2f}') for stage, ms in (timing_ms or {}).items()]
    for key, count in (counters or {}).items():
        if int(count) != count:
            raise ValueError(f'counter {key} is not an integer: {count!r}')
        values.append(types.KeyValue(key=key, value=str(int(count))))
    status = types.DiagnosticStatus(level=getattr(types.DiagnosticStatus, level), name=f'perception/{node}',
                                    message=message, hardware_id='', values=values)
    return types.DiagnosticArray(header=make_header(types, '', stamp_ns), status=[status])


class NodeHealth:
    """What an operator needs to know about one node, gathered between two /diagnostics publications.

    The node reports each input it receives (`received`), each input it skipped for a newer one (`dropped`), each
    input its processing raised on (`rejected`, per cause), each result it published (`processed`, with the stage
    timings and the latency since the input's stamp) and anything else worth a warning (`warn`). `status()` turns
    the period since the last call into a level and a one-line message, and starts a new period:
    - ERROR: an input has been silent for longer than its timeout (since start-up or its last message), or an input
      was rejected in the period;
    - WARN: inputs were dropped (the node cannot keep up with its input rate), a latency exceeded the budget, or a
      node-specific warning;
    - OK otherwise.
    Times are int nanoseconds of one clock (the node's); latencies are milliseconds. Thread-safe: the executor, the
    worker thread and the publishing timer report concurrently.
    """

    def __init__(self, timeouts_s: dict[str, float], latency_budget_ms: float, now_ns: int):
        self._lock = threading.Lock()
        self.timeouts_s, self.latency_budget_ms = dict(timeouts_s), latency_budget_ms
        self.last_received_ns = {name: now_ns for name in timeouts_s}
        self.totals = {'received': 0, 'processed': 0, 'dropped': 0, 'rejected': 0}
        self.rejected_by_cause: dict[str, int] = {}
        self.last_timing_ms: dict[str, float] = {}
        self._new_period()

    def _new_period(self) -> None:
        self._period = {'received': 0, 'processed': 0, 'dropped': 0, 'latency_ms': [], 'input_age_ms': [],
                        'rejected': {}, 'warnings': []}

    def received(self, name: str, now_ns: int) -> None:
        with self._lock:
            self._received(name, now_ns)

    def _received(self, name: str, now_ns: int) -> None:
        self.last_received_ns[name] = now_ns
        self.totals['received'] += 1
        self._period['received'] += 1

    def dropped(self, count: int = 1) -> None:
        """Inputs skipped unprocessed because a newer one arrived (latest-only processing)."""
        if count:
            with self._lock:
                self.totals['dropped'] += count
                self._period['dropped'] += count

    def rejected(self, name: str, error: BaseException) -> bool:
        """Count an input of `name` whose processing raised `error`; True the first time this cause is seen (so
        the node logs each cause once)."""
        with self._lock:
            return self._rejected(name, error)

    def _rejected(self, name: str, error: BaseException) -> bool:
        kind = type(error)
        cause = f'{name}.{kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"}'
        first = cause not in self.rejected_by_cause
        self.rejected_by_cause[cause] = self.rejected_by_cause.get(cause, 0) + 1
        self.totals['rejected'] += 1
        self._period['rejected'].setdefault(cause, str(error).splitlines()[0] if str(error) else kind.__name__)
        return first

    def processed(self, timing_ms: dict, latency_ms: float, input_age_ms: float) -> None:
        """A published result: its stage timings, the latency from its input's stamp to publication and the input's
        age when processing began."""
        with self._lock:
            self._processed(timing_ms, latency_ms, input_age_ms)

    def _processed(self, timing_ms: dict, latency_ms: float, input_age_ms: float) -> None:
        self.totals['processed'] += 1
        self._period['processed'] += 1
        self._period['latency_ms'].append(latency_ms)
        self._period['input_age_ms'].append(input_age_ms)
        self.last_timing_ms = dict(timing_ms)

    def warn(self, message: str) -> None:
        with self._lock:
            if message not in self._period['warnings']:
                self._period['warnings'].append(message)

    def status(self, now_ns: int) -> tuple[str, str, dict, dict]:
        """(level, message, timing_ms, counters) of the period since the last call; starts a new period."""
        with self._lock:
            return self._status(now_ns)

    def _status(self, now_ns: int) -> tuple[str, str, dict, dict]:
        period, errors, warnings = self._period, [], []
        for name, timeout in self.timeouts_s.items():
            silent_s = (now_ns - self.last_received_ns[name]) / 1e9
            if silent_s > timeout:
                errors.append(f'no {name} for {silent_s:.1f} s (timeout {timeout:g} s)')
        for cause, first_message in period['rejected'].items():
            errors.append(f'rejected {cause}: {first_message}')
        if period['dropped']:
            warnings.append(f'cannot keep up: dropped {period["dropped"]} of {period["received"]} inputs '
                            f'(processing {self.last_timing_ms.get("total", 0.0):.0f} ms)')
        latency = max(period['latency_ms'], default=0.0)
        if latency > self.latency_budget_ms:
            warnings.append(f'latency {latency:.0f} ms over the {self.latency_budget_ms:g} ms budget')
        warnings += period['warnings']
        level = ERROR if errors else WARN if warnings else OK
        timing = {**self.last_timing_ms}
        if period['latency_ms']:
            timing.update(latency=latency, input_age=max(period['input_age_ms']))
        counters = {**self.totals, **{f'rejected.{cause}': n for cause, n in self.rejected_by_cause.items()}}
        self._new_period()
        return level, '; '.join(errors + warnings) or 'ok', timing, counters
