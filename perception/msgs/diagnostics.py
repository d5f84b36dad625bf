"""/diagnostics of the perception nodes (and replay): one DiagnosticStatus per node and message, with a level, a
one-line message, per-stage latency in milliseconds ('<stage>_ms') and counters. Every value is a number written
as text (KeyValue values are strings): milliseconds with two decimals, counters as integers."""
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
