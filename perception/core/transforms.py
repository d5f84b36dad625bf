"""A small transform buffer (what tf2 does, for places without tf2_ros): static and time-stamped transforms
between named frames, looked up along the frame tree with interpolation in time."""
import bisect

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from perception.core.geometry import invert_transform


class TransformError(LookupError):
    pass


class TransformTree:
    def __init__(self):
        self._parent: dict[str, str] = {}
        self._static: dict[str, np.ndarray] = {}                        # child -> parent_T_child
        self._dynamic: dict[str, tuple[list[int], list[np.ndarray]]] = {}  # child -> (stamps, parent_T_child)

    def _link(self, parent: str, child: str) -> None:
        if self._parent.get(child, parent) != parent:
            raise TransformError(f'frame {child} already has parent {self._parent[child]}, not {parent}')
        self._parent[child] = parent

    def add_static(self, parent: str, child: str, parent_T_child: np.ndarray) -> None:
        self._link(parent, child)
        self._static[child] = np.asarray(parent_T_child, float)

    def add(self, parent: str, child: str, stamp_ns: int, parent_T_child: np.ndarray) -> None:
        self._link(parent, child)
        stamps, matrices = self._dynamic.setdefault(child, ([], []))
        i = bisect.bisect(stamps, stamp_ns)
        stamps.insert(i, stamp_ns)
        matrices.insert(i, np.asarray(parent_T_child, float))

    @property
    def frames(self) -> set[str]:
        return set(self._parent) | set(self._parent.values())

    def _edge(self, child: str, stamp_ns: int | None) -> np.ndarray:
        if child in self._static:
            return self._static[child]
        stamps, matrices = self._dynamic[child]
        if stamp_ns is None or stamp_ns == stamps[-1]:
            return matrices[-1]
        if stamp_ns == stamps[0]:
            return matrices[0]
        if not stamps[0] < stamp_ns < stamps[-1]:
            raise TransformError(f'no transform {self._parent[child]} -> {child} at {stamp_ns} ns: it would need '
                                 f'extrapolation (have {stamps[0]}..{stamps[-1]})')
        i = bisect.bisect_left(stamps, stamp_ns)  # stamps[i - 1] < stamp_ns <= stamps[i]
        (t0, t1), (a, b) = stamps[i - 1:i + 1], matrices[i - 1:i + 1]
        w = (stamp_ns - t0) / (t1 - t0)
        out = np.eye(4)
        out[:3, :3] = Slerp([0, 1], Rotation.from_matrix([a[:3, :3], b[:3, :3]]))(w).as_matrix()
        out[:3, 3] = (1 - w) * a[:3, 3] + w * b[:3, 3]
        return out

    def _to_root(self, frame: str, stamp_ns: int | None) -> tuple[list[str], list[np.ndarray]]:
        chain, transforms = [frame], [np.eye(4)]
        while chain[-1] in self._parent:
            transforms.append(self._edge(chain[-1], stamp_ns) @ transforms[-1])  # ancestor_T_frame
            chain.append(self._parent[chain[-1]])
            if len(chain) > 64:
                raise TransformError(f'frame tree loops at {frame}')
        return chain, transforms

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> np.ndarray:
        """target_T_source at stamp_ns (None: the latest), composing through the nearest common ancestor."""
        for frame in (target, source):
            if frame not in self.frames:
                raise TransformError(f'unknown frame {frame!r} (known: {", ".join(sorted(self.frames)) or "none"})')
        source_chain, source_T = self._to_root(source, stamp_ns)
        target_chain, target_T = self._to_root(target, stamp_ns)
        common = next((f for f in source_chain if f in target_chain), None)
        if common is None:
            raise TransformError(f'frames {target} and {source} are not connected')
        ancestor_T_source = source_T[source_chain.index(common)]
        ancestor_T_target = target_T[target_chain.index(common)]
        return invert_transform(ancestor_T_target) @ ancestor_T_source
