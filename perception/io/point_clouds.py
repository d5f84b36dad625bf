"""Single LiDAR sweeps from files, as (N, 4) float32 x, y, z, intensity in the sensor frame (metres, intensity in
the file's own scale: each sensor has its own).

    *.bin       float32 x, y, z, intensity (KITTI, SemanticKITTI, RELLIS-3D)
    *.pcd.bin   float32 x, y, z, intensity, ring (nuScenes LIDAR_TOP); the ring is dropped
    *.npz       the kitti_raw layout: ``xyz_cm`` int16 centimetres (N, 3), ``reflectance_x80`` uint8 (reflectance * 80)
    *.pcd       PCD with fields x, y, z and optionally an intensity field (``intensity``, ``i`` or ``reflectance``;
                zeros without one), DATA ascii or binary
    *.npy       SqueezeSeg range images (64, 512, 6): x, y, z, intensity, range, label (`read_squeezeseg`)

A file that does not hold what its suffix promises raises ValueError naming the file.
"""
import zipfile
from pathlib import Path

import numpy as np

SWEEP_SUFFIXES = ('.bin', '.npz', '.pcd')
INTENSITY_FIELDS = ('intensity', 'i', 'reflectance')
_PCD_TYPES = {('F', 4): 'f4', ('F', 8): 'f8', ('I', 1): 'i1', ('I', 2): 'i2', ('I', 4): 'i4', ('I', 8): 'i8',
              ('U', 1): 'u1', ('U', 2): 'u2', ('U', 4): 'u4', ('U', 8): 'u8'}


def sweep_paths(folder) -> list[Path]:
    """The sweep files directly in a folder, sorted by name."""
    return sorted(path for path in Path(folder).iterdir() if path.is_file() and path.suffix in SWEEP_SUFFIXES)


def sweep_stem(path) -> str:
    """The file name without the sweep suffix (``000104.bin`` and ``x.pcd.bin`` -> ``000104``, ``x``)."""
    name = Path(path).name
    return name[:-len('.pcd.bin')] if name.endswith('.pcd.bin') else Path(name).stem


def _float_columns(path: Path, columns: int) -> np.ndarray:
    data = np.fromfile(path, dtype=np.float32)
    if data.size % columns:
        raise ValueError(f'{path}: size is not a multiple of {columns} float32 values')
    return data.reshape(-1, columns)


def read_sweep(path) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity from any of the formats above (chosen by suffix)."""
    path = Path(path)
    if path.name.endswith('.pcd.bin'):
        return np.ascontiguousarray(_float_columns(path, 5)[:, :4])
    if path.suffix == '.bin':
        return _float_columns(path, 4)
    if path.suffix == '.npz':
        return _read_kitti_raw(path)
    if path.suffix == '.pcd':
        return read_pcd(path)
    raise ValueError(f'{path}: not a sweep file (expected one of {", ".join(SWEEP_SUFFIXES)})')


def _read_kitti_raw(path: Path) -> np.ndarray:
    try:
        with np.load(path) as archive:
            xyz_cm, reflectance = archive['xyz_cm'], archive['reflectance_x80']
    except (KeyError, TypeError, ValueError, EOFError, zipfile.BadZipFile) as error:  # TypeError: a lone .npy
        raise ValueError(f'{path}: not a kitti_raw .npz with xyz_cm and reflectance_x80 ({error})') from None
    if xyz_cm.ndim != 2 or xyz_cm.shape[1] != 3 or reflectance.shape != (len(xyz_cm),):
        raise ValueError(f'{path}: xyz_cm must be (N, 3) and reflectance_x80 (N,), got {xyz_cm.shape} and '
                         f'{reflectance.shape}')
    return np.column_stack([xyz_cm / 100.0, reflectance / 80.0]).astype(np.float32)


def _pcd_header(data: bytes, path: Path) -> tuple[dict[str, list[str]], int]:
    """The header fields (keyword -> values) and the offset of the first data byte."""
    header, offset = {}, 0
    while True:
        end = data.find(b'\n', offset)
        if end < 0:
            raise ValueError(f'{path}: PCD header without a DATA line')
        line = data[offset:end].decode('ascii', 'replace').strip()
        offset = end + 1
        if not line or line.startswith('#'):
            continue
        keyword, *values = line.split()
        header[keyword.upper()] = values
        if keyword.upper() == 'DATA':
            return header, offset


def read_pcd(path) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity from a PCD file (ascii or binary; binary_compressed is refused)."""
    path = Path(path)
    data = path.read_bytes()
    header, offset = _pcd_header(data, path)
    try:
        fields, sizes, types = header['FIELDS'], [int(v) for v in header['SIZE']], header['TYPE']
        counts = [int(v) for v in header.get('COUNT', ['1'] * len(fields))]
        points = int(header['POINTS'][0]) if 'POINTS' in header else int(header['WIDTH'][0]) * int(header['HEIGHT'][0])
        kind = header['DATA'][0].lower()
        dtype = np.dtype([(f'{name}_{k}' if name == '_' else name, _PCD_TYPES[(t.upper(), size)], (count,))
                          for k, (name, size, t, count) in enumerate(zip(fields, sizes, types, counts))])
    except (KeyError, IndexError, ValueError, TypeError) as error:
        raise ValueError(f'{path}: malformed PCD header ({error!r})') from None
    if not {'x', 'y', 'z'} <= set(fields):
        raise ValueError(f'{path}: PCD has no x, y, z fields (fields: {" ".join(fields)})')
    if kind == 'binary':
        if len(data) - offset < points * dtype.itemsize:
            raise ValueError(f'{path}: {points} points announced, {len(data) - offset} data bytes')
        cloud = np.frombuffer(data, dtype, count=points, offset=offset)
    elif kind == 'ascii':
        values = np.array(data[offset:].split(), dtype=np.float64)
        width = sum(counts)
        if values.size != points * width:
            raise ValueError(f'{path}: {points} points of {width} values announced, {values.size} values found')
        table = values.reshape(points, width)
        starts = np.cumsum([0] + counts)
        cloud = {name: table[:, start:start + count] for name, start, count in zip(fields, starts, counts)}
    else:
        raise ValueError(f'{path}: PCD DATA {kind} is not supported (ascii or binary)')
    intensity = next((name for name in INTENSITY_FIELDS if name in fields), None)
    columns = [cloud[axis][:, 0] for axis in 'xyz']
    columns.append(cloud[intensity][:, 0] if intensity else np.zeros(points))
    return np.column_stack(columns).astype(np.float32)


def read_squeezeseg(path) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 4) float32 x, y, z, intensity and labels (N,) uint8 of the pixels with a return (range > 0),
    row by row, from a SqueezeSeg range image (64, 512, 6)."""
    path = Path(path)
    try:
        image = np.load(path)
    except (OSError, ValueError) as error:
        raise ValueError(f'{path}: not a numpy array file ({error})') from None
    if image.ndim != 3 or image.shape[2] != 6:
        raise ValueError(f'{path}: expected a (rows, columns, 6) SqueezeSeg range image, got {image.shape}')
    returned = image[..., 4] > 0
    return image[returned][:, :4].astype(np.float32), image[returned][:, 5].astype(np.uint8)
