"""numpy <-> sensor_msgs / geometry_msgs conversions, for rclpy messages and rosbags dataclasses alike.

Readers are duck-typed: they accept any object with the message's fields and return views of its `data` where they
can. Builders take a `MessageTypes` naming the classes to instantiate: `rclpy_types()` or `rosbags_types()`. This
module never imports rclpy, so ROS-free code (core, simulator, bag tools) can use it with rosbags.
Stamps are int nanoseconds. Malformed messages raise `ValueError` with a one-line message.
"""
import array
import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, NamedTuple

import numpy as np

from perception.core.geometry import CameraIntrinsics, make_transform, transform_to_quaternion

NS_PER_S = 1_000_000_000


# The message classes the builders use: name -> ROS type.
MESSAGE_TYPES = {
    'Time': 'builtin_interfaces/msg/Time', 'Duration': 'builtin_interfaces/msg/Duration',
    'Header': 'std_msgs/msg/Header', 'ColorRGBA': 'std_msgs/msg/ColorRGBA',
    'PointField': 'sensor_msgs/msg/PointField', 'PointCloud2': 'sensor_msgs/msg/PointCloud2',
    'Image': 'sensor_msgs/msg/Image', 'RegionOfInterest': 'sensor_msgs/msg/RegionOfInterest',
    'CameraInfo': 'sensor_msgs/msg/CameraInfo', 'Vector3': 'geometry_msgs/msg/Vector3',
    'Point': 'geometry_msgs/msg/Point', 'Quaternion': 'geometry_msgs/msg/Quaternion',
    'Pose': 'geometry_msgs/msg/Pose', 'Transform': 'geometry_msgs/msg/Transform',
    'TransformStamped': 'geometry_msgs/msg/TransformStamped', 'Marker': 'visualization_msgs/msg/Marker',
    'MarkerArray': 'visualization_msgs/msg/MarkerArray', 'MeshFile': 'visualization_msgs/msg/MeshFile',
    'CompressedImage': 'sensor_msgs/msg/CompressedImage', 'KeyValue': 'diagnostic_msgs/msg/KeyValue',
    'DiagnosticStatus': 'diagnostic_msgs/msg/DiagnosticStatus',
    'DiagnosticArray': 'diagnostic_msgs/msg/DiagnosticArray',
}


@dataclass(frozen=True)
class MessageTypes:
    """Message classes the builders instantiate (one attribute per MESSAGE_TYPES name), and how a message with a
    uint8[] `data` field is made: `with_bytes(message_class, values, **fields)` returns a message whose `data`
    holds the bytes of the array `values` and whose other fields are `fields`.
    """

    Time: type
    Duration: type
    Header: type
    ColorRGBA: type
    PointField: type
    PointCloud2: type
    Image: type
    RegionOfInterest: type
    CameraInfo: type
    Vector3: type
    Point: type
    Quaternion: type
    Pose: type
    Transform: type
    TransformStamped: type
    Marker: type
    MarkerArray: type
    MeshFile: type
    CompressedImage: type
    KeyValue: type
    DiagnosticStatus: type
    DiagnosticArray: type
    with_bytes: Callable[..., Any]


def _flat_bytes(values: np.ndarray) -> np.ndarray:
    """The array's bytes as a flat uint8 view (a copy only if it is not C-contiguous)."""
    return np.ascontiguousarray(values).reshape(-1).view(np.uint8)


def _rclpy_with_bytes(message_class: type, values: np.ndarray, **fields):
    # rclpy keeps an assigned array('B') as is; its constructor would copy `data` once more, and an ndarray would be
    # copied element by element (hundreds of ms).
    msg = message_class(**fields)
    data = array.array('B')
    data.frombytes(_flat_bytes(values))
    msg.data = data
    return msg


def _rosbags_with_bytes(message_class: type, values: np.ndarray, **fields):
    return message_class(data=_flat_bytes(values).copy(), **fields)


