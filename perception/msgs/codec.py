"""numpy <-> sensor_msgs / geometry_msgs: PointCloud2, Image, CameraInfo and TransformStamped.

Readers are duck-typed: they accept any object with the message's fields and return views of its `data` where they
can. Builders take a `MessageTypes` naming the classes to instantiate (`rclpy_types()` or `rosbags_types()`).
Malformed messages raise `ValueError` with a one-line message.
"""
from typing import NamedTuple

import numpy as np

from perception.core.geometry import CameraIntrinsics, make_transform, transform_to_quaternion
from perception.msgs.types import MessageTypes, make_header, stamp_to_ns


# PointCloud2 ------------------------------------------------------------------------------------------------------

_POINTFIELD_DATATYPES = {'i1': 1, 'u1': 2, 'i2': 3, 'u2': 4, 'i4': 5, 'u4': 6, 'f4': 7, 'f8': 8}  # INT8..FLOAT64
_POINTFIELD_CODES = {datatype: code for code, datatype in _POINTFIELD_DATATYPES.items()}


def _point_dtype(msg) -> np.dtype:
    """One point of `msg` as a structured dtype: its fields at their offsets, itemsize point_step."""
    if not msg.fields:
        raise ValueError('PointCloud2 has no fields')
    byte_order = '>' if msg.is_bigendian else '<'
    names, formats, offsets = [], [], []
    for field in msg.fields:
        code = _POINTFIELD_CODES.get(field.datatype)
        if code is None:
            raise ValueError(f'PointField {field.name!r} has unknown datatype {field.datatype}')
        if field.count < 1:
            raise ValueError(f'PointField {field.name!r} has count {field.count}; expected at least 1')
        names.append(field.name)
        formats.append(byte_order + code if field.count == 1 else (byte_order + code, (field.count,)))
        offsets.append(field.offset)
    if len(set(names)) != len(names):
        raise ValueError(f'PointCloud2 has duplicate field names: {names}')
    end = max(offset + np.dtype(fmt).itemsize for offset, fmt in zip(offsets, formats))
    if msg.point_step < end:
        raise ValueError(f'PointCloud2 point_step {msg.point_step} is smaller than its fields (they end at byte {end})')
    return np.dtype({'names': names, 'formats': formats, 'offsets': offsets, 'itemsize': msg.point_step})


def pointcloud2_to_array(msg, organized: bool = False) -> np.ndarray:
    """The points of a PointCloud2 as a structured array with one named field per PointField.

    Shape (height * width,), or (height, width) with `organized=True`. A field with count n > 1 becomes a subarray
    of shape (n,). Little-endian clouds give a zero-copy view of `msg.data` (flattening an organised cloud whose
    rows are padded copies it); big-endian clouds are converted to native byte order.
    """
    dtype = _point_dtype(msg)
    if msg.row_step < msg.width * msg.point_step:
        raise ValueError(f'PointCloud2 row_step {msg.row_step} is smaller than width*point_step '
                         f'= {msg.width}*{msg.point_step}')
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != msg.height * msg.row_step:
        raise ValueError(f'PointCloud2 data has {data.size} bytes; expected height*row_step '
                         f'= {msg.height}*{msg.row_step}')
    points = np.ndarray((msg.height, msg.width), dtype, buffer=data, strides=(msg.row_step, msg.point_step))
    if msg.is_bigendian:
        points = points.astype(dtype.newbyteorder('='))
    return points if organized else points.reshape(-1)


def array_to_pointcloud2(types: MessageTypes, points: np.ndarray, frame_id: str, stamp_ns: int):
    """A little-endian PointCloud2 from a structured array of shape (N,) or (height, width) (organised).

    Fields keep their dtype offsets and point_step is the dtype's itemsize, so padding is kept. A subarray field of
    n values gets count n. is_dense is False when any x/y/z is NaN or inf.
    """
    points = np.asarray(points)
    if points.dtype.names is None or points.ndim not in (1, 2):
        raise ValueError(f'points must be a structured array of shape (N,) or (H, W); got {points.dtype} '
                         f'{points.shape}')
    little_endian = points.dtype.newbyteorder('<')
    if points.dtype != little_endian:
        points = points.astype(little_endian)
    fields = []
    for name in points.dtype.names:
        field_dtype, offset = points.dtype.fields[name][:2]
        datatype = _POINTFIELD_DATATYPES.get(field_dtype.base.str[1:])
        if datatype is None:
            raise ValueError(f'field {name!r} has dtype {field_dtype.base}, which no PointField datatype describes')
        fields.append(types.PointField(name=name, offset=offset, datatype=datatype,
                                       count=int(np.prod(field_dtype.shape))))
    height, width = points.shape if points.ndim == 2 else (1, points.shape[0])
    is_dense = all(np.isfinite(points[name]).all() for name in 'xyz' if name in points.dtype.names)
    point_step = points.dtype.itemsize
    return types.with_bytes(types.PointCloud2, points, header=make_header(types, frame_id, stamp_ns), height=height,
                            width=width, fields=fields, is_bigendian=False, point_step=point_step,
                            row_step=point_step * width, is_dense=is_dense)


# Image ------------------------------------------------------------------------------------------------------------

IMAGE_ENCODINGS = {  # encoding: (dtype, channels)
    'rgb8': (np.dtype(np.uint8), 3), 'bgr8': (np.dtype(np.uint8), 3),
    'mono8': (np.dtype(np.uint8), 1), '8UC1': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1), '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1), '32SC1': (np.dtype(np.int32), 1),
}


