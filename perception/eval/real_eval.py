"""Run a segmenter over a dataset's frames (lidar_sets / camera_sets): write predictions in the dataset's format and
a picture per frame under an output folder, and score every kind of ground truth the frames carry.

The report (a dict, saved as report.json by perception-eval) holds, in percent:
- ``taxonomy``: per-class IoU and mIoU over the taxonomy classes present in the ground truth, accuracy;
- ``coarse``: IoU / precision / recall per coarse label (car, pedestrian, cyclist; config/datasets.yaml), from
  coarse ground truth or from full labels reduced to those;
- ``boxes``: the share of in-box and of other points or pixels predicted as a vehicle class;
- ``camvid`` / ``cityscapes``: IoU in the dataset's own classes (CamVid's 11; Cityscapes' 19 trainIds) with
  class-average IoU (``miou``) and pixel accuracy; ``panoptic``: PQ / SQ / RQ where instances exist;
- ``class_shares``: how much of the predictions each class takes, and the largest share;
- ``per_frame``: the same in brief per frame.
"""
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic
from perception.core.camera.segmenter import CameraSegmenter
from perception.core.lidar.segmenter import LidarSegmenter
from perception.eval import drawing
from perception.eval.camera_sets import CameraFrame
from perception.eval.lidar_sets import LidarFrame
from perception.eval.metrics import PanopticQuality
from perception.eval.real_data import DatasetMappings
from perception.eval.scores import BoxShareScore, ClassScore, ClassShares, CoarseScore, percent
from perception.io.camvid import write_camvid_label
from perception.io.semantickitti import write_labels
from perception.taxonomy import Taxonomy

UNSCORED = np.array([50, 50, 50], np.uint8)  # box sets: points outside the image
OTHER = np.array([170, 170, 170], np.uint8)  # box sets: scored points outside the positive boxes


def coarse_lookup(mappings: DatasetMappings, taxonomy: Taxonomy) -> np.ndarray:
    """(256,) uint8: taxonomy id -> the coarse label covering it (0 for none; ignore stays ignore)."""
    lut = np.zeros(256, np.uint8)
    for value, label in mappings.squeezeseg.items():
        lut[list(label.classes)] = value
    lut[taxonomy.ignore_id] = taxonomy.ignore_id
    return lut


def _coarse_colours(mappings: DatasetMappings, taxonomy: Taxonomy, coarse: np.ndarray) -> np.ndarray:
    colours = np.tile(drawing.GREY, (len(coarse), 1))
    for value, label in mappings.squeezeseg.items():
        colours[coarse == value] = taxonomy.palette[label.classes[0]]
    return colours


def _box_colours(in_box: np.ndarray, other: np.ndarray, vehicle_colour: np.ndarray) -> np.ndarray:
    colours = np.tile(UNSCORED, (len(in_box), 1))
    colours[other] = OTHER
    colours[in_box] = vehicle_colour
    return colours


class _Scores:
    """Every score a dataset's frames can feed, created on first use, and the brief per-frame rows."""

    def __init__(self, taxonomy: Taxonomy, mappings: DatasetMappings):
        self.taxonomy, self.mappings = taxonomy, mappings
        self.coarse_lut = coarse_lookup(mappings, taxonomy)
        self.scores: dict = {}
        self.shares = ClassShares(taxonomy.names)
        self.per_frame: list[dict] = []

    def get(self, name: str, make):
        if name not in self.scores:
            self.scores[name] = make()
        return self.scores[name]

    def add(self, name: str, prediction: np.ndarray, milliseconds: float, labels=None, coarse=None, in_box=None,
            other=None) -> dict:
        """Score one frame's predicted taxonomy ids against whatever ground truth it has; returns its row."""
        taxonomy = self.taxonomy
        self.shares.update(prediction)
        frame_shares = ClassShares(taxonomy.names)
        frame_shares.update(prediction)
        shares = frame_shares.summary()
        row = {'name': name, 'ms': round(milliseconds, 1), 'largest_class': shares['largest_class'],
               'largest_share': shares['largest_share']}
        if labels is not None:
            self.get('taxonomy', lambda: ClassScore(taxonomy.names, taxonomy.ignore_id)).update(prediction, labels)
            frame = ClassScore(taxonomy.names, taxonomy.ignore_id)
            frame.update(prediction, labels)
            row['miou'] = frame.summary()['miou']
            coarse = self.coarse_lut[labels]
        if coarse is not None:
            self.get('coarse', lambda: CoarseScore(self.mappings.squeezeseg, taxonomy.ignore_id)).update(
                prediction, coarse)
        if in_box is not None:
            boxes = self.get('boxes', lambda: BoxShareScore(self.mappings.vehicle_classes))
            boxes.update(prediction, in_box, other)
            frame = BoxShareScore(self.mappings.vehicle_classes)
            frame.update(prediction, in_box, other)
            row.update(frame.summary())
        self.per_frame.append(row)
        return row

    def report(self, seconds: float) -> dict:
        out = {'frames': len(self.per_frame), 'seconds': round(seconds, 1)}
        out.update({name: score.compute() if isinstance(score, PanopticQuality) else score.summary()
                    for name, score in self.scores.items()})
        if 'panoptic' in out:
            out['panoptic'] = {group: {k: percent(v) if k != 'n' else v for k, v in out['panoptic'][group].items()}
                               for group in ('all', 'things', 'stuff')}
        out['class_shares'] = self.shares.summary()
        out['per_frame'] = self.per_frame
        return out


