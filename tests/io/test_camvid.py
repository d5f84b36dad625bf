from pathlib import Path

import cv2
import numpy as np
import pytest

from perception.eval.real_data import DEFAULT_DATA_ROOT
from perception.io.camvid import list_camvid, read_camvid, write_camvid_label

DATA = DEFAULT_DATA_ROOT / 'camvid'


def _sample(root: Path, split='test', names=('a', 'b'), absolute=False):
    """A tiny SegNet-layout CamVid split: PNG images, class PNGs and the list (optionally SegNet's absolute paths)."""
    rng = np.random.default_rng(1)
    lines, samples = [], []
    for name in names:
        rgb = rng.integers(0, 256, (12, 16, 3)).astype(np.uint8)
        label = rng.integers(0, 12, (12, 16)).astype(np.uint8)
        (root / split).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / split / f'{name}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        write_camvid_label(root / f'{split}annot' / f'{name}.png', label)
        prefix = '/SegNet/CamVid/' if absolute else ''
        lines.append(f'{prefix}{split}/{name}.png {prefix}{split}annot/{name}.png')
        samples.append((rgb, label))
    (root / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return samples


@pytest.mark.parametrize('absolute', [False, True])
def test_list_and_read_give_back_images_and_labels(tmp_path, absolute):
    samples = _sample(tmp_path, absolute=absolute)
    pairs = list_camvid(tmp_path, 'test')
    expected = [('a.png', 'testannot'), ('b.png', 'testannot')]
    assert [(image.name, label.parent.name) for image, label in pairs] == expected
    for (image, label), (rgb, classes) in zip(pairs, samples):
        rgb_back, classes_back = read_camvid(image, label)
        np.testing.assert_array_equal(rgb_back, rgb)
        np.testing.assert_array_equal(classes_back, classes)
        assert classes_back.dtype == np.uint8


def test_missing_split_and_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such CamVid split list'):
        list_camvid(tmp_path, 'val')
    _sample(tmp_path)
    (tmp_path / 'testannot' / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match='test.txt:2: .*b.png does not exist'):
        list_camvid(tmp_path, 'test')


def test_mismatched_annotation_size_is_an_error(tmp_path):
    _sample(tmp_path, names=('a',))
    write_camvid_label(tmp_path / 'testannot' / 'a.png', np.zeros((5, 5), np.uint8))
    [(image, label)] = list_camvid(tmp_path, 'test')
    with pytest.raises(ValueError, match='does not match image'):
        read_camvid(image, label)


@pytest.mark.skipif(not DATA.is_dir(), reason='real CamVid not in ../shared/data')
def test_real_camvid_splits_have_segnet_sizes():
    assert [len(list_camvid(DATA, split)) for split in ('train', 'val', 'test')] == [367, 101, 233]
    rgb, label = read_camvid(*list_camvid(DATA, 'test')[0])
    assert rgb.shape == (360, 480, 3) and label.shape == (360, 480) and label.max() <= 11
