"""Hypothesis strategies for hostile sensor messages (rosbags dataclasses: no ROS needed) and the fuzz settings:
derandomised (the same examples every run) and bounded, so the fuzz suite adds seconds, not minutes."""
import numpy as np
from hypothesis import HealthCheck, settings, strategies as st

from perception.msgs.types import make_header, rosbags_types

TYPES = rosbags_types()
FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW_FUZZ = settings(FUZZ, max_examples=15)  # examples that run a network
ENCODINGS = ['rgb8', 'bgr8', 'mono8', '8UC1', 'mono16', '16UC1', '32FC1', '32SC1', 'rgba8', 'bayer_rggb8', '', 'x']
FIELD_NAMES = ['x', 'y', 'z', 'intensity', 'ring', 'rgb', 'label', 'instance', 'confidence']
DISTORTION_MODELS = ['plumb_bob', 'rational_polynomial', 'equidistant', '', 'fisheye', 'PLUMB_BOB']
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -1.0, 1.0, 500.0, 1e30]))
STAMPS = st.integers(0, 2 ** 63 - 1)


def _data(draw, size: int) -> np.ndarray:
    """`size` bytes, usually; sometimes a few fewer or more."""
    length = draw(st.one_of(st.just(size), st.just(size), st.integers(max(0, size - 16), size + 16)))
    prefix = draw(st.binary(min_size=min(length, 256), max_size=min(length, 256)))
    rest = np.random.default_rng(length).integers(0, 256, max(0, length - 256), dtype=np.uint8)
    return np.concatenate([np.frombuffer(prefix, np.uint8), rest])


@st.composite
def point_clouds(draw):
    """PointCloud2 of any layout: a well-formed x, y, z [, intensity] float32 cloud with 0 to 3 mutations (a field's
    name, datatype, count or offset; point_step, row_step, height, the data's length; extra fields)."""
    names = ['x', 'y', 'z'] + (['intensity'] if draw(st.booleans()) else [])
    names += draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=2))
    fields = [{'name': name, 'offset': 4 * i, 'datatype': 7, 'count': 1} for i, name in enumerate(names)]
    layout = {'height': 1, 'width': draw(st.integers(0, 200)), 'point_step': 4 * len(names), 'bigendian': False}
    for _ in range(draw(st.integers(0, 3))):
        what = draw(st.sampled_from(['name', 'datatype', 'count', 'offset', 'point_step', 'height', 'bigendian',
                                     'row_step', 'data']))
        if what in ('name', 'datatype', 'count', 'offset'):
            field = draw(st.sampled_from(fields))
            field[what] = draw({'name': st.sampled_from(FIELD_NAMES), 'datatype': st.integers(0, 9),
                                'count': st.integers(0, 3), 'offset': st.integers(0, 40)}[what])
        elif what == 'point_step':
            layout['point_step'] = draw(st.integers(0, 48))
        elif what == 'height':
            layout['height'] = draw(st.integers(0, 3))
        elif what == 'bigendian':
            layout['bigendian'] = True
        else:
            layout[what] = draw(st.integers(0, 4096))
    height, width = layout['height'], layout['width']
    row_step = layout.get('row_step', width * layout['point_step'])
    size = layout.get('data', height * row_step)
    with np.errstate(over='ignore'):
        values = np.array(draw(st.lists(FLOATS, min_size=1, max_size=8)), '>f4' if layout['bigendian'] else '<f4')
    data = np.resize(values.view(np.uint8), size)
    return TYPES.PointCloud2(header=make_header(TYPES, 'lidar', draw(STAMPS)), height=height, width=width,
                             fields=[TYPES.PointField(**field) for field in fields], is_bigendian=layout['bigendian'],
                             point_step=layout['point_step'], row_step=row_step, data=data,
                             is_dense=draw(st.booleans()))


@st.composite
def images(draw):
    """Image of any size (empty, tiny, extreme aspect ratios), encoding, step and data length."""
    height, width = draw(st.one_of(st.tuples(st.integers(0, 48), st.integers(0, 48)),
                                   st.sampled_from([(16, 16), (10, 1000), (1000, 10), (8, 8), (1, 1)])))
    encoding = draw(st.sampled_from(ENCODINGS))
    step = draw(st.one_of(st.just(width * 3), st.just(width), st.integers(0, 4000)))
    return TYPES.Image(header=make_header(TYPES, 'camera', draw(STAMPS)), height=height, width=width,
                       encoding=encoding, is_bigendian=draw(st.integers(0, 1)), step=step,
                       data=_data(draw, height * step))


@st.composite
def camera_infos(draw):
    """CameraInfo with any size, K (NaN, inf, zeros; a wrong length) and distortion model and vector."""
    k = draw(st.one_of(st.lists(FLOATS, min_size=9, max_size=9),
                       st.tuples(st.floats(1, 2000), st.floats(1, 2000), st.floats(-100, 2000), st.floats(-100, 2000))
                       .map(lambda v: [v[0], 0, v[2], 0, v[1], v[3], 0, 0, 1]),
                       st.lists(FLOATS, max_size=12)))
    d = draw(st.one_of(st.lists(FLOATS, max_size=15), st.sampled_from([0, 4, 5, 8]).flatmap(
        lambda n: st.lists(st.floats(-0.5, 0.5), min_size=n, max_size=n))))
    roi = TYPES.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    size = st.integers(0, 3000) | st.sampled_from([480, 640])
    return TYPES.CameraInfo(header=make_header(TYPES, 'camera', 0), height=draw(size), width=draw(size),
                            distortion_model=draw(st.sampled_from(DISTORTION_MODELS)),
                            d=np.array(d, np.float64), k=np.array(k, np.float64), r=np.eye(3).ravel(),
                            p=np.zeros(12), binning_x=0, binning_y=0, roi=roi)
