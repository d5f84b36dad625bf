import numpy as np
import pytest

from perception.io.semantickitti import (
    decode_labels, encode_labels, frame_paths, list_frames, read_calib, read_frame, read_poses,
    write_calib, write_frame, write_poses)
from perception.taxonomy import load_taxonomy


def test_frame_round_trip(tmp_path):
    taxonomy = load_taxonomy()
    rng = np.random.default_rng(0)
    lidar_classes = np.array(taxonomy.lidar_ids)
    points = rng.normal(size=(500, 4)).astype(np.float32)
    labels = rng.choice(np.append(lidar_classes, taxonomy.ignore_id), 500).astype(np.uint8)
    instance = np.where(taxonomy.is_thing[labels], rng.integers(1, 1 << 16, 500), 0)
    for frame in (0, 1, 12):
        write_frame(tmp_path, 3, frame, points, labels, instance)
    write_frame(tmp_path, 3, 13, points)  # no labels: a test sweep
    assert list_frames(tmp_path, '03') == [0, 1, 12, 13]
    assert frame_paths(tmp_path, 3, 12)[0] == tmp_path / 'sequences' / '03' / 'velodyne' / '000012.bin'
    read_points, read_labels, read_instance = read_frame(tmp_path, 3, 12)
    np.testing.assert_array_equal(read_points, points)
    np.testing.assert_array_equal(read_labels, labels)
    np.testing.assert_array_equal(read_instance, instance)
    assert read_frame(tmp_path, 3, 13)[1:] == (None, None)


def test_label_encoding_matches_semantickitti_ids():
    taxonomy = load_taxonomy()
    car, road, sky = taxonomy.id_of('car'), taxonomy.id_of('road'), taxonomy.id_of('sky')
    raw = encode_labels(np.array([car, road, sky, taxonomy.ignore_id]), np.array([7, 0, 0, 0]))
    assert raw.tolist() == [10 | 7 << 16, 40, 0, 0]  # sky has no SemanticKITTI id: written as unlabeled (0)
    labels, instance = decode_labels(np.array([10 | 3 << 16, 60, 44, 1, 99], np.uint32))
    assert labels.tolist() == [car, road, taxonomy.id_of('parking'), taxonomy.ignore_id, taxonomy.ignore_id]
    assert instance.tolist() == [3, 0, 0, 0, 0]


def test_bad_labels_are_rejected(tmp_path):
    with pytest.raises(ValueError, match='16 bits'):
        encode_labels(np.array([15]), np.array([1 << 16]))
    with pytest.raises(ValueError, match='labels for'):
        write_frame(tmp_path, 0, 0, np.zeros((3, 4)), np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        write_frame(tmp_path, 0, 0, np.zeros((3, 3)))


def test_calib_and_poses_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    calib = {name: rng.normal(size=(3, 4)) for name in ('P0', 'P1', 'P2', 'P3', 'Tr')}
    write_calib(tmp_path, 0, calib)
    read = read_calib(tmp_path, 0)
    assert list(read) == list(calib)
    for name, matrix in calib.items():
        np.testing.assert_allclose(read[name][:3], matrix, rtol=1e-11)
        np.testing.assert_array_equal(read[name][3], [0, 0, 0, 1])
    poses = np.tile(np.eye(4), (5, 1, 1))
    poses[:, :3, 3] = rng.normal(size=(5, 3))
    write_poses(tmp_path, 0, poses)
    np.testing.assert_allclose(read_poses(tmp_path, 0), poses, rtol=1e-11)
