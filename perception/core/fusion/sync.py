"""Approximate-time pairing of camera results with LiDAR sweeps, with a deadline: a sweep whose camera frame is
late or missing goes out LiDAR-only instead of waiting (what message_filters' ApproximateTimeSynchronizer cannot do:
it drops unmatched messages silently)."""
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class SyncConfig:
    slop_s: float = 0.05          # largest stamp difference of a camera frame and a sweep that belong together
    queue_size: int = 10          # pending sweeps and camera frames kept, oldest dropped first
    camera_timeout_s: float = 0.5  # a sweep waits at most this long (receive time) for its camera frame


class StampMatcher:
    def __init__(self, config: SyncConfig = SyncConfig()):
        self.config = config
        self._cameras = deque(maxlen=config.queue_size)  # (stamp_ns, item)
        self._sweeps = deque(maxlen=config.queue_size)   # (stamp_ns, item, received_ns)
        self.dropped_sweeps = 0

    def add_camera(self, stamp_ns: int, item) -> None:
        self._cameras.append((stamp_ns, item))

    def add_sweep(self, stamp_ns: int, item, received_ns: int) -> None:
        if len(self._sweeps) == self._sweeps.maxlen:
            self.dropped_sweeps += 1
        self._sweeps.append((stamp_ns, item, received_ns))

    def _best_camera(self, stamp_ns: int):
        slop = self.config.slop_s * 1e9
        candidates = [(abs(c - stamp_ns), i) for i, (c, _) in enumerate(self._cameras) if abs(c - stamp_ns) <= slop]
        return min(candidates)[1] if candidates else None

    def ready(self, now_ns: int, flush: bool = False) -> list[tuple[int, object, object | None]]:
        """Sweeps that can go out now, in stamp order: (stamp_ns, sweep, camera item or None for LiDAR-only).

        A sweep goes out with its best camera frame within the slop; LiDAR-only once a camera frame newer than
        its stamp + slop has arrived (its own frame will not come), once it has waited camera_timeout_s, or when
        flushing (end of a recording)."""
        out = []
        slop, timeout = self.config.slop_s * 1e9, self.config.camera_timeout_s * 1e9
        while self._sweeps:
            stamp, sweep, received = self._sweeps[0]
            match = self._best_camera(stamp)
            if match is not None:
                camera = self._cameras[match][1]
                del self._cameras[match]
            elif flush or now_ns - received >= timeout or any(c > stamp + slop for c, _ in self._cameras):
                camera = None
            else:
                break
            self._sweeps.popleft()
            out.append((stamp, sweep, camera))
            while self._cameras and self._cameras[0][0] < stamp - slop:  # too old for any later sweep
                self._cameras.popleft()
        return out
