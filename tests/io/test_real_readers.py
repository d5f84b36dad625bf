"""Readers of real-data formats on tiny generated samples: LiDAR sweeps (.bin, .pcd.bin, kitti_raw .npz, ASCII and
binary .pcd), SqueezeSeg range images, KITTI object labels and calibration with the devkit's box geometry."""
import numpy as np
import pytest

from perception.eval.real_data import DEFAULT_DATA_ROOT
from perception.io import kitti_object
from perception.io.point_clouds import read_squeezeseg, read_sweep, sweep_paths, sweep_stem

POINTS = np.array([[1.5, -2.25, 0.5, 0.25], [10.0, 3.0, -1.75, 0.0], [-4.0, 0.5, 2.0, 1.0]], np.float32)


def _pcd(fields: str, size: str, kind: str, count: int, data: bytes, dtype: str = 'F F F F') -> bytes:
    ones = ' '.join(['1'] * len(fields.split()))
    header = (f'# .PCD v0.7\nVERSION 0.7\nFIELDS {fields}\nSIZE {size}\nTYPE {dtype}\nCOUNT {ones}\n'
              f'WIDTH {count}\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS {count}\nDATA {kind}\n')
    return header.encode() + data


def test_bin_and_nuscenes_pcd_bin(tmp_path):
    POINTS.tofile(tmp_path / 'a.bin')
    np.column_stack([POINTS, [0, 5, 31]]).astype(np.float32).tofile(tmp_path / 'b.pcd.bin')
    np.testing.assert_array_equal(read_sweep(tmp_path / 'a.bin'), POINTS)
    np.testing.assert_array_equal(read_sweep(tmp_path / 'b.pcd.bin'), POINTS)
    assert [sweep_stem(p) for p in sweep_paths(tmp_path)] == ['a', 'b']
    POINTS[:, :3].tofile(tmp_path / 'c.bin')  # 9 floats: not whole points
    with pytest.raises(ValueError, match='c.bin: size is not a multiple of 4'):
        read_sweep(tmp_path / 'c.bin')


def test_kitti_raw_npz_decodes_centimetres_and_reflectance(tmp_path):
    np.savez(tmp_path / 'f.npz', xyz_cm=np.array([[150, -225, 50], [-1000, 0, 173]], np.int16),
             reflectance_x80=np.array([20, 80], np.uint8))
    np.testing.assert_allclose(read_sweep(tmp_path / 'f.npz'), [[1.5, -2.25, 0.5, 0.25], [-10, 0, 1.73, 1.0]],
                               rtol=1e-6)
    np.savez(tmp_path / 'g.npz', points=np.zeros((2, 4)))
    (tmp_path / 'h.npz').write_bytes(b'not an archive')
    for name in ('g.npz', 'h.npz'):
        with pytest.raises(ValueError, match=f'{name}: not a kitti_raw .npz'):
            read_sweep(tmp_path / name)


