"""Streaming segmentation metrics: a confusion matrix (IoU, accuracy) and panoptic quality (PQ, SQ, RQ).

Inputs are integer numpy arrays or torch tensors (on any device) of any shape: image pixels or LiDAR points.
Every value returned is a fraction in [0, 1]; reports multiply by 100.
"""
import numpy as np

PANOPTIC_RULES = ('cityscapes', 'semantickitti')


def _as_int_array(values) -> np.ndarray:
    """An int64 numpy array from an integer numpy array, sequence or torch tensor."""
    if hasattr(values, 'cpu'):
        values = values.cpu()
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f'expected integer labels, got dtype {array.dtype}')
    return array.astype(np.int64, copy=False)


def _flat_int_arrays(**named_values) -> list[np.ndarray]:
    """The named inputs as flat int64 arrays; ValueError unless all have the same shape."""
    arrays = {name: _as_int_array(values) for name, values in named_values.items()}
    if len({array.shape for array in arrays.values()}) > 1:
        shapes = ', '.join(f'{name} {array.shape}' for name, array in arrays.items())
        raise ValueError(f'inputs must have the same shape, got {shapes}')
    return [array.ravel() for array in arrays.values()]


def _unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """np.unique(values, return_inverse=True, return_counts=True) of non-negative integers, by counting instead of
    sorting when their range is not much larger than their number (segment keys of an image or a sweep)."""
    top = int(values.max(initial=-1)) + 1
    if top > 4 * len(values) + 65536:
        return np.unique(values, return_inverse=True, return_counts=True)
    counts = np.bincount(values, minlength=top)
    keys = np.flatnonzero(counts)
    position = np.zeros(top, np.int64)
    position[keys] = np.arange(len(keys))
    return keys, position[values], counts[keys]


def _check_target_classes(target: np.ndarray, num_classes: int, ignore_index: int) -> None:
    bad = (target < 0) | (target >= num_classes)
    if bad.any():
        raise ValueError(f'target ids must lie in [0, {num_classes}) or equal ignore_index {ignore_index}, '
                         f'got {np.unique(target[bad])[:10].tolist()}')


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where the denominator is 0."""
    out = np.full(np.shape(numerator), np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float('nan')


class ConfusionMatrix:
    """Streaming confusion matrix for semantic segmentation, with IoU and accuracy.

    ``matrix[t, p]`` (int64, rows = target, columns = prediction) counts the valid pixels or points of target class
    ``t`` predicted as ``p``. Targets equal to ``ignore_index`` are skipped. A prediction outside
    ``[0, num_classes)`` (the ignore id, say) on a valid target is a miss for the target class: it is counted in
    ``void_predictions[t]``, a false negative of ``t`` and a hit of nothing.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.reset()

    def reset(self) -> None:
        self.matrix = np.zeros((self.num_classes, self.num_classes), np.int64)
        self.void_predictions = np.zeros(self.num_classes, np.int64)

    def update(self, pred, target) -> None:
        """Add one batch: ``pred`` and ``target`` are integer class ids of the same (any) shape."""
        pred, target = _flat_int_arrays(pred=pred, target=target)
        valid = target != self.ignore_index
        pred, target = pred[valid], target[valid]
        _check_target_classes(target, self.num_classes, self.ignore_index)
        n = self.num_classes
        pred = np.where((pred >= 0) & (pred < n), pred, n)  # column n collects the predictions outside the classes
        counts = np.bincount(target * (n + 1) + pred, minlength=n * (n + 1)).reshape(n, n + 1)
        self.matrix += counts[:, :n]
        self.void_predictions += counts[:, n]

    def merge(self, other: 'ConfusionMatrix') -> 'ConfusionMatrix':
        """Add the counts of ``other`` (same classes and ignore id) into this one; returns self."""
        if (other.num_classes, other.ignore_index) != (self.num_classes, self.ignore_index):
            raise ValueError('cannot merge confusion matrices with different num_classes or ignore_index')
        self.matrix += other.matrix
        self.void_predictions += other.void_predictions
        return self

    def __iadd__(self, other: 'ConfusionMatrix') -> 'ConfusionMatrix':
        return self.merge(other)

    def _target_counts(self) -> np.ndarray:
        return self.matrix.sum(axis=1) + self.void_predictions

    def iou(self) -> np.ndarray:
        """(num_classes,) intersection over union per class; NaN for a class with an empty union."""
        hits = np.diag(self.matrix)
        return _divide(hits, self._target_counts() + self.matrix.sum(axis=0) - hits)

    def miou(self) -> float:
        """Mean IoU over the classes with a non-empty union."""
        return _nanmean(self.iou())

    def accuracy(self) -> float:
        """Fraction of valid pixels or points predicted correctly (NaN before any)."""
        total = self._target_counts().sum()
        return float(np.trace(self.matrix) / total) if total else float('nan')

    def class_accuracy(self) -> np.ndarray:
        """(num_classes,) recall per class; NaN for a class absent from the targets."""
        return _divide(np.diag(self.matrix), self._target_counts())


