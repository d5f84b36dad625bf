"""Read and write the SemanticKITTI layout: LiDAR sweeps, point labels, calibration and poses.

    ROOT/sequences/SS/velodyne/NNNNNN.bin    float32 (N, 4): x, y, z in metres (sensor frame), intensity in [0, 1]
    ROOT/sequences/SS/labels/NNNNNN.label    uint32 (N,): raw SemanticKITTI semantic id | instance id << 16
    ROOT/sequences/SS/calib.txt              'NAME: 12 floats' per line, each a row-major 3x4 matrix (P0..P3, Tr)
    ROOT/sequences/SS/poses.txt              12 floats per frame: row-major 3x4 pose in the first frame's frame

Sequences are named by two digits (``0`` -> ``00``), frames by six. In memory, labels are our taxonomy ids
(uint8, 255 = ignore) and instance ids uint32 (0 = none): the files hold raw SemanticKITTI ids, converted through
`perception.taxonomy` (``to_semantickitti`` on writing, ``from_semantickitti`` on reading). Instance ids must fit
16 bits; SemanticKITTI numbers instances per sequence, so an instance keeps its id across frames.

Exporting a sequence (what the simulator does)::

    for frame, (points, labels, instance) in enumerate(sweeps):
        write_frame(root, 0, frame, points, labels, instance)
    write_calib(root, 0, {'P0': P0, 'P1': P1, 'P2': P2, 'P3': P3, 'Tr': lidar_to_camera[:3]})
    write_poses(root, 0, poses)   # (M, 4, 4), one per frame
"""
from pathlib import Path

import numpy as np

from perception.core.clouds import pack_point_labels, unpack_point_labels
from perception.taxonomy import Taxonomy, load_taxonomy


def sequence_dir(root: str | Path, sequence: int | str) -> Path:
    return Path(root) / 'sequences' / f'{int(sequence):02d}'


def frame_paths(root: str | Path, sequence: int | str, frame: int) -> tuple[Path, Path]:
    """The .bin and .label paths of one frame."""
    directory = sequence_dir(root, sequence)
    return directory / 'velodyne' / f'{frame:06d}.bin', directory / 'labels' / f'{frame:06d}.label'


def list_frames(root: str | Path, sequence: int | str) -> list[int]:
    """Frame numbers of the sequence's sweeps, sorted."""
    return sorted(int(path.stem) for path in (sequence_dir(root, sequence) / 'velodyne').glob('*.bin'))


def read_points(path: str | Path) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity from a .bin file."""
    data = np.fromfile(path, dtype=np.float32)
    if data.size % 4:
        raise ValueError(f'{path}: size is not a multiple of 4 float32 values')
    return data.reshape(-1, 4)


def write_points(path: str | Path, points: np.ndarray) -> None:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 4:
        raise ValueError(f'points must be (N, 4) x, y, z, intensity, got shape {points.shape}')
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    points.astype(np.float32).tofile(path)


def encode_labels(labels: np.ndarray, instance: np.ndarray | None = None,
                  taxonomy: Taxonomy | None = None) -> np.ndarray:
    """Our ids (N,) and instance ids (N,) -> (N,) uint32 raw semantic id | instance << 16."""
    taxonomy = taxonomy or load_taxonomy()
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError('labels must be our taxonomy ids in [0, 255]')
    raw = taxonomy.to_semantickitti[labels.astype(np.intp)].astype(np.uint32)
    if instance is None:
        return raw
    instance = np.asarray(instance)
    if instance.shape != labels.shape:
        raise ValueError(f'instance shape {instance.shape} differs from labels shape {labels.shape}')
    if instance.size and (instance.min() < 0 or instance.max() > 0xFFFF):
        raise ValueError('instance ids must lie in [0, 65535] (16 bits in a .label file)')
    return pack_point_labels(raw, instance)


def decode_labels(raw: np.ndarray, taxonomy: Taxonomy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(N,) uint32 raw labels -> our ids (N,) uint8 (unmapped raw ids -> ignore) and instance ids (N,) uint32."""
    taxonomy = taxonomy or load_taxonomy()
    semantic, instance = unpack_point_labels(raw)
    return taxonomy.from_semantickitti[semantic], instance