def evaluate_lidar(frames: list, segmenter: LidarSegmenter, mappings: DatasetMappings, out: Path | None,
                   description: str = 'lidar') -> dict:
    """Segment and score every frame; with `out`, write its .label prediction and bird's-eye picture there."""
    taxonomy = segmenter.taxonomy
    scores = _Scores(taxonomy, mappings)
    start = time.perf_counter()
    for load in tqdm(frames, desc=description, unit='sweep', disable=None):
        frame: LidarFrame = load()
        result = segmenter.process(frame.points)
        scores.add(frame.name, result.labels, result.timing_ms['total'], frame.labels, frame.coarse, frame.in_box,
                   frame.other)
        if out is not None:
            write_labels(out / frame.prediction, result.labels, taxonomy=taxonomy)
            drawing.write_rgb(out / 'images' / f'{frame.name}.png', _bird_eye_panels(frame, result.labels, taxonomy,
                                                                                     mappings))
    return scores.report(time.perf_counter() - start)


def _bird_eye_panels(frame: LidarFrame, prediction: np.ndarray, taxonomy: Taxonomy,
                     mappings: DatasetMappings) -> np.ndarray:
    xyz = frame.points[:, :3]
    named = [('prediction', drawing.legend(drawing.bird_eye(xyz, drawing.label_colours(taxonomy, prediction)),
                                           _legend_entries(prediction, taxonomy)))]
    if frame.labels is not None:
        truth = drawing.label_colours(taxonomy, frame.labels)
    elif frame.coarse is not None:
        truth = _coarse_colours(mappings, taxonomy, frame.coarse)
    elif frame.in_box is not None:
        truth = _box_colours(frame.in_box, frame.other, taxonomy.palette[mappings.vehicle_classes[0]])
    else:
        return drawing.panels(named)
    return drawing.panels(named + [('ground truth', drawing.bird_eye(xyz, truth))])


def _legend_entries(prediction: np.ndarray, taxonomy: Taxonomy, minimum_share: float = 0.01) -> list:
    """(name, colour) of the predicted classes taking at least `minimum_share` of the prediction, largest first."""
    counts = np.bincount(prediction.ravel(), minlength=256)[:taxonomy.num_classes]
    order = [k for k in np.argsort(-counts, kind='stable') if counts[k] >= minimum_share * max(counts.sum(), 1)]
    return [(taxonomy.names[k], taxonomy.palette[k]) for k in order if counts[k]]


def cityscapes_train_names(taxonomy: Taxonomy) -> tuple[str, ...]:
    """The taxonomy class of each Cityscapes trainId 0..18 (Cityscapes' 19 evaluated classes)."""
    count = int(max(t for c in taxonomy.classes for t in c.cityscapes_train_ids)) + 1
    return tuple(taxonomy.names[taxonomy.from_cityscapes_train_ids[t]] for t in range(count))


def camvid_colours(taxonomy: Taxonomy) -> np.ndarray:
    """(256, 3) uint8: each CamVid class in the colour of the first taxonomy class it covers; others grey."""
    lut = np.tile(drawing.GREY, (256, 1))
    for k, allowed in enumerate(taxonomy.camvid.allowed[:len(taxonomy.camvid.names)]):
        lut[k] = taxonomy.palette[int(np.flatnonzero(allowed)[0])]
    return lut