def rclpy_message_class(msgtype: str) -> type:
    """'sensor_msgs/msg/Image' -> sensor_msgs.msg.Image (imports the message package)."""
    package, interface, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{package}.{interface}'), name)


@lru_cache(maxsize=1)
def rclpy_types() -> MessageTypes:
    """The rclpy message classes (imports the ROS message packages on first use)."""
    return MessageTypes(**{name: rclpy_message_class(msgtype) for name, msgtype in MESSAGE_TYPES.items()},
                        with_bytes=_rclpy_with_bytes)


@lru_cache(maxsize=1)
def ros2_typestore():
    """The rosbags typestore of ROS 2 Kilted, shared (do not register types into it)."""
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_KILTED)


def rosbags_types(typestore=None) -> MessageTypes:
    """The rosbags dataclasses of `typestore` (default: `ros2_typestore()`)."""
    types = (ros2_typestore() if typestore is None else typestore).types
    return MessageTypes(**{name: types[msgtype] for name, msgtype in MESSAGE_TYPES.items()},
                        with_bytes=_rosbags_with_bytes)


def stamp_to_ns(stamp) -> int:
    """builtin_interfaces/Time -> int nanoseconds."""
    return stamp.sec * NS_PER_S + stamp.nanosec


def make_header(types: MessageTypes, frame_id: str, stamp_ns: int):
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return types.Header(stamp=types.Time(sec=sec, nanosec=nanosec), frame_id=frame_id)


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


def _xyz(points: np.ndarray) -> np.ndarray:
    missing = [name for name in 'xyz' if name not in (points.dtype.names or ())]
    if missing:
        raise ValueError(f'PointCloud2 has no {"/".join(missing)} field (fields: {points.dtype.names})')
    xyz = np.empty(points.shape + (3,), np.float32)
    for axis, name in enumerate('xyz'):
        xyz[..., axis] = points[name]
    return xyz


def pointcloud2_to_xyz(msg, drop_invalid: bool = True) -> tuple[np.ndarray, int]:
    """(N, 3) float32 coordinates of a PointCloud2 and how many NaN/inf points were dropped (0 if not dropping)."""
    xyz = _xyz(pointcloud2_to_array(msg))
    if not drop_invalid:
        return xyz, 0
    valid = np.isfinite(xyz).all(axis=1)
    return xyz[valid], int(valid.size - np.count_nonzero(valid))


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
    is_dense = not set('xyz') <= set(points.dtype.names) or bool(np.isfinite(_xyz(points)).all())
    point_step = points.dtype.itemsize
    return types.with_bytes(types.PointCloud2, points, header=make_header(types, frame_id, stamp_ns), height=height,
                            width=width, fields=fields, is_bigendian=False, point_step=point_step,
                            row_step=point_step * width, is_dense=is_dense)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours -> (...) float32 with bits 0x00RRGGBB: the PointCloud2 `rgb` field as RViz reads it."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1:] != (3,):
        raise ValueError(f'pack_rgb needs uint8 colours of shape (..., 3); got {rgb.dtype} {rgb.shape}')
    channels = rgb.astype(np.uint32)
    return (channels[..., 0] << 16 | channels[..., 1] << 8 | channels[..., 2]).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """The inverse of `pack_rgb`: (...) float32 -> (..., 3) uint8."""
    bits = np.ascontiguousarray(packed, np.float32).view(np.uint32)
    return (np.stack([bits >> 16, bits >> 8, bits], axis=-1) & 0xFF).astype(np.uint8)


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
    """Size, K, D and distortion model of a CameraInfo (R, P, binning and ROI are ignored)."""
    K = np.array(msg.k, float).reshape(3, 3)
    if K[0, 0] == 0 or K[1, 1] == 0:
        raise ValueError('CameraInfo is uncalibrated: K has a zero focal length')
    return CameraIntrinsics(int(msg.width), int(msg.height), K, np.array(msg.d, float), msg.distortion_model)


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