def read_labels(path: str | Path, taxonomy: Taxonomy | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Our ids (N,) uint8 and instance ids (N,) uint32 from a .label file."""
    return decode_labels(np.fromfile(path, dtype=np.uint32), taxonomy)


def write_labels(path: str | Path, labels: np.ndarray, instance: np.ndarray | None = None,
                 taxonomy: Taxonomy | None = None) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    encode_labels(labels, instance, taxonomy).tofile(path)


def write_frame(root: str | Path, sequence: int | str, frame: int, points: np.ndarray,
                labels: np.ndarray | None = None, instance: np.ndarray | None = None,
                taxonomy: Taxonomy | None = None) -> Path:
    """Write one sweep (N, 4) and, when given, its labels (N,) our ids and instance ids (N,); returns the .bin."""
    points_path, labels_path = frame_paths(root, sequence, frame)
    if labels is not None and len(labels) != len(points):
        raise ValueError(f'{len(labels)} labels for {len(points)} points')
    write_points(points_path, points)
    if labels is not None:
        write_labels(labels_path, labels, instance, taxonomy)
    return points_path


def read_frame(root: str | Path, sequence: int | str, frame: int, taxonomy: Taxonomy | None = None):
    """(points (N, 4) float32, labels (N,) uint8 or None, instance (N,) uint32 or None) of one frame."""
    points_path, labels_path = frame_paths(root, sequence, frame)
    points = read_points(points_path)
    if not labels_path.exists():
        return points, None, None
    labels, instance = read_labels(labels_path, taxonomy)
    if len(labels) != len(points):
        raise ValueError(f'{labels_path}: {len(labels)} labels for {len(points)} points')
    return points, labels, instance


def _matrix_line(name: str | None, matrix: np.ndarray) -> str:
    values = ' '.join(f'{v:.12e}' for v in np.asarray(matrix, float)[:3, :4].ravel())
    return f'{name}: {values}' if name else values


def write_calib(root: str | Path, sequence: int | str, calib: dict[str, np.ndarray]) -> None:
    """calib.txt from named 3x4 (or 4x4, last row dropped) matrices, e.g. P0..P3 and Tr (velodyne -> camera 0)."""
    path = sequence_dir(root, sequence) / 'calib.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(_matrix_line(name, matrix) + '\n' for name, matrix in calib.items()))


def read_calib(root: str | Path, sequence: int | str) -> dict[str, np.ndarray]:
    """Named 4x4 matrices (bottom row 0 0 0 1) from calib.txt."""
    calib = {}
    for line in (sequence_dir(root, sequence) / 'calib.txt').read_text().splitlines():
        if line.strip():
            name, values = line.split(':', 1)
            calib[name.strip()] = _to_4x4(np.array(values.split(), float))
    return calib


def _to_4x4(values: np.ndarray) -> np.ndarray:
    if values.size != 12:
        raise ValueError(f'expected 12 values for a 3x4 matrix, got {values.size}')
    return np.vstack([values.reshape(3, 4), [0.0, 0.0, 0.0, 1.0]])


def write_poses(root: str | Path, sequence: int | str, poses: np.ndarray) -> None:
    """poses.txt from (M, 4, 4) or (M, 3, 4) poses, one per frame."""
    path = sequence_dir(root, sequence) / 'poses.txt'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(_matrix_line(None, pose) + '\n' for pose in np.asarray(poses)))


def read_poses(root: str | Path, sequence: int | str) -> np.ndarray:
    """(M, 4, 4) poses from poses.txt."""
    lines = (sequence_dir(root, sequence) / 'poses.txt').read_text().split('\n')
    return np.array([_to_4x4(np.array(line.split(), float)) for line in lines if line.strip()]).reshape(-1, 4, 4)
