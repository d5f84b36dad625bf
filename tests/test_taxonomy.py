"""config/classes.yaml: the classes the issue requires, and the mappings from Cityscapes and SemanticKITTI."""
import numpy as np
import pytest
import yaml

from perception.paths import config_path
from perception.taxonomy import load_taxonomy, parse_taxonomy

REQUIRED = ('road', 'sidewalk', 'parking', 'building', 'wall', 'fence', 'pole', 'traffic-sign', 'traffic-light',
            'vegetation', 'trunk', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'motorcycle',
            'bicycle', 'other-vehicle')


def test_classes_ids_and_kinds():
    t = load_taxonomy()
    assert set(REQUIRED) <= set(t.names)
    assert t.ignore_id == 255 and t.num_classes == len(t.names)
    assert {t.names[i] for i in t.thing_ids} == {'person', 'rider', 'car', 'truck', 'bus', 'motorcycle', 'bicycle',
                                                 'other-vehicle'}
    assert t.id_of('sky') not in t.lidar_ids and t.id_of('road') in t.lidar_ids
    assert len({c.color for c in t.classes}) == t.num_classes  # every class tells apart by colour


def test_cityscapes_label_and_train_ids_map_to_our_classes():
    t = load_taxonomy()
    label_ids = {7: 'road', 8: 'sidewalk', 9: 'parking', 11: 'building', 12: 'wall', 13: 'fence', 14: 'fence',
                 17: 'pole', 19: 'traffic-light', 20: 'traffic-sign', 21: 'vegetation', 22: 'terrain', 23: 'sky',
                 24: 'person', 25: 'rider', 26: 'car', 27: 'truck', 28: 'bus', 29: 'other-vehicle', 31: 'other-vehicle',
                 32: 'motorcycle', 33: 'bicycle'}
    for label_id, name in label_ids.items():
        assert t.from_cityscapes_label_ids[label_id] == t.id_of(name), label_id
    for void in (0, 1, 2, 3, 4, 5, 6, 10):
        assert t.from_cityscapes_label_ids[void] == t.ignore_id
    train_ids = ['road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic-light', 'traffic-sign',
                 'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'other-vehicle',
                 'motorcycle', 'bicycle']
    np.testing.assert_array_equal(t.from_cityscapes_train_ids[:19], [t.id_of(n) for n in train_ids])
    assert t.from_cityscapes_train_ids[255] == t.ignore_id


def test_semantickitti_raw_ids_map_to_our_classes_and_back():
    t = load_taxonomy()
    raw = {10: 'car', 11: 'bicycle', 13: 'bus', 15: 'motorcycle', 18: 'truck', 20: 'other-vehicle', 30: 'person',
           31: 'rider', 32: 'rider', 40: 'road', 44: 'parking', 48: 'sidewalk', 49: 'parking', 50: 'building',
           51: 'fence', 60: 'road', 70: 'vegetation', 71: 'trunk', 72: 'terrain', 80: 'pole', 81: 'traffic-sign',
           252: 'car', 253: 'rider', 254: 'person', 255: 'rider', 258: 'truck', 259: 'other-vehicle'}
    for raw_id, name in raw.items():
        assert t.from_semantickitti[raw_id] == t.id_of(name), raw_id
    for unlabeled in (0, 1, 99):
        assert t.from_semantickitti[unlabeled] == t.ignore_id
    lidar = np.array(t.lidar_ids)
    np.testing.assert_array_equal(t.from_semantickitti[t.to_semantickitti[lidar]], lidar)  # export round trip
    cityscapes = np.arange(t.num_classes)
    np.testing.assert_array_equal(t.from_cityscapes_label_ids[t.to_cityscapes_label_ids[cityscapes]], cityscapes)


def test_colorize_uses_the_palette_and_ignore_is_black():
    t = load_taxonomy()
    labels = np.array([[t.id_of('car'), 255]])
    np.testing.assert_array_equal(t.colorize(labels), [[t.classes[t.id_of('car')].color, (0, 0, 0)]])


@pytest.mark.parametrize('edit, message', [
    (lambda d: d['classes'][3].update(id=7), 'ids must be 0..N-1'),
    (lambda d: d['classes'][1].update(name='road'), 'names must be unique'),
    (lambda d: d['classes'][1].update(kind='blob'), 'thing or stuff'),
    (lambda d: d['classes'][1].update(semantickitti=[40]), 'maps to two classes'),
    (lambda d: d['classes'][1].update(color=[0, 300, 0]), 'three ints'),
    (lambda d: d['classes'][1].pop('lidar'), "missing key 'lidar'"),
])
def test_inconsistent_taxonomies_are_rejected(edit, message):
    document = yaml.safe_load(config_path('classes.yaml').read_text())
    edit(document)
    with pytest.raises(ValueError, match=message):
        parse_taxonomy(document)


def test_camvid_classes_cover_taxonomy_classes_once():
    camvid = load_taxonomy().camvid
    assert camvid.names[8] == 'Car' and camvid.ignore_id == 11
    taxonomy = load_taxonomy()
    vehicles = {taxonomy.names[i] for i in np.flatnonzero(camvid.allowed[8])}
    assert vehicles == {'car', 'truck', 'bus', 'other-vehicle'}
    assert (camvid.allowed.sum(axis=0) <= 1).all() and not camvid.allowed[camvid.ignore_id].any()
    assert all(camvid.from_taxonomy[i] == k for k in range(11) for i in np.flatnonzero(camvid.allowed[k]))
    assert camvid.from_taxonomy[taxonomy.ignore_id] == camvid.ignore_id


@pytest.mark.parametrize('edit, message', [
    (lambda d: d['camvid']['classes'][8]['taxonomy'].append('lorry'), "no taxonomy class named 'lorry'"),
    (lambda d: d['camvid']['classes'][9]['taxonomy'].append('car'), "'car' is covered by two"),
    (lambda d: d['camvid'].update(ignore=12), 'ignore id K'),
])
def test_inconsistent_camvid_mappings_are_rejected(edit, message):
    document = yaml.safe_load(config_path('classes.yaml').read_text())
    edit(document)
    with pytest.raises(ValueError, match=message):
        parse_taxonomy(document)