def test_pcd_ascii_and_binary_with_extra_fields(tmp_path):
    rows = '\n'.join(' '.join(f'{v:g}' for v in (*p[:3], p[3] * 255, 7)) for p in POINTS)
    (tmp_path / 'a.pcd').write_bytes(_pcd('x y z intensity ring', '4 4 4 4 2', 'ascii', 3, rows.encode() + b'\n',
                                          'F F F F U'))
    expected = POINTS * [1, 1, 1, 255]
    np.testing.assert_allclose(read_sweep(tmp_path / 'a.pcd'), expected, rtol=1e-6)
    record = np.dtype([('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('ring', 'u2'), ('intensity', 'f4')])
    binary = np.zeros(3, record)
    for axis, column in zip('xyz', POINTS.T):
        binary[axis] = column
    binary['intensity'] = POINTS[:, 3]
    (tmp_path / 'b.pcd').write_bytes(_pcd('x y z ring intensity', '4 4 4 2 4', 'binary', 3, binary.tobytes(),
                                          'F F F U F'))
    np.testing.assert_array_equal(read_sweep(tmp_path / 'b.pcd'), POINTS)
    (tmp_path / 'c.pcd').write_bytes(_pcd('x y z', '4 4 4', 'binary', 3, POINTS[:, :3].tobytes(), 'F F F'))
    np.testing.assert_array_equal(read_sweep(tmp_path / 'c.pcd'), POINTS * [1, 1, 1, 0])  # no intensity: zeros
    (tmp_path / 'd.pcd').write_bytes(_pcd('x y z', '4 4 4', 'binary', 3, POINTS[:2, :3].tobytes(), 'F F F'))
    with pytest.raises(ValueError, match='3 points announced'):
        read_sweep(tmp_path / 'd.pcd')
    (tmp_path / 'e.pcd').write_bytes(_pcd('x y z', '4 4 4', 'binary_compressed', 3, b'', 'F F F'))
    with pytest.raises(ValueError, match='binary_compressed is not supported'):
        read_sweep(tmp_path / 'e.pcd')


def test_squeezeseg_keeps_pixels_with_a_return(tmp_path):
    image = np.zeros((4, 5, 6), np.float32)
    image[1, 2] = [1, 2, 3, 0.5, 3.7, 1]
    image[3, 0] = [4, 5, 6, 0.25, 8.8, 0]
    np.save(tmp_path / 's.npy', image)
    points, labels = read_squeezeseg(tmp_path / 's.npy')
    np.testing.assert_array_equal(points, [[1, 2, 3, 0.5], [4, 5, 6, 0.25]])
    np.testing.assert_array_equal(labels, [1, 0])
    np.save(tmp_path / 't.npy', np.zeros((4, 5)))
    with pytest.raises(ValueError, match='SqueezeSeg range image'):
        read_squeezeseg(tmp_path / 't.npy')


CALIB = """P0: 700 0 600 0 0 700 180 0 0 0 1 0
P2: 700 0 600 0 0 700 180 0 0 0 1 0
R0_rect: 1 0 0 0 1 0 0 0 1
Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0
"""


def test_labels_with_and_without_line_breaks_read_the_same(tmp_path):
    records = ['Car 0.00 0 -1.57 100.0 150.5 200.0 250.0 1.5 1.6 4.0 2.0 1.0 10.0 0.0',
               'Pedestrian 0.00 0 0.20 300.0 140.0 320.0 200.0 1.8 0.5 0.6 -1.0 1.2 8.0 1.57 0.9']
    (tmp_path / 'lines.txt').write_text('\n'.join(records) + '\n')
    (tmp_path / 'glued.txt').write_text(''.join(records))  # as in nuscenes_front/label_2
    for name in ('lines.txt', 'glued.txt'):
        car, person = kitti_object.read_labels(tmp_path / name)
        assert (car.type, person.type) == ('Car', 'Pedestrian')
        np.testing.assert_array_equal(car.box_2d, [100, 150.5, 200, 250])
        np.testing.assert_array_equal(car.dimensions, [1.5, 1.6, 4.0])
        np.testing.assert_array_equal(person.location, [-1.0, 1.2, 8.0])
        assert person.rotation_y == 1.57
    (tmp_path / 'short.txt').write_text('Car 0 0 0 1 2 3')
    with pytest.raises(ValueError, match='a Car record has 7 fields'):
        kitti_object.read_labels(tmp_path / 'short.txt')


def test_box_and_image_membership_follow_the_devkit(tmp_path):
    (tmp_path / 'calib.txt').write_text(CALIB)
    calib = kitti_object.read_calib(tmp_path / 'calib.txt')
    # camera = LiDAR turned: x_cam = -y_lidar, y_cam = -z_lidar, z_cam = x_lidar
    np.testing.assert_allclose(kitti_object.to_rect(np.array([[10.0, 2.0, 1.0]]), calib), [[-2.0, -1.0, 10.0]])
    # a car 4 m long (along the camera x axis at rotation_y 0), 1.6 m wide, 1.5 m high, its bottom centre 10 m
    # ahead and 1 m below the camera (LiDAR z from -1 to 0.5); turned by 90 degrees it is long along camera z
    straight = kitti_object.KittiObject('Car', np.zeros(4), np.array([1.5, 1.6, 4.0]), np.array([0.0, 1.0, 10.0]), 0.0)
    turned = kitti_object.KittiObject('Car', np.zeros(4), np.array([1.5, 1.6, 4.0]), np.array([0.0, 1.0, 10.0]),
                                      np.pi / 2)
    lidar = np.array([[10.0, 1.9, 0.0],    # 1.9 m to the side: inside straight (half length 2), outside turned
                      [11.9, 0.0, 0.0],    # 1.9 m further: inside turned, outside straight
                      [10.0, 0.0, 0.4],    # 0.1 m under the roof
                      [10.0, 0.0, -0.9]])  # 0.1 m above the bottom face
    assert kitti_object.in_box(lidar, calib, straight).tolist() == [True, False, True, True]
    assert kitti_object.in_box(lidar, calib, turned).tolist() == [False, True, True, True]
    assert kitti_object.in_box(np.array([[10.0, 0.0, 0.6]]), calib, straight).tolist() == [False]
    assert kitti_object.in_box(np.array([[10.0, 0.0, 0.6]]), calib, straight, margin=0.2).tolist() == [True]
    # image 1200x360: the principal point (600, 180) is straight ahead; behind the camera never projects
    ahead = np.array([[10.0, 0.0, 0.0], [10.0, 9.0, 0.0], [-10.0, 0.0, 0.0], [10.0, -8.0, 0.0]])
    assert kitti_object.in_image(ahead, calib, (360, 1200)).tolist() == [True, False, False, True]


@pytest.mark.skipif(not (DEFAULT_DATA_ROOT / 'kitti_object').is_dir(), reason='no ../shared/data')
def test_real_kitti_car_boxes_hold_their_points():
    root = DEFAULT_DATA_ROOT / 'kitti_object' / 'training'
    counts = []
    for frame in ('000001', '000002'):
        points = read_sweep(root / 'velodyne' / f'{frame}.bin')
        calib = kitti_object.read_calib(root / 'calib' / f'{frame}.txt')
        [car] = [box for box in kitti_object.read_labels(root / 'label_2' / f'{frame}.txt') if box.type == 'Car']
        counts.append(int(kitti_object.in_box(points[:, :3], calib, car, 0.2).sum()))
    assert counts == [9, 71]  # growing the box into the ground too would add 17 road points to frame 2's car
