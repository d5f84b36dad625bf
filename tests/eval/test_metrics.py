"""ConfusionMatrix and PanopticQuality against hand-computed answers and the peer implementations.

Peers: torchmetrics (IoU, accuracy, panoptic quality) and cityscapesScripts' evalPanopticSemanticLabeling
(the COCO panopticapi rules). SemanticKITTI's rules are checked on hand-made point clouds.
"""
import json

import numpy as np
import pytest
import torch
from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import average_pq, pq_compute_single_core
from PIL import Image
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex
from torchmetrics.detection import PanopticQuality as TorchPanopticQuality

from perception.eval.metrics import ConfusionMatrix, PanopticQuality, _unique_counts

IGNORE = 255
TOLERANCE = 1e-6

# Panoptic test taxonomy: 0-4 stuff, 5-7 things. Random images use stuff 0-3 in the ground truth, stuff 4 only in
# predictions and thing 7 only in the ground truth.
NUM_CLASSES = 8
STUFF_IDS = (0, 1, 2, 3, 4)
THING_IDS = (5, 6, 7)
ROAD, CAR, PERSON = 0, 5, 6


def _from_blocks(blocks):
    """(pred_semantic, pred_instance, gt_semantic, gt_instance), 1-D, from (gt class, gt instance, pred class,
    pred instance, number of elements) blocks laid out one after the other."""
    counts = [block[4] for block in blocks]
    gt_semantic, gt_instance, pred_semantic, pred_instance = (
        np.repeat([block[k] for block in blocks], counts) for k in range(4))
    return pred_semantic, pred_instance, gt_semantic, gt_instance


# ConfusionMatrix

def test_confusion_matrix_hand_made_case():
    target = np.array([[0, 0, 1, 1, 0],
                       [2, 2, IGNORE, 1, 1]])
    pred = np.array([[0, 1, 1, 1, 4],
                     [2, IGNORE, 0, 1, 1]])
    metric = ConfusionMatrix(num_classes=5, ignore_index=IGNORE)
    metric.update(pred, target)

    expected_matrix = np.zeros((5, 5), np.int64)
    expected_matrix[0, [0, 1, 4]] = 1
    expected_matrix[1, 1] = 4
    expected_matrix[2, 2] = 1
    np.testing.assert_array_equal(metric.matrix, expected_matrix)
    np.testing.assert_array_equal(metric.void_predictions, [0, 0, 1, 0, 0])  # the ignore id predicted on a class 2
    # class 0: 1 hit, 3 targets, 1 prediction; class 1: 4 hits, 4 targets, 5 predictions; class 2: 1 hit, 2 targets
    # (one predicted as the ignore id), 1 prediction; class 3: absent; class 4: predicted once, never a target.
    expected_iou = [1 / 3, 4 / 5, 1 / 2, np.nan, 0.0]
    np.testing.assert_allclose(metric.iou(), expected_iou, atol=TOLERANCE)
    assert metric.miou() == pytest.approx((1 / 3 + 4 / 5 + 1 / 2 + 0) / 4, abs=TOLERANCE)
    assert metric.accuracy() == pytest.approx(6 / 9, abs=TOLERANCE)  # the ignored target does not count
    np.testing.assert_allclose(metric.class_accuracy(), [1 / 3, 1, 1 / 2, np.nan, np.nan], atol=TOLERANCE)


def _random_semantic_case(seed: int, num_classes: int = 6, size: int = 5000):
    """Noisy predictions of a target where some classes are absent and the ignore id is sometimes predicted."""
    rng = np.random.default_rng(seed)
    present = rng.choice(num_classes, size=int(rng.integers(2, num_classes)), replace=False)
    target = rng.choice(present, size=size)
    target[rng.random(size) < 0.1] = IGNORE
    pred = np.where(rng.random(size) < 0.6, target, rng.integers(0, num_classes, size))
    pred[rng.random(size) < 0.05] = IGNORE
    return pred, target


