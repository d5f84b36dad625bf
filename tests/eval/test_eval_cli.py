"""perception-eval end to end on data the project makes: the predictions it writes read back in each dataset's
format, and the scores it reports agree with an independent computation from those files; bad input is one line
on stderr and exit status 1."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig, default_weights
from perception.eval.cli import main
from perception.io import semantickitti
from perception.io.camvid import write_camvid_label
from perception.io.cityscapes import frame_paths, write_frame
from perception.sim.cli import main as simulate
from perception.taxonomy import load_taxonomy

VEHICLES = ('car', 'truck', 'bus', 'other-vehicle')  # as config/datasets.yaml vehicle_classes


def iou(prediction: np.ndarray, truth: np.ndarray, ignore: int) -> dict[int, float]:
    """Per-class IoU (percent) over the classes present in the truth, computed directly."""
    valid = truth != ignore
    out = {}
    for c in np.unique(truth[valid]):
        tp = np.sum((prediction == c) & (truth == c))
        fp = np.sum((prediction == c) & (truth != c) & valid)
        fn = np.sum((prediction != c) & (truth == c))
        out[int(c)] = 100 * tp / (tp + fp + fn)
    return out


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope='module')
def sim_kitti(tmp_path_factory):
    """Two simulated sweeps exported in the SemanticKITTI layout (sequence 3001)."""
    root = tmp_path_factory.mktemp('semantickitti')
    assert simulate(['--seed', '3001', '--frames', '2', '--semantickitti', str(root)]) == 0
    return root


def test_semantickitti_predictions_round_trip_and_miou_matches(sim_kitti, tmp_path, capsys):
    taxonomy = load_taxonomy()
    code, out, err = run(capsys, sim_kitti, '--out', tmp_path)
    assert code == 0, err
    report = json.loads((tmp_path / 'report.json').read_text())
    assert report['dataset'] == 'semantickitti' and report['frames'] == 2
    predictions, truths = [], []
    for frame in (0, 1):
        raw = np.fromfile(tmp_path / 'sequences' / '3001' / 'predictions' / f'{frame:06d}.label', np.uint32)
        points, labels, _ = semantickitti.read_frame(sim_kitti, 3001, frame)
        assert len(raw) == len(points)
        assert set(np.unique(raw)) <= set(taxonomy.to_semantickitti[:taxonomy.num_classes].tolist()) | {0}
        predictions.append(taxonomy.from_semantickitti[raw])
        truths.append(labels)
        assert cv2.imread(str(tmp_path / 'images' / '3001' / f'{frame:06d}.png')).shape == (800, 1608, 3)
    # the .label holds the raw SemanticKITTI id of exactly what the segmenter predicts
    points, _, _ = semantickitti.read_frame(sim_kitti, 3001, 1)
    direct = LidarSegmenter(LidarSegmenterConfig(device='cpu')).process(points).labels
    np.testing.assert_array_equal(np.fromfile(tmp_path / 'sequences' / '3001' / 'predictions' / '000001.label',
                                              np.uint32), taxonomy.to_semantickitti[direct])
    expected = iou(np.concatenate(predictions), np.concatenate(truths), taxonomy.ignore_id)
    reported = report['taxonomy']
    assert reported['per_class_iou'] == pytest.approx({taxonomy.names[c]: v for c, v in expected.items()}, abs=0.006)
    assert reported['miou'] == pytest.approx(np.mean(list(expected.values())), abs=0.006)
    assert f"mIoU {reported['miou']}" in out


def test_squeezeseg_coarse_car_iou_matches(sim_kitti, tmp_path, capsys):
    taxonomy = load_taxonomy()
    points, labels, _ = semantickitti.read_frame(sim_kitti, 3001, 0)
    coarse = np.zeros(len(points), np.float32)
    coarse[np.isin(labels, [taxonomy.id_of(n) for n in VEHICLES])] = 1
    coarse[labels == taxonomy.id_of('person')] = 2
    image = np.zeros((64, 600, 6), np.float32)  # fewer pixels than points: the first 38400 points
    flat = image.reshape(-1, 6)
    flat[:, :4], flat[:, 4], flat[:, 5] = points[:len(flat)], np.linalg.norm(points[:len(flat), :3], axis=1), \
        coarse[:len(flat)]
    flat[::7, 4] = 0  # pixels without a return are left out
    (tmp_path / 'data').mkdir()
    np.save(tmp_path / 'data' / 'frame.npy', image)
    code, _, err = run(capsys, tmp_path / 'data', '--out', tmp_path / 'out')
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['dataset'] == 'squeezeseg'
    kept = flat[:, 4] > 0
    prediction = taxonomy.from_semantickitti[np.fromfile(tmp_path / 'out' / 'predictions' / 'frame.label', np.uint32)]
    assert len(prediction) == kept.sum()
    vehicle, car = np.isin(prediction, [taxonomy.id_of(n) for n in VEHICLES]), flat[kept, 5] == 1
    car_iou = 100 * np.sum(vehicle & car) / np.sum(vehicle | car)
    assert report['coarse']['car']['iou'] == pytest.approx(car_iou, abs=0.006)
    assert report['coarse']['car']['labelled'] == car.sum() > 100


CALIB = """P2: 700 0 600 0 0 700 180 0 0 0 1 0
R0_rect: 1 0 0 0 1 0 0 0 1
Tr_velo_to_cam: 0 -1 0 0 0 0 -1 0 1 0 0 0
"""


def test_kitti_object_scores_points_in_the_image_and_car_boxes(tmp_path, capsys):
    """A Car box 10 m ahead, a Van beside it (left out), points around them; 1200x360 image."""
    taxonomy = load_taxonomy()
    root = tmp_path / 'training'
    rng = np.random.default_rng(0)
    car = rng.uniform([8.5, -0.7, -0.9], [11.5, 0.7, 0.4], (300, 3))   # inside the Car box (10 m ahead)
    van = rng.uniform([9.0, 4.3, -0.9], [11.0, 5.7, 0.4], (100, 3))    # inside the Van box (5 m left)
    ground = rng.uniform([5, -15, -1.1], [30, 15, -1.05], (2000, 3))   # road around them
    behind = rng.uniform([-30, -15, -1.1], [-5, 15, -1.0], (500, 3))   # never in the image
    xyz = np.concatenate([car, van, ground, behind])
    for folder in ('velodyne', 'calib', 'label_2', 'image_2'):
        (root / folder).mkdir(parents=True)
    np.column_stack([xyz, rng.uniform(0, 1, len(xyz))]).astype(np.float32).tofile(root / 'velodyne' / '000000.bin')
    (root / 'calib' / '000000.txt').write_text(CALIB)
    (root / 'label_2' / '000000.txt').write_text(
        'Car 0.00 0 0.00 500 150 700 250 1.5 1.6 4.0 0.0 1.0 10.0 1.5708\n'
        'Van 0.00 0 0.00 100 150 300 250 1.5 1.6 4.0 -5.0 1.0 10.0 1.5708\n'
        'DontCare -1 -1 -10 0 0 10 10 -1 -1 -1 -1000 -1000 -1000 -10\n')
    cv2.imwrite(str(root / 'image_2' / '000000.png'), np.zeros((360, 1200, 3), np.uint8))
    code, _, err = run(capsys, tmp_path, '--out', tmp_path / 'out')
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['dataset'] == 'kitti-object'
    boxes = report['boxes']
    u = 600 - 700 * ground[:, 1] / ground[:, 0]  # ground points in the image (v is always inside here)
    in_image_ground = np.sum((u >= 0) & (u < 1200))
    assert boxes['in_box'] == 300 and boxes['other'] == in_image_ground
    prediction = taxonomy.from_semantickitti[np.fromfile(tmp_path / 'out' / 'predictions' / '000000.label',
                                                         np.uint32)]
    vehicle = np.isin(prediction, [taxonomy.id_of(n) for n in VEHICLES])
    assert boxes['in_box_vehicle'] == pytest.approx(100 * vehicle[:300].mean(), abs=0.006)
    other = np.zeros(len(xyz), bool)
    other[400:2400] = (u >= 0) & (u < 1200)
    assert boxes['other_vehicle'] == pytest.approx(100 * vehicle[other].mean(), abs=0.006)


def _random_images(count, height=60, width=80):
    rng = np.random.default_rng(2)
    for _ in range(count):
        rgb = cv2.resize(rng.integers(0, 256, (height // 10, width // 10, 3)).astype(np.uint8), (width, height))
        yield rgb


def test_camvid_class_average_iou_and_accuracy_match(tmp_path, capsys):
    taxonomy = load_taxonomy()
    truths = []
    lines = []
    for k, rgb in enumerate(_random_images(2)):
        truth = np.full((60, 80), 3, np.uint8)  # Road below, Sky above, a Car, some Unlabelled
        truth[:20], truth[30:45, 10:40], truth[:, 70:] = 0, 8, 11
        (tmp_path / 'test').mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / 'test' / f'f{k}.png'), rgb)
        write_camvid_label(tmp_path / 'testannot' / f'f{k}.png', truth)
        lines.append(f'test/f{k}.png testannot/f{k}.png')
        truths.append(truth)
    (tmp_path / 'test.txt').write_text('\n'.join(lines))
    code, out, err = run(capsys, tmp_path, '--out', tmp_path / 'out')
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['dataset'] == 'camvid'
    predictions = [cv2.imread(str(tmp_path / 'out' / 'predictions' / 'testannot' / f'f{k}.png'),
                              cv2.IMREAD_UNCHANGED) for k in (0, 1)]
    assert predictions[0].shape == (60, 80) and predictions[0].max() <= 11
    prediction, truth = np.stack(predictions), np.stack(truths)
    expected = iou(prediction, truth, 11)
    camvid = taxonomy.camvid.names
    assert report['camvid']['per_class_iou'] == pytest.approx({camvid[c]: v for c, v in expected.items()}, abs=0.006)
    assert report['camvid']['miou'] == pytest.approx(np.mean(list(expected.values())), abs=0.006)
    labelled = truth != 11
    assert report['camvid']['accuracy'] == pytest.approx(100 * np.mean(prediction[labelled] == truth[labelled]),
                                                         abs=0.006)
    assert set(report['camvid']['taxonomy_iou']) == {'sky', 'road'}  # CamVid classes that are one taxonomy class
    assert cv2.imread(str(tmp_path / 'out' / 'images' / 'f0.png')).shape[1] == 2 * 640 + 8


def test_cityscapes_miou_and_panoptic(tmp_path, capsys):
    taxonomy = load_taxonomy()
    car, road, sky = (taxonomy.id_of(n) for n in ('car', 'road', 'sky'))
    [rgb] = _random_images(1, 64, 128)
    semantic = np.full((64, 128), road, np.uint8)
    semantic[:20] = sky
    instance = np.zeros((64, 128), np.int32)
    semantic[30:50, 20:60], instance[30:50, 20:60] = car, 1
    write_frame(frame_paths(tmp_path, 'val', 'town', 1, 2), rgb, semantic, instance)
    code, _, err = run(capsys, tmp_path, '--out', tmp_path / 'out')
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    label_ids = cv2.imread(str(tmp_path / 'out' / 'predictions' / 'val' / 'town' / 'town_000001_000002_labelIds.png'),
                           cv2.IMREAD_UNCHANGED)
    expected = iou(taxonomy.from_cityscapes_label_ids[label_ids], semantic, taxonomy.ignore_id)
    assert report['taxonomy']['miou'] == pytest.approx(np.mean(list(expected.values())), abs=0.006)
    assert report['panoptic']['all']['n'] >= 1 and 'cityscapes' in report


def test_image_boxes_and_plain_images(tmp_path, capsys):
    taxonomy = load_taxonomy()
    (tmp_path / 'image_2').mkdir()
    (tmp_path / 'label_2').mkdir()
    for k, rgb in enumerate(_random_images(2, 90, 160)):
        cv2.imwrite(str(tmp_path / 'image_2' / f'{k:06d}.jpg'), rgb)
    # records run together without line breaks, as in nuscenes_front
    (tmp_path / 'label_2' / '000000.txt').write_text(
        'car 0.00 0 0.00 10.00 20.00 50.00 60.00 0 0 0 0 0 0 0'
        'pedestrian 0.00 0 0.00 100.00 10.00 120.00 80.00 0 0 0 0 0 0 0')
    code, _, err = run(capsys, tmp_path, '--out', tmp_path / 'out')  # 000001 has no labels: left out
    assert code == 0, err
    report = json.loads((tmp_path / 'out' / 'report.json').read_text())
    assert report['dataset'] == 'nuscenes-boxes' and report['frames'] == 1
    label_ids = cv2.imread(str(tmp_path / 'out' / 'predictions' / '000000_labelIds.png'), cv2.IMREAD_UNCHANGED)
    vehicle = np.isin(taxonomy.from_cityscapes_label_ids[label_ids], [taxonomy.id_of(n) for n in VEHICLES])
    outside = np.ones((90, 160), bool)
    outside[20:60, 10:50] = outside[10:80, 100:120] = False
    assert report['boxes']['in_box'] == 40 * 40 and report['boxes']['other'] == outside.sum()
    assert report['boxes']['in_box_vehicle'] == pytest.approx(100 * vehicle[20:60, 10:50].mean(), abs=0.006)
    assert report['boxes']['other_vehicle'] == pytest.approx(100 * vehicle[outside].mean(), abs=0.006)

    code, _, err = run(capsys, tmp_path / 'image_2', '--out', tmp_path / 'plain', '--limit', 1)
    assert code == 0, err
    report = json.loads((tmp_path / 'plain' / 'report.json').read_text())
    assert report['dataset'] == 'images' and report['frames'] == 1 and 'taxonomy' not in report
    assert sum(report['class_shares']['shares'].values()) == pytest.approx(100, abs=0.1)
    assert (tmp_path / 'plain' / 'images' / '000000.png').exists()


def _bad_inputs(root, case):
    """Make the bad input of a case under root; returns the command-line arguments."""
    if case == 'missing folder':
        return [root / 'nowhere']
    if case == 'empty folder':
        return [root]
    if case == 'no sweeps':
        return [root, '--dataset', 'folder']
    if case == 'mismatched labels':
        semantickitti.write_points(semantickitti.frame_paths(root, 0, 0)[0], np.ones((10, 4), np.float32))
        semantickitti.write_labels(semantickitti.frame_paths(root, 0, 0)[1], np.zeros(9, np.uint8))
        return [root]
    if case == 'truncated sweep':
        np.ones(10, np.float32).tofile(root / 'a.bin')
        return [root]
    if case == 'unreadable image':
        (root / 'a.png').write_text('not an image')
        return [root]
    if case == 'wrong layout':
        np.ones((4, 4), np.float32).tofile(root / 'a.bin')
        return [root, '--dataset', 'camvid']
    if case == 'ambiguous labels':
        np.ones((4, 4), np.float32).tofile(root / 'a.bin')
        np.zeros(4, np.uint32).tofile(root / 'a.label')
        return [root]
    if case == 'weights of another backend':
        np.ones((4, 4), np.float32).tofile(root / 'a.bin')
        return [root, '--backend', 'pointnet2', '--model', default_weights('sparse')]
    raise AssertionError(case)


@pytest.mark.parametrize('case, message', [
    ('missing folder', 'no such folder'),
    ('empty folder', 'no known dataset layout'),
    ('no sweeps', 'no .bin, .npz or .pcd sweeps'),
    ('mismatched labels', '000000.label: 9 labels for 10 points'),
    ('truncated sweep', 'a.bin: size is not a multiple of 4'),
    ('unreadable image', 'a.png: missing or not an image'),
    ('wrong layout', 'no such CamVid split list'),
    ('ambiguous labels', '--dataset folder'),
    ('weights of another backend', "weights are for the 'sparse' backend"),
])
def test_bad_input_is_one_line_and_exit_1(tmp_path, capsys, case, message):
    code, out, err = run(capsys, *_bad_inputs(tmp_path, case), '--out', tmp_path / 'out')
    assert code == 1
    assert err.count('\n') == 1 and err.startswith('perception-eval: ') and message in err, err


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['--help'])
    assert exit_info.value.code == 0
    assert 'exit status: 0 evaluated; 1 bad input' in ' '.join(capsys.readouterr().out.split())


def test_module_run_prints_no_traceback():
    done = subprocess.run([sys.executable, '-m', 'perception.eval.cli', '/nonexistent/dataset'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr == 'perception-eval: /nonexistent/dataset: no such folder\n'
