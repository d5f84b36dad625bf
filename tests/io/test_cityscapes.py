import numpy as np
import pytest

from perception.io.cityscapes import frame_paths, list_frames, read_frame, write_frame
from perception.taxonomy import load_taxonomy


def test_round_trip_keeps_classes_and_instances(tmp_path):
    taxonomy = load_taxonomy()
    rng = np.random.default_rng(0)
    semantic = rng.integers(0, taxonomy.num_classes, (24, 40)).astype(np.uint8)
    semantic[0, 0] = taxonomy.ignore_id
    instance = np.zeros((24, 40), np.uint16)
    car, person = taxonomy.id_of('car'), taxonomy.id_of('person')
    semantic[2:8, 2:10], instance[2:8, 2:10] = car, 417
    semantic[10:20, 5:9], instance[10:20, 5:9] = person, 9
    semantic[10:20, 20:25], instance[10:20, 20:25] = car, 12
    rgb = rng.integers(0, 256, (24, 40, 3)).astype(np.uint8)
    write_frame(frame_paths(tmp_path, 'train', 'sim7', 7, 3), rgb, semantic, instance)

    [frame] = list_frames(tmp_path, 'train')
    assert frame.name == 'sim7_000007_000003'
    rgb_back, semantic_back, instance_back = read_frame(frame)
    np.testing.assert_array_equal(rgb_back, rgb)
    np.testing.assert_array_equal(semantic_back, semantic)
    # instance ids are renumbered per frame but the segments are the same
    things = taxonomy.is_thing[semantic] & (instance > 0)
    pairs = {(a, b) for a, b in zip(instance[things], instance_back[things])}
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}) == 3
    assert (instance_back[~things] == 0).all()


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such Cityscapes split'):
        list_frames(tmp_path, 'val')
