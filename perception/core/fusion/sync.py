"""Approximate-time pairing of camera results with LiDAR sweeps, with a deadline: a sweep whose camera frame is
late or missing goes out LiDAR-only instead of waiting (what message_filters' ApproximateTimeSynchronizer cannot do:
it drops unmatched messages silently).

Pairing is by stamp, whatever order sweeps and camera frames arrive in: a camera frame waits in the queue until a
sweep takes it (or the queue overflows), so a stream whose stamps go back (t, t-0.1, t-0.2 s) still pairs."""
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class SyncConfig:
    slop_s: float = 0.05          # largest stamp difference of a camera frame and a sweep that belong together
    queue_size: int = 10          # pending sweeps and camera frames kept, oldest dropped first
    camera_timeout_s: float = 0.5  # a sweep waits at most this long (receive time) for its camera frame


@dataclass
class _PendingSweep:
    stamp_ns: int
    item: object
    received_ns: int
    in_order: bool                # newer than every sweep before it
    camera_passed: bool = False   # the camera stream, running forward, is past stamp + slop


class StampMatcher:
    def __init__(self, config: SyncConfig = SyncConfig()):
        self.config = config
        self._cameras = deque(maxlen=config.queue_size)  # (stamp_ns, item), in arrival order
        self._sweeps: deque[_PendingSweep] = deque()
        self._newest_sweep = self._newest_camera = None
        self.dropped_sweeps = 0

    def add_camera(self, stamp_ns: int, item) -> None:
        if self._newest_camera is None or stamp_ns > self._newest_camera:
            self._newest_camera = stamp_ns
            for sweep in self._sweeps:
                if sweep.in_order and stamp_ns > sweep.stamp_ns + self.config.slop_s * 1e9:
                    sweep.camera_passed = True
        self._cameras.append((stamp_ns, item))

    def add_sweep(self, stamp_ns: int, item, received_ns: int) -> None:
        if len(self._sweeps) == self.config.queue_size:
            self._sweeps.popleft()
            self.dropped_sweeps += 1
        in_order = self._newest_sweep is None or stamp_ns > self._newest_sweep
        self._newest_sweep = stamp_ns if in_order else self._newest_sweep
        slop = self.config.slop_s * 1e9
        passed = in_order and self._newest_camera is not None and self._newest_camera > stamp_ns + slop
        self._sweeps.append(_PendingSweep(stamp_ns, item, received_ns, in_order, passed))

    def _best_camera(self, stamp_ns: int):
        slop = self.config.slop_s * 1e9
        candidates = [(abs(c - stamp_ns), i) for i, (c, _) in enumerate(self._cameras) if abs(c - stamp_ns) <= slop]
        return min(candidates)[1] if candidates else None

    def ready(self, now_ns: int, flush: bool = False) -> list[tuple[int, object, object | None]]:
        """Sweeps that can go out now, in stamp order: (stamp_ns, sweep, camera item or None for LiDAR-only).

        A sweep goes out with its best camera frame within the slop; LiDAR-only once it has waited
        camera_timeout_s, when flushing (end of a recording), or early when it came in stamp order and the newest
        camera frame is past its stamp + slop (its own frame will not come). A sweep still waiting never holds back
        the others."""
        out, waiting = [], deque()
        timeout = self.config.camera_timeout_s * 1e9
        for sweep in sorted(self._sweeps, key=lambda pending: pending.stamp_ns):
            match = self._best_camera(sweep.stamp_ns)
            if match is not None:
                camera = self._cameras[match][1]
                del self._cameras[match]
            elif flush or now_ns - sweep.received_ns >= timeout or sweep.camera_passed:
                camera = None
            else:
                waiting.append(sweep)
                continue
            out.append((sweep.stamp_ns, sweep.item, camera))
        self._sweeps = waiting
        return out
