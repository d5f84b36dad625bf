"""Scores of predicted taxonomy ids against the kinds of ground truth real datasets have, for points and pixels
alike: full taxonomy labels, a dataset's own classes, coarse labels that each cover several taxonomy classes,
boxes (what share of the points or pixels inside / outside is a vehicle class), and no labels at all (the share
of each predicted class). Summaries are in percent, None where there was nothing to measure."""
import numpy as np

from perception.eval.metrics import ConfusionMatrix
from perception.eval.real_data import CoarseLabel


def percent(value) -> float | None:
    return None if value is None or not np.isfinite(value) else round(100 * float(value), 2)


def _share(part: int, whole: int) -> float | None:
    return percent(part / whole) if whole else None


class ClassScore:
    """Per-class IoU over `names` (ids 0..K-1, `ignore_id` skipped in the truth); the mean is over the classes
    present in the ground truth, so a class the data never shows does not count."""

    def __init__(self, names: tuple[str, ...], ignore_id: int):
        self.names = names
        self.confusion = ConfusionMatrix(len(names), ignore_id)

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        self.confusion.update(prediction, truth)

    def present(self) -> np.ndarray:
        return self.confusion.matrix.sum(axis=1) + self.confusion.void_predictions > 0

    def summary(self) -> dict:
        present, iou = self.present(), self.confusion.iou()
        recall = self.confusion.class_accuracy()
        labelled = self.confusion.matrix.sum() + self.confusion.void_predictions.sum()
        return {'miou': percent(iou[present].mean()) if present.any() else None,
                'accuracy': percent(self.confusion.accuracy()),
                'mean_class_accuracy': percent(recall[present].mean()) if present.any() else None,
                'per_class_iou': {name: percent(iou[k]) for k, name in enumerate(self.names) if present[k]},
                'classes': int(present.sum()), 'labelled': int(labelled)}


class CoarseScore:
    """Coarse labels (e.g. car / pedestrian / cyclist only): for each, the IoU, precision and recall of "predicted
    as one of the classes it covers" against "labelled with it". Truth values that are no coarse label (say 0,
    unknown) are negatives of every label; `ignore_id` in the truth is skipped."""

    def __init__(self, labels: dict[int, CoarseLabel], ignore_id: int | None = None):
        self.labels, self.ignore_id = labels, ignore_id
        self.counts = {value: np.zeros(3, np.int64) for value in labels}  # tp, fp, fn

    def update(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        if prediction.shape != truth.shape:
            raise ValueError(f'prediction {prediction.shape} and truth {truth.shape} differ in shape')
        valid = truth != self.ignore_id if self.ignore_id is not None else np.ones(truth.shape, bool)
        for value, label in self.labels.items():
            predicted, labelled = np.isin(prediction, label.classes) & valid, truth == value
            self.counts[value] += [(predicted & labelled).sum(), (predicted & ~labelled).sum(),
                                   (~predicted & labelled).sum()]

    def summary(self) -> dict:
        out = {}
        for value, label in self.labels.items():
            tp, fp, fn = (int(c) for c in self.counts[value])
            out[label.name] = {'iou': _share(tp, tp + fp + fn), 'precision': _share(tp, tp + fp),
                               'recall': _share(tp, tp + fn), 'labelled': tp + fn}
        return out


class BoxShareScore:
    """The share of points or pixels predicted as a vehicle class inside the positive boxes and among the other
    scored ones (outside every box that counts)."""

    def __init__(self, vehicle_classes: tuple[int, ...]):
        self.vehicle_classes = vehicle_classes
        self.in_box = np.zeros(2, np.int64)  # vehicle, all
        self.other = np.zeros(2, np.int64)

    def update(self, prediction: np.ndarray, in_box: np.ndarray, other: np.ndarray) -> None:
        vehicle = np.isin(prediction, self.vehicle_classes)
        self.in_box += [(vehicle & in_box).sum(), in_box.sum()]
        self.other += [(vehicle & other).sum(), other.sum()]

    def summary(self) -> dict:
        return {'in_box_vehicle': _share(*self.in_box), 'in_box': int(self.in_box[1]),
                'other_vehicle': _share(*self.other), 'other': int(self.other[1])}


class ClassShares:
    """How much of the predictions each class takes (ignore left out)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names
        self.counts = np.zeros(len(names), np.int64)

    def update(self, prediction: np.ndarray) -> None:
        prediction = np.asarray(prediction).ravel()
        self.counts += np.bincount(prediction[prediction < len(self.names)], minlength=len(self.names))

    def summary(self) -> dict:
        total = int(self.counts.sum())
        shares = {name: _share(int(c), total) for name, c in zip(self.names, self.counts) if c}
        largest = int(self.counts.argmax())
        return {'shares': dict(sorted(shares.items(), key=lambda kv: -kv[1])), 'predicted': total,
                'largest_class': self.names[largest] if total else None,
                'largest_share': _share(int(self.counts[largest]), total)}