@pytest.mark.parametrize('seed', range(6))
def test_confusion_matrix_matches_torchmetrics(seed):
    num_classes = 6
    pred, target = _random_semantic_case(seed, num_classes)
    metric = ConfusionMatrix(num_classes, ignore_index=IGNORE)
    metric.update(torch.from_numpy(pred), torch.from_numpy(target))  # tensors are accepted as well

    # torchmetrics 1.9 crashes (bincount reshape error) on predictions equal to ignore_index, so the reference gets
    # them as an extra class `num_classes`: a miss for the target class, which is our semantics, and we compare the
    # real classes only. torchmetrics reports 0 where we report NaN (classes with an empty union or no target):
    # compare the classes where both are defined and check that ours are NaN exactly where torchmetrics has no data.
    reference_pred = torch.from_numpy(np.where(pred == IGNORE, num_classes, pred))
    reference_target = torch.from_numpy(target)
    jaccard = MulticlassJaccardIndex(num_classes + 1, ignore_index=IGNORE, average='none')
    reference_iou = jaccard(reference_pred, reference_target).numpy()[:num_classes]
    recall = MulticlassAccuracy(num_classes + 1, ignore_index=IGNORE, average='none')
    reference_recall = recall(reference_pred, reference_target).numpy()[:num_classes]
    accuracy = MulticlassAccuracy(num_classes + 1, ignore_index=IGNORE, average='micro')
    reference_accuracy = float(accuracy(reference_pred, reference_target))

    valid = target != IGNORE
    in_union = np.isin(np.arange(num_classes), np.concatenate([target[valid], pred[valid]]))
    in_target = np.isin(np.arange(num_classes), target[valid])
    assert not in_target.all()  # the case has classes absent from the target
    np.testing.assert_allclose(metric.iou()[in_union], reference_iou[in_union], atol=TOLERANCE)
    assert np.isnan(metric.iou()[~in_union]).all()
    np.testing.assert_allclose(metric.class_accuracy()[in_target], reference_recall[in_target], atol=TOLERANCE)
    assert np.isnan(metric.class_accuracy()[~in_target]).all()
    assert metric.accuracy() == pytest.approx(reference_accuracy, abs=TOLERANCE)
    assert metric.miou() == pytest.approx(reference_iou[in_union].mean(), abs=TOLERANCE)


def test_confusion_matrix_streaming_equals_one_update():
    pred, target = _random_semantic_case(seed=7)
    whole = ConfusionMatrix(6)
    whole.update(pred.reshape(50, 100), target.reshape(50, 100))
    streamed = ConfusionMatrix(6)
    for pred_chunk, target_chunk in zip(np.array_split(pred, 7), np.array_split(target, 7)):
        streamed.update(pred_chunk, target_chunk)
    first, second = ConfusionMatrix(6), ConfusionMatrix(6)
    first.update(pred[:1234], target[:1234])
    second.update(pred[1234:], target[1234:])
    first += second

    for metric in (streamed, first):
        np.testing.assert_array_equal(metric.matrix, whole.matrix)
        np.testing.assert_array_equal(metric.void_predictions, whole.void_predictions)
        np.testing.assert_array_equal(metric.iou(), whole.iou())
    streamed.reset()
    assert streamed.matrix.sum() == 0 and np.isnan(streamed.accuracy())


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match='same shape'):
        ConfusionMatrix(3).update(np.zeros((2, 3), int), np.zeros((3, 2), int))
    with pytest.raises(ValueError, match='same shape'):
        PanopticQuality(3, thing_ids=[1]).update(*[np.zeros(4, int)] * 3, np.zeros(5, int))


def test_target_outside_the_classes_raises():
    with pytest.raises(ValueError, match='target ids'):
        ConfusionMatrix(3).update(np.array([0, 1]), np.array([0, 3]))


# PanopticQuality, Cityscapes / COCO rules

def _rectangle(rng, height, width, min_size=6, max_size=20):
    h, w = rng.integers(min_size, max_size, size=2)
    y, x = rng.integers(0, height - h), rng.integers(0, width - w)
    return slice(y, y + h), slice(x, x + w)