class PanopticQuality:
    """Streaming panoptic quality (PQ = SQ x RQ) over images or point clouds: per class, all, things and stuff.

    Each ``update`` is one image or point cloud: segments never match across updates. A stuff class forms one
    segment per class (instance ids ignored); a thing segment is a (class, instance) pair. A ground-truth and a
    predicted segment of the same class match when their IoU > 0.5 (which makes matches unique). Per class:
    SQ = iou_sum / TP (0 without a TP), RQ = TP / (TP + FP/2 + FN/2), PQ = iou_sum / (TP + FP/2 + FN/2) = SQ x RQ.
    The all / things / stuff values average over the classes that appear (TP + FP + FN > 0), as
    cityscapesScripts and torchmetrics do; ``n`` is how many.

    ``rules='cityscapes'`` (default, camera images) follows cityscapesScripts'
    ``evalPanopticSemanticLabeling.pq_compute_single_core`` (the COCO panopticapi rules) exactly:

    - ground truth equal to ``ignore_index`` is void; ground-truth thing pixels with instance 0 are that class's
      crowd region (Cityscapes' instance-less thing pixels, ``iscrowd=1``): never matched, neither TP nor FN;
    - predictions outside ``[0, num_classes)`` and predicted thing pixels with instance 0 are unlabelled: part of
      no predicted segment (they still count in the area of the ground-truth segment they cover);
    - IoU(g, p) = |g & p| / (|g| + |p| - |g & p| - |p on void|): the union leaves out the predicted segment's
      void pixels (but not its pixels on crowd regions, as in the reference);
    - an unmatched predicted segment is no false positive when more than half of it lies on void plus its own
      class's crowd region.

    ``rules='semantickitti'`` (LiDAR points) follows semantic-kitti-api's ``eval_np.PanopticEval``:

    - points whose ground truth is ``ignore_index`` are removed before anything else; predictions outside
      ``[0, num_classes)`` form no segment;
    - IoU is the plain |g & p| / |g | p|; a thing's instance 0 is an ordinary segment (the reference shifts all
      instance ids by one), there is no crowd;
    - an unmatched segment is a FN (ground truth) or FP (prediction) only if it has at least ``min_points``
      points (``evaluate_panoptic.py`` uses 50).

    The reference's ``getPQ`` averages over every non-ignored class, so a class absent from the whole evaluation
    counts there as 0; here it is left out of the average like in the Cityscapes rules. The reference also keeps
    predicted instance ids on stuff classes (SemanticKITTI labels stuff with instance 0); here they are ignored.
    """

    def __init__(self, num_classes: int, thing_ids, ignore_index: int = 255, rules: str = 'cityscapes',
                 min_points: int = 50):
        if rules not in PANOPTIC_RULES:
            raise ValueError(f'rules must be one of {PANOPTIC_RULES}, got {rules!r}')
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        thing_ids = sorted({int(class_id) for class_id in thing_ids})
        if thing_ids and not 0 <= thing_ids[0] <= thing_ids[-1] < num_classes:
            raise ValueError(f'thing_ids must lie in [0, {num_classes}), got {thing_ids}')
        self.num_classes = int(num_classes)
        self.is_thing = np.zeros(self.num_classes, bool)
        self.is_thing[thing_ids] = True
        self.ignore_index = int(ignore_index)
        self.rules = rules
        self.min_points = int(min_points)
        self.reset()

    def reset(self) -> None:
        self.tp = np.zeros(self.num_classes, np.int64)
        self.fp = np.zeros(self.num_classes, np.int64)
        self.fn = np.zeros(self.num_classes, np.int64)
        self.iou_sum = np.zeros(self.num_classes, np.float64)

    def _segments(self, semantic: np.ndarray, instance: np.ndarray, labelled: np.ndarray):
        """Segment index per element (-1 where not labelled), and the class and instance id of each segment."""
        semantic = np.where(labelled, semantic, 0)
        instance = np.where(labelled & self.is_thing[semantic], instance, 0)
        if (instance < 0).any():
            raise ValueError('instance ids must be non-negative')
        stride = int(instance.max(initial=0)) + 1
        keys, index, _ = _unique_counts(semantic[labelled] * stride + instance[labelled])
        segment = np.full(semantic.shape, -1, np.int64)
        segment[labelled] = index
        return segment, keys // stride, keys % stride

    def update(self, pred_semantic, pred_instance, gt_semantic, gt_instance) -> None:
        """Add one image or point cloud: four integer arrays of the same (any) shape."""
        pred_semantic, pred_instance, gt_semantic, gt_instance = _flat_int_arrays(
            pred_semantic=pred_semantic, pred_instance=pred_instance,
            gt_semantic=gt_semantic, gt_instance=gt_instance)
        gt_labelled = gt_semantic != self.ignore_index
        _check_target_classes(gt_semantic[gt_labelled], self.num_classes, self.ignore_index)
        kitti = self.rules == 'semantickitti'
        if kitti:
            pred_semantic, pred_instance, gt_semantic, gt_instance = (
                array[gt_labelled] for array in (pred_semantic, pred_instance, gt_semantic, gt_instance))
            gt_labelled = np.ones(gt_semantic.shape, bool)
        pred_labelled = (pred_semantic >= 0) & (pred_semantic < self.num_classes)
        if not kitti:
            pred_labelled &= ~(self.is_thing[np.where(pred_labelled, pred_semantic, 0)] & (pred_instance == 0))

        gt_segment, gt_class, gt_instance_id = self._segments(gt_semantic, gt_instance, gt_labelled)
        pred_segment, pred_class, _ = self._segments(pred_semantic, pred_instance, pred_labelled)
        gt_crowd = self.is_thing[gt_class] & (gt_instance_id == 0) & (not kitti)
        n_gt, n_pred = len(gt_class), len(pred_class)

        # Unlabelled elements go to the extra index n_gt / n_pred; |g & p| for every overlapping pair.
        gt_index = np.where(gt_segment < 0, n_gt, gt_segment)
        pred_index = np.where(pred_segment < 0, n_pred, pred_segment)
        gt_area = np.bincount(gt_index, minlength=n_gt + 1)[:n_gt]
        pred_area = np.bincount(pred_index, minlength=n_pred + 1)[:n_pred]
        pairs, _, intersection = _unique_counts(gt_index * (n_pred + 1) + pred_index)
        pair_gt, pair_pred = np.divmod(pairs, n_pred + 1)
        on_void = (pair_gt == n_gt) & (pair_pred < n_pred)
        pred_on_void = np.bincount(pair_pred[on_void], weights=intersection[on_void], minlength=n_pred)

        keep = (pair_gt < n_gt) & (pair_pred < n_pred)
        pair_gt, pair_pred, intersection = pair_gt[keep], pair_pred[keep], intersection[keep]
        same_class = gt_class[pair_gt] == pred_class[pair_pred]
        pair_gt, pair_pred, intersection = pair_gt[same_class], pair_pred[same_class], intersection[same_class]
        crowd = gt_crowd[pair_gt]
        pred_on_crowd = np.bincount(pair_pred[crowd], weights=intersection[crowd], minlength=n_pred)
        pair_gt, pair_pred, intersection = pair_gt[~crowd], pair_pred[~crowd], intersection[~crowd]

        union = gt_area[pair_gt] + pred_area[pair_pred] - intersection - pred_on_void[pair_pred]
        iou = intersection / union
        matched = iou > 0.5
        matched_class = gt_class[pair_gt[matched]]
        self.tp += np.bincount(matched_class, minlength=self.num_classes)
        self.iou_sum += np.bincount(matched_class, weights=iou[matched], minlength=self.num_classes)

        false_negative = ~gt_crowd
        false_negative[pair_gt[matched]] = False
        false_positive = np.ones(n_pred, bool)
        false_positive[pair_pred[matched]] = False
        if kitti:
            false_negative &= gt_area >= self.min_points
            false_positive &= pred_area >= self.min_points
        else:
            false_positive &= 2 * (pred_on_void + pred_on_crowd) <= pred_area
        self.fn += np.bincount(gt_class[false_negative], minlength=self.num_classes)
        self.fp += np.bincount(pred_class[false_positive], minlength=self.num_classes)

    def merge(self, other: 'PanopticQuality') -> 'PanopticQuality':
        """Add the counts of ``other`` (same configuration) into this one; returns self."""
        if (other.num_classes, other.ignore_index, other.rules, other.min_points) != (
                self.num_classes, self.ignore_index, self.rules, self.min_points) or \
                not np.array_equal(other.is_thing, self.is_thing):
            raise ValueError('cannot merge panoptic qualities with different configurations')
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou_sum += other.iou_sum
        return self

    def __iadd__(self, other: 'PanopticQuality') -> 'PanopticQuality':
        return self.merge(other)

    def compute(self) -> dict:
        """``{'all' | 'things' | 'stuff': {'pq', 'sq', 'rq', 'n'}, 'per_class': {class_id: {'pq', 'sq', 'rq', 'tp',
        'fp', 'fn', 'iou_sum'}}}``; pq, sq and rq are NaN for a class that never appeared and for an empty group."""
        denominator = self.tp + 0.5 * self.fp + 0.5 * self.fn
        appeared = denominator > 0
        pq = _divide(self.iou_sum, denominator)
        rq = _divide(self.tp, denominator)
        sq = np.where(appeared, np.where(self.tp > 0, _divide(self.iou_sum, self.tp), 0.0), np.nan)

        results = {}
        for group, members in (('all', np.ones(self.num_classes, bool)), ('things', self.is_thing),
                               ('stuff', ~self.is_thing)):
            selected = members & appeared
            results[group] = {'pq': _nanmean(pq[selected]), 'sq': _nanmean(sq[selected]),
                              'rq': _nanmean(rq[selected]), 'n': int(selected.sum())}
        results['per_class'] = {
            class_id: {'pq': float(pq[class_id]), 'sq': float(sq[class_id]), 'rq': float(rq[class_id]),
                       'tp': int(self.tp[class_id]), 'fp': int(self.fp[class_id]), 'fn': int(self.fn[class_id]),
                       'iou_sum': float(self.iou_sum[class_id])}
            for class_id in range(self.num_classes)}
        return results