def evaluate_camera(frames: list, segmenter: CameraSegmenter, mappings: DatasetMappings, out: Path | None,
                    description: str = 'camera') -> dict:
    """Segment every image on its own (a key frame each) and score it; with `out`, write its prediction PNG and an
    overlay picture there."""
    taxonomy, camvid = segmenter.taxonomy, segmenter.taxonomy.camvid
    scores = _Scores(taxonomy, mappings)
    train_names = cityscapes_train_names(taxonomy)
    start = time.perf_counter()
    for load in tqdm(frames, desc=description, unit='image', disable=None):
        frame: CameraFrame = load()
        segmenter.reset()  # unrelated images: no propagation between them
        result = segmenter.process(frame.rgb)
        prediction = result.labels
        scores.add(frame.name, prediction, result.timing_ms['total'], frame.labels, None, frame.in_box, frame.other)
        if frame.labels is not None:
            scores.get('cityscapes', lambda: ClassScore(train_names, 255)).update(
                taxonomy.to_cityscapes_train_ids[prediction], taxonomy.to_cityscapes_train_ids[frame.labels])
            if frame.instance is not None and result.panoptic is not None:
                scores.get('panoptic', lambda: PanopticQuality(taxonomy.num_classes, taxonomy.thing_ids)).update(
                    panoptic_to_semantic(result.panoptic), panoptic_to_instance(result.panoptic), frame.labels,
                    frame.instance)
        if frame.camvid is not None:
            scores.get('camvid', lambda: ClassScore(camvid.names, camvid.ignore_id)).update(
                camvid.from_taxonomy[prediction], frame.camvid)
        if out is not None:
            _write_camera_prediction(out / frame.prediction, frame.prediction_format, prediction, taxonomy)
            drawing.write_rgb(out / 'images' / f'{frame.name}.png', _overlay_panels(frame, prediction, taxonomy))
    report = scores.report(time.perf_counter() - start)
    if 'camvid' in report:
        report['camvid']['taxonomy_iou'] = _camvid_taxonomy_iou(report['camvid'], taxonomy)
    return report


def _camvid_taxonomy_iou(camvid_report: dict, taxonomy: Taxonomy) -> dict:
    """IoU of the taxonomy classes a CamVid class stands for alone (e.g. Road: road): the same number."""
    camvid = taxonomy.camvid
    out = {}
    for k, name in enumerate(camvid.names):
        covered = np.flatnonzero(camvid.allowed[k])
        if len(covered) == 1 and name in camvid_report['per_class_iou']:
            out[taxonomy.names[covered[0]]] = camvid_report['per_class_iou'][name]
    return out


def _write_camera_prediction(path: Path, kind: str, prediction: np.ndarray, taxonomy: Taxonomy) -> None:
    if kind == 'camvid':
        write_camvid_label(path, taxonomy.camvid.from_taxonomy[prediction])
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), taxonomy.to_cityscapes_label_ids[prediction]):
        raise OSError(f'{path}: could not write the labelIds PNG')


def _overlay_panels(frame: CameraFrame, prediction: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Prediction overlay beside the ground truth (labels, CamVid classes or boxes), drawn PANEL_WIDTH wide."""
    scale = drawing.PANEL_WIDTH / frame.rgb.shape[1]
    size = (drawing.PANEL_WIDTH, round(frame.rgb.shape[0] * scale))

    def small(labels):
        return cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST)
    rgb = cv2.resize(frame.rgb, size, interpolation=cv2.INTER_AREA)
    prediction = small(prediction)
    shown = drawing.overlay(rgb, drawing.label_colours(taxonomy, prediction), prediction < taxonomy.num_classes)
    title, truth = 'ground truth', None
    if frame.labels is not None:
        labels = small(frame.labels)
        truth = drawing.overlay(rgb, drawing.label_colours(taxonomy, labels), labels < taxonomy.num_classes)
    elif frame.camvid is not None:
        camvid = small(frame.camvid)
        truth = drawing.overlay(rgb, camvid_colours(taxonomy)[camvid], camvid != taxonomy.camvid.ignore_id)
    elif frame.boxes:
        positive = [np.array(box) * scale for box, is_positive in frame.boxes if is_positive]
        others = [np.array(box) * scale for box, is_positive in frame.boxes if not is_positive]
        truth = drawing.draw_boxes(drawing.draw_boxes(rgb, others, (255, 220, 0)), positive)
        shown = drawing.draw_boxes(shown, positive)
    else:
        title, truth = 'image', rgb
    shown = drawing.legend(shown, _legend_entries(prediction, taxonomy))
    return drawing.panels([('prediction', shown), (title, truth)])