def _jittered(rng, rectangle, height, width):
    """The rectangle shifted by up to half its size, so that its IoU with the original spreads around 0.5."""
    rows, cols = rectangle
    h, w = rows.stop - rows.start, cols.stop - cols.start
    y = int(np.clip(rows.start + rng.integers(-h // 2, h // 2 + 1), 0, height - h))
    x = int(np.clip(cols.start + rng.integers(-w // 2, w // 2 + 1), 0, width - w))
    return slice(y, y + h), slice(x, x + w)


def random_panoptic_image(rng, crowd: bool = True, pred_void: bool = True, height: int = 48, width: int = 64):
    """(pred_semantic, pred_instance, gt_semantic, gt_instance) made of stuff bands and thing rectangles.

    It holds: jittered predictions around IoU 0.5, missed and misclassified things, gt void (a rectangle plus
    noise) with a prediction mostly on it and one partly on it, stuff 4 only predicted and thing 7 only in the gt.
    With ``crowd``: instance-less gt things with a prediction on one. With ``pred_void``: predictions of the ignore
    id and predicted things with instance 0 (unlabelled).
    """
    gt_semantic = np.zeros((height, width), np.int64)
    gt_instance = np.zeros_like(gt_semantic)
    pred_semantic = np.zeros_like(gt_semantic)
    pred_instance = np.zeros_like(gt_semantic)
    borders = np.sort(rng.choice(np.arange(8, height - 8), size=2, replace=False))
    band_classes = rng.choice(4, size=3, replace=False)
    for band, (start, stop) in enumerate(zip([0, *borders], [*borders, height])):
        gt_semantic[start:stop] = band_classes[band]
        shift = rng.integers(-5, 6, size=2)
        pred_semantic[max(start + shift[0], 0):stop + shift[1]] = band_classes[band]
    pred_semantic[_rectangle(rng, height, width)] = 4

    next_pred_instance = 1
    crowd_rectangles = []
    for instance in range(1, int(rng.integers(4, 9))):
        thing = int(rng.choice([CAR, PERSON]))
        rectangle = _rectangle(rng, height, width)
        is_crowd = crowd and rng.random() < 0.25
        gt_semantic[rectangle], gt_instance[rectangle] = thing, 0 if is_crowd else instance
        if is_crowd:
            crowd_rectangles.append((thing, rectangle))
        if rng.random() < 0.85:
            predicted = thing if rng.random() < 0.85 else CAR + PERSON - thing
            pred_rectangle = _jittered(rng, rectangle, height, width)
            pred_semantic[pred_rectangle], pred_instance[pred_rectangle] = predicted, next_pred_instance
            next_pred_instance += 1
    gt_only = _rectangle(rng, height, width, max_size=10)
    gt_semantic[gt_only], gt_instance[gt_only] = 7, 50

    void = _rectangle(rng, height, width, min_size=10)
    gt_semantic[void] = IGNORE
    gt_semantic[rng.random((height, width)) < 0.03] = IGNORE
    for rectangle in (void, _jittered(rng, void, height, width)):
        pred_semantic[rectangle], pred_instance[rectangle] = CAR, next_pred_instance
        next_pred_instance += 1
    for thing, rectangle in crowd_rectangles[:1]:
        on_crowd = _jittered(rng, rectangle, height, width)
        pred_semantic[on_crowd], pred_instance[on_crowd] = thing, next_pred_instance
        next_pred_instance += 1
    if pred_void:
        pred_semantic[rng.random((height, width)) < 0.03] = IGNORE
        pred_instance[_rectangle(rng, height, width, max_size=10)] = 0
    return pred_semantic, pred_instance, gt_semantic, gt_instance


def _write_coco_panoptic(folder, name: str, semantic, instance, is_gt: bool) -> dict:
    """Write a COCO-panoptic PNG (segment id = R + 256 G + 256^2 B, 0 = void) and return its annotation.

    Stuff is one segment per class; in the gt, thing pixels with instance 0 are the class's crowd segment
    (iscrowd=1); in predictions they are left void, like the ignore id.
    """
    segment_ids = np.zeros(semantic.shape, np.uint32)
    segments_info = []
    labelled = (semantic >= 0) & (semantic < NUM_CLASSES)
    instance = np.where(np.isin(semantic, THING_IDS), instance, 0)
    for category, instance_id in sorted({(int(c), int(i)) for c, i in zip(semantic[labelled], instance[labelled])}):
        is_thing_without_instance = category in THING_IDS and instance_id == 0
        if is_thing_without_instance and not is_gt:
            continue
        mask = (semantic == category) & (instance == instance_id)
        rows, cols = np.nonzero(mask)
        segment_id = len(segments_info) + 1
        segment_ids[mask] = segment_id
        segments_info.append({
            'id': segment_id, 'category_id': category, 'iscrowd': int(is_thing_without_instance),
            'area': int(mask.sum()), 'bbox': [int(cols.min()), int(rows.min()), int(np.ptp(cols)) + 1,
                                              int(np.ptp(rows)) + 1]})
    rgb = np.stack([segment_ids % 256, segment_ids // 256 % 256, segment_ids // 256 ** 2], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(folder / f'{name}.png')
    return {'image_id': name, 'file_name': f'{name}.png', 'segments_info': segments_info}


def cityscapes_reference(tmp_path, images):
    """cityscapesScripts' PQ of the images: COCO-panoptic PNGs and JSON files, then its single-core worker."""
    categories = [{'id': c, 'name': f'class{c}', 'isthing': int(c in THING_IDS)} for c in range(NUM_CLASSES)]
    for kind in ('gt', 'pred'):
        (tmp_path / kind).mkdir()
    gt_json = {'annotations': [], 'categories': categories}
    pred_json = {'annotations': []}
    for index, (pred_semantic, pred_instance, gt_semantic, gt_instance) in enumerate(images):
        name = f'image{index}'
        gt_json['annotations'].append(_write_coco_panoptic(tmp_path / 'gt', name, gt_semantic, gt_instance, True))
        pred_json['annotations'].append(
            _write_coco_panoptic(tmp_path / 'pred', name, pred_semantic, pred_instance, False))
    for kind, content in (('gt', gt_json), ('pred', pred_json)):
        (tmp_path / f'{kind}.json').write_text(json.dumps(content))

    # What evaluatePanoptic does, with the single-core worker instead of a process pool.
    gt_json = json.loads((tmp_path / 'gt.json').read_text())
    pred_json = json.loads((tmp_path / 'pred.json').read_text())
    categories = {category['id']: category for category in gt_json['categories']}
    predictions = {annotation['image_id']: annotation for annotation in pred_json['annotations']}
    matched = [(annotation, predictions[annotation['image_id']]) for annotation in gt_json['annotations']]
    pq_stat = pq_compute_single_core(0, matched, str(tmp_path / 'gt'), str(tmp_path / 'pred'), categories)
    return average_pq(pq_stat, categories), pq_stat


def assert_matches_cityscapes(results, reference, pq_stat):
    for ours, theirs in (('all', 'All'), ('things', 'Things'), ('stuff', 'Stuff')):
        for key in ('pq', 'sq', 'rq'):
            assert results[ours][key] == pytest.approx(reference[theirs][key], abs=TOLERANCE), (ours, key)
        assert results[ours]['n'] == reference[theirs]['n']
    for class_id, ours in results['per_class'].items():
        stat = pq_stat.pq_per_cat[class_id]
        assert (ours['tp'], ours['fp'], ours['fn']) == (stat.tp, stat.fp, stat.fn), class_id
        assert ours['iou_sum'] == pytest.approx(stat.iou, abs=TOLERANCE)
        theirs = reference['per_class'][class_id]
        if stat.tp + stat.fp + stat.fn:
            for key in ('pq', 'sq', 'rq'):
                assert ours[key] == pytest.approx(theirs[key], abs=TOLERANCE), (class_id, key)
        else:  # cityscapesScripts reports 0 for a class that never appeared, we report NaN
            assert np.isnan([ours['pq'], ours['sq'], ours['rq']]).all() and theirs['pq'] == 0


def test_cityscapes_rules_hand_made_case(tmp_path):
    # (gt class, gt instance, pred class, pred instance, number of pixels), laid out on one image row.
    image = tuple(array[None] for array in _from_blocks([
        (ROAD, 0, ROAD, 0, 30),
        (CAR, 1, CAR, 1, 6),
        (CAR, 1, ROAD, 0, 2),
        (IGNORE, 0, CAR, 1, 2),  # void under car 1: out of its union
        (ROAD, 0, CAR, 1, 2),
        (CAR, 0, CAR, 2, 3),  # crowd car under predicted car 2
        (CAR, 0, ROAD, 0, 1),
        (ROAD, 0, CAR, 2, 1),
        (PERSON, 3, PERSON, 4, 2),
        (PERSON, 3, ROAD, 0, 3),
        (IGNORE, 0, PERSON, 4, 3),
        (PERSON, 5, PERSON, 6, 4),
        (ROAD, 0, PERSON, 7, 4),
        (IGNORE, 0, PERSON, 7, 1),
        (IGNORE, 0, IGNORE, 0, 2),
    ]))
    metric = PanopticQuality(NUM_CLASSES, THING_IDS, ignore_index=IGNORE)
    metric.update(*image)
    results = metric.compute()

    # road: gt 30+2+1+4 = 37, pred 30+2+1+3 = 36, overlap 30 -> IoU 30/43, a TP.
    # car 1: gt 8, pred 6+2+2 = 10 of which 2 on void, overlap 6 -> IoU 6/(8+10-6-2) = 0.6, a TP (0.5 with the void).
    # car 2: 3 of its 4 pixels on the crowd car -> not a FP; the crowd is no FN.
    # person 3 / person 4: overlap 2, union 5+5-2-3 (void) -> IoU 0.4: person 3 is a FN; person 4 is 3/5 void -> no FP.
    # person 5 / person 6: IoU 1, a TP. person 7: 1 of 5 pixels on void -> a FP.
    road_iou = 30 / 43
    expected = {ROAD: (1, 0, 0, road_iou), CAR: (1, 0, 0, 0.6), PERSON: (1, 1, 1, 1.0)}
    for class_id, (tp, fp, fn, iou_sum) in expected.items():
        ours = results['per_class'][class_id]
        assert (ours['tp'], ours['fp'], ours['fn']) == (tp, fp, fn)
        assert ours['iou_sum'] == pytest.approx(iou_sum, abs=TOLERANCE)
    assert results['per_class'][PERSON]['pq'] == pytest.approx(0.5, abs=TOLERANCE)
    assert results['per_class'][PERSON]['rq'] == pytest.approx(0.5, abs=TOLERANCE)
    assert results['things'] == pytest.approx({'pq': 0.55, 'sq': 0.8, 'rq': 0.75, 'n': 2}, abs=TOLERANCE)
    assert results['stuff'] == pytest.approx({'pq': road_iou, 'sq': road_iou, 'rq': 1.0, 'n': 1}, abs=TOLERANCE)
    assert results['all'] == pytest.approx(
        {'pq': (road_iou + 0.6 + 0.5) / 3, 'sq': (road_iou + 0.6 + 1) / 3, 'rq': 2.5 / 3, 'n': 3}, abs=TOLERANCE)
    assert np.isnan(results['per_class'][1]['pq'])

    reference, pq_stat = cityscapes_reference(tmp_path, [image])
    assert_matches_cityscapes(results, reference, pq_stat)


@pytest.mark.parametrize('seed', range(4))
def test_cityscapes_rules_match_cityscapesscripts_on_random_images(tmp_path, seed):
    rng = np.random.default_rng(seed)
    images = [random_panoptic_image(rng) for _ in range(3)]
    metric = PanopticQuality(NUM_CLASSES, THING_IDS, ignore_index=IGNORE, rules='cityscapes')
    for image in images:
        metric.update(*image)
    reference, pq_stat = cityscapes_reference(tmp_path, images)
    assert_matches_cityscapes(metric.compute(), reference, pq_stat)


@pytest.mark.parametrize('rules', ['cityscapes', 'semantickitti'])
def test_iou_of_exactly_one_half_is_no_match(tmp_path, rules):
    image = tuple(array[None] for array in _from_blocks(
        [(CAR, 1, CAR, 1, 2), (CAR, 1, ROAD, 0, 2), (ROAD, 0, ROAD, 0, 8)]))
    metric = PanopticQuality(NUM_CLASSES, THING_IDS, rules=rules, min_points=1)
    metric.update(*image)
    results = metric.compute()
    car = results['per_class'][CAR]
    assert (car['tp'], car['fp'], car['fn']) == (0, 1, 1)
    if rules == 'cityscapes':
        reference, pq_stat = cityscapes_reference(tmp_path, [image])
        assert_matches_cityscapes(results, reference, pq_stat)


def _segments(semantic, instance, with_instance_zero: bool):
    """{(class, instance): mask} of the labelled segments (a test helper, one mask per segment)."""
    instance = np.where(np.isin(semantic, THING_IDS), instance, 0)
    keys = {(int(c), int(i)) for c, i in zip(semantic.ravel(), instance.ravel()) if 0 <= c < NUM_CLASSES}
    return {(c, i): (semantic == c) & (instance == i) for c, i in keys
            if with_instance_zero or c not in THING_IDS or i}


def test_random_images_exercise_the_edge_cases():
    """The random images hold the cases the cross-check needs, measured with plain per-segment masks."""
    rng = np.random.default_rng(0)
    same_class_ious, mostly_void_predictions, predictions_on_crowd = [], 0, 0
    predicted_classes, gt_classes = set(), set()
    for _ in range(12):
        pred_semantic, pred_instance, gt_semantic, gt_instance = random_panoptic_image(rng)
        gt_void = gt_semantic == IGNORE
        crowd = np.isin(gt_semantic, THING_IDS) & (gt_instance == 0)
        gt_segments = _segments(gt_semantic, gt_instance, with_instance_zero=False)
        for (category, _), pred_mask in _segments(pred_semantic, pred_instance, with_instance_zero=False).items():
            predicted_classes.add(category)
            mostly_void_predictions += (pred_mask & gt_void).sum() > pred_mask.sum() / 2
            predictions_on_crowd += (pred_mask & crowd & (gt_semantic == category)).any()
            for (gt_category, _), gt_mask in gt_segments.items():
                if gt_category == category and (gt_mask & pred_mask).any():
                    union = (gt_mask | pred_mask).sum() - (pred_mask & gt_void).sum()
                    same_class_ious.append((gt_mask & pred_mask).sum() / union)
        gt_classes |= {category for category, _ in gt_segments}
    same_class_ious = np.array(same_class_ious)
    assert ((same_class_ious > 0.4) & (same_class_ious <= 0.5)).sum() >= 3
    assert ((same_class_ious > 0.5) & (same_class_ious < 0.6)).sum() >= 3
    assert mostly_void_predictions >= 5 and predictions_on_crowd >= 3
    assert 4 in predicted_classes - gt_classes and 7 in gt_classes - predicted_classes


@pytest.mark.parametrize('seed', range(3))
def test_cityscapes_rules_match_torchmetrics_without_crowd_or_void_predictions(seed):
    """torchmetrics agrees where its semantics do: it has no crowd regions (a thing's instance 0 is an ordinary
    segment), and predicted void, unlike in COCO, is left out of a ground-truth segment's union and excuses that
    segment from being a FN when it covers more than half of it. So: no crowd, no void or instance-0 predictions."""
    rng = np.random.default_rng(100 + seed)
    metric = PanopticQuality(NUM_CLASSES, THING_IDS, ignore_index=IGNORE)
    reference = TorchPanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS), return_sq_and_rq=True,
                                     return_per_class=True)
    reference_average = TorchPanopticQuality(things=set(THING_IDS), stuffs=set(STUFF_IDS), return_sq_and_rq=True)
    for _ in range(3):
        pred_semantic, pred_instance, gt_semantic, gt_instance = random_panoptic_image(rng, crowd=False,
                                                                                       pred_void=False)
        metric.update(pred_semantic, pred_instance, gt_semantic, gt_instance)
        # (batch, H, W, (category, instance)); the gt ignore id is an unknown category, which torchmetrics voids.
        for torch_metric in (reference, reference_average):
            torch_metric.update(torch.from_numpy(np.stack([pred_semantic, pred_instance], -1)[None]),
                                torch.from_numpy(np.stack([gt_semantic, gt_instance], -1)[None]))
    results = metric.compute()
    per_class = reference.compute().numpy()  # (classes, (pq, sq, rq)), things then stuff, each sorted
    appeared = (reference.true_positives + reference.false_positives + reference.false_negatives > 0).numpy()
    for row, class_id in enumerate(sorted(THING_IDS) + sorted(STUFF_IDS)):
        ours = results['per_class'][class_id]
        assert (ours['tp'], ours['fp'], ours['fn']) == (int(reference.true_positives[row]),
                                                        int(reference.false_positives[row]),
                                                        int(reference.false_negatives[row])), class_id
        if appeared[row]:
            np.testing.assert_allclose([ours['pq'], ours['sq'], ours['rq']], per_class[row], atol=TOLERANCE)
    np.testing.assert_allclose([results['all'][key] for key in ('pq', 'sq', 'rq')],
                               reference_average.compute().numpy(), atol=TOLERANCE)


def test_streaming_and_merging_panoptic_quality_agree():
    rng = np.random.default_rng(3)
    images = [random_panoptic_image(rng) for _ in range(4)]
    streamed = PanopticQuality(NUM_CLASSES, THING_IDS)
    for image in images:
        streamed.update(*image)
    first, second = PanopticQuality(NUM_CLASSES, THING_IDS), PanopticQuality(NUM_CLASSES, THING_IDS)
    for image in images[:2]:
        first.update(*image)
    for image in images[2:]:
        second.update(*(torch.from_numpy(array) for array in image))
    first += second
    assert first.compute() == streamed.compute()
    streamed.reset()
    assert streamed.compute()['all']['n'] == 0 and np.isnan(streamed.compute()['all']['pq'])


# PanopticQuality, SemanticKITTI rules

KITTI_ROAD, KITTI_CAR, KITTI_PERSON = 0, 1, 2
KITTI_BLOCKS = [
    (KITTI_ROAD, 0, KITTI_ROAD, 3, 150),  # predicted stuff instance ids are ignored: one road segment
    (KITTI_CAR, 1, KITTI_CAR, 7, 90),
    (KITTI_CAR, 1, KITTI_ROAD, 9, 10),
    (KITTI_ROAD, 0, KITTI_CAR, 7, 20),
    (IGNORE, 0, KITTI_CAR, 7, 60),  # removed first; kept, car 7 would have 170 points and IoU 90/180 = 0.5
    (KITTI_PERSON, 2, KITTI_ROAD, 0, 60),  # unmatched gt with >= 50 points: a FN
    (KITTI_ROAD, 0, KITTI_PERSON, 3, 30),  # unmatched prediction with 30 < 50 points: no FP
    (IGNORE, 0, KITTI_PERSON, 3, 40),  # removed first; kept, person 3 would have 70 points and be a FP
    (KITTI_PERSON, 4, KITTI_ROAD, 0, 20),  # unmatched gt with 20 < 50 points: no FN
    (IGNORE, 0, IGNORE, 0, 5),
]


def test_semantickitti_rules_hand_made_case():
    metric = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], ignore_index=IGNORE, rules='semantickitti')
    metric.update(*_from_blocks(KITTI_BLOCKS))
    results = metric.compute()

    # road: gt 150+20+30 = 200, pred 150+10+60+20 = 240, overlap 150 -> IoU 150/290 = 15/29, a TP.
    # car: gt 100, pred 90+20 = 110, overlap 90 -> IoU 90/120 = 0.75, a TP. person: one FN only.
    road_iou = 15 / 29
    expected = {KITTI_ROAD: (1, 0, 0, road_iou), KITTI_CAR: (1, 0, 0, 0.75), KITTI_PERSON: (0, 0, 1, 0.0)}
    for class_id, (tp, fp, fn, iou_sum) in expected.items():
        ours = results['per_class'][class_id]
        assert (ours['tp'], ours['fp'], ours['fn']) == (tp, fp, fn)
        assert ours['iou_sum'] == pytest.approx(iou_sum, abs=TOLERANCE)
    assert results['per_class'][KITTI_PERSON] == pytest.approx(
        {'pq': 0.0, 'sq': 0.0, 'rq': 0.0, 'tp': 0, 'fp': 0, 'fn': 1, 'iou_sum': 0.0})
    assert results['all'] == pytest.approx(
        {'pq': (road_iou + 0.75) / 3, 'sq': (road_iou + 0.75) / 3, 'rq': 2 / 3, 'n': 3}, abs=TOLERANCE)
    assert results['things'] == pytest.approx({'pq': 0.375, 'sq': 0.375, 'rq': 0.5, 'n': 2}, abs=TOLERANCE)
    assert results['stuff'] == pytest.approx({'pq': road_iou, 'sq': road_iou, 'rq': 1.0, 'n': 1}, abs=TOLERANCE)


def test_semantickitti_min_points_is_a_parameter():
    metric = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='semantickitti', min_points=20)
    metric.update(*_from_blocks(KITTI_BLOCKS))
    person = metric.compute()['per_class'][KITTI_PERSON]
    assert (person['tp'], person['fp'], person['fn']) == (0, 1, 2)  # the 30-point FP and the 20-point FN now count


def test_semantickitti_removes_ignored_points_before_anything_else():
    pred_semantic, pred_instance, gt_semantic, gt_instance = _from_blocks(KITTI_BLOCKS)
    labelled = gt_semantic != IGNORE
    with_ignored = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='semantickitti')
    with_ignored.update(pred_semantic, pred_instance, gt_semantic, gt_instance)
    without = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='semantickitti')
    without.update(pred_semantic[labelled], pred_instance[labelled], gt_semantic[labelled], gt_instance[labelled])
    assert with_ignored.compute() == without.compute()

    # The ignored points matter: labelled as road instead, they put car 7 at IoU 90/180 = 0.5, no match.
    as_road = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='semantickitti')
    as_road.update(pred_semantic, pred_instance, np.where(labelled, gt_semantic, KITTI_ROAD), gt_instance)
    car = as_road.compute()['per_class'][KITTI_CAR]
    assert (car['tp'], car['fp'], car['fn']) == (0, 1, 1)


def test_semantickitti_thing_instance_zero_is_an_ordinary_segment():
    """Unlike the Cityscapes rules (instance 0 = crowd in the gt, unlabelled in predictions)."""
    car = np.full(60, KITTI_CAR)
    no_instance = np.zeros(60, np.int64)
    kitti = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='semantickitti')
    kitti.update(car, no_instance, car, no_instance)
    assert kitti.compute()['per_class'][KITTI_CAR]['tp'] == 1
    cityscapes = PanopticQuality(3, thing_ids=[KITTI_CAR, KITTI_PERSON], rules='cityscapes')
    cityscapes.update(car, no_instance, car, no_instance)
    assert cityscapes.compute()['things']['n'] == 0


@pytest.mark.parametrize('high', [50, 10**9])  # counted / sorted (a range much larger than the values' number)
def test_unique_by_counting_is_numpys_unique(high):
    values = np.random.default_rng(0).integers(0, high, 5000)
    for got, expected in zip(_unique_counts(values), np.unique(values, return_inverse=True, return_counts=True)):
        np.testing.assert_array_equal(got, expected)
    assert [len(part) for part in _unique_counts(np.zeros(0, np.int64))] == [0, 0, 0]