def _image_layout(encoding: str) -> tuple[np.dtype, int]:
    try:
        return IMAGE_ENCODINGS[encoding]
    except KeyError:
        raise ValueError(f'unsupported image encoding {encoding!r}; supported: {", ".join(IMAGE_ENCODINGS)}') from None


def image_to_array(msg) -> np.ndarray:
    """(H, W, 3) for rgb8/bgr8 (channels as encoded), else (H, W).

    Little-endian images give a zero-copy view of `msg.data`, strided by `step` when rows are padded (use
    np.ascontiguousarray where a contiguous array is needed); big-endian images are converted to native byte order.
    """
    dtype, channels = _image_layout(msg.encoding)
    dtype = dtype.newbyteorder('>' if msg.is_bigendian else '<')
    pixel_bytes = channels * dtype.itemsize
    if msg.step < msg.width * pixel_bytes:
        raise ValueError(f'Image step {msg.step} is smaller than width*{pixel_bytes} = {msg.width * pixel_bytes} '
                         f'for {msg.encoding}')
    data = np.frombuffer(msg.data, np.uint8)
    if data.size != msg.height * msg.step:
        raise ValueError(f'Image data has {data.size} bytes; expected height*step = {msg.height}*{msg.step}')
    image = np.ndarray((msg.height, msg.width, channels), dtype, buffer=data,
                       strides=(msg.step, pixel_bytes, dtype.itemsize))
    if msg.is_bigendian:
        image = image.astype(dtype.newbyteorder('='))
    return image if channels > 1 else image[:, :, 0]


def array_to_image(types: MessageTypes, image: np.ndarray, encoding: str, frame_id: str, stamp_ns: int):
    """A little-endian Image without row padding; the array's dtype and channel count must match `encoding`."""
    dtype, channels = _image_layout(encoding)
    image = np.asarray(image)
    if channels == 1 and image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    expected_shape = '(H, W, 3)' if channels == 3 else '(H, W)'
    if image.ndim != (3 if channels > 1 else 2) or (channels > 1 and image.shape[2] != channels):
        raise ValueError(f'{encoding} needs an array of shape {expected_shape}; got {image.shape}')
    if image.dtype.str[1:] != dtype.str[1:]:
        raise ValueError(f'{encoding} needs dtype {dtype}; got {image.dtype}')
    image = image.astype(dtype.newbyteorder('<'), copy=False)
    height, width = image.shape[:2]
    return types.with_bytes(types.Image, image, header=make_header(types, frame_id, stamp_ns), height=height,
                            width=width, encoding=encoding, is_bigendian=0, step=width * channels * dtype.itemsize)


# CameraInfo and TransformStamped -----------------------------------------------------------------------------------

def camera_info_to_intrinsics(msg) -> CameraIntrinsics:
    """Size, K, D and distortion model of a CameraInfo (R, P, binning and ROI are ignored). ValueError 'CameraInfo:
    ...' for one that makes no usable camera (uncalibrated, NaN/inf, a distortion vector its model does not take)."""
    try:
        K = np.array(msg.k, float)
        if K.size != 9:
            raise ValueError(f'k has {K.size} values; expected 9')
        return CameraIntrinsics(int(msg.width), int(msg.height), K.reshape(3, 3), np.array(msg.d, float),
                                msg.distortion_model)
    except ValueError as error:
        raise ValueError(f'CameraInfo: {error}') from None


def intrinsics_to_camera_info(types: MessageTypes, camera: CameraIntrinsics, frame_id: str, stamp_ns: int):
    """A monocular CameraInfo: R = identity, P = [K | 0], no binning, full-image ROI."""
    projection = np.zeros((3, 4))
    projection[:, :3] = camera.K
    roi = types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types.CameraInfo(header=make_header(types, frame_id, stamp_ns), height=camera.height, width=camera.width,
                            distortion_model=camera.distortion_model, d=np.array(camera.D, np.float64).ravel(),
                            k=np.array(camera.K, np.float64).ravel(), r=np.eye(3).ravel(), p=projection.ravel(),
                            binning_x=0, binning_y=0, roi=roi)


class StampedTransform(NamedTuple):
    matrix: np.ndarray  # (4, 4): maps points in child_frame into parent_frame
    parent_frame: str
    child_frame: str
    stamp_ns: int


def transform_stamped_to_matrix(msg) -> StampedTransform:
    translation, rotation = msg.transform.translation, msg.transform.rotation
    matrix = make_transform((translation.x, translation.y, translation.z),
                            (rotation.x, rotation.y, rotation.z, rotation.w))
    return StampedTransform(matrix, msg.header.frame_id, msg.child_frame_id, stamp_to_ns(msg.header.stamp))


def matrix_to_transform_stamped(types: MessageTypes, matrix: np.ndarray, parent_frame: str, child_frame: str,
                                stamp_ns: int):
    """A TransformStamped from a 4x4 rigid transform mapping child-frame points into the parent frame."""
    translation, quaternion = (values.tolist() for values in transform_to_quaternion(np.asarray(matrix, float)))
    transform = types.Transform(translation=types.Vector3(x=translation[0], y=translation[1], z=translation[2]),
                                rotation=types.Quaternion(x=quaternion[0], y=quaternion[1], z=quaternion[2],
                                                          w=quaternion[3]))
    return types.TransformStamped(header=make_header(types, parent_frame, stamp_ns), child_frame_id=child_frame,
                                  transform=transform)
