"""Accuracy of the shipped weights on a short held-out simulated clip (eval seed 3005, never trained on).

The floors sit 8-10 points under what the shipped models score on this clip (camera mIoU 32.8, pixel accuracy 0.79,
PQ 34.2; sparse LiDAR 55.4, PointNet++ 45.1; the slimmed sparse U-Net lidar_sparse_fast.pt 53.0 on its first two
frames against 52.1 for lidar_sparse.pt) and on the 100-frame held-out drive 3001 (README, Measured): the
models are now chosen on real data, and the simulator's scenes are harder than before. A floor this low still
fails for an untrained or broken model by a wide margin (a random network scores about 1-5)."""
import numpy as np
import pytest

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic
from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.eval.metrics import ConfusionMatrix, PanopticQuality
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
CAMERA_MIOU_FLOOR, CAMERA_ACCURACY_FLOOR, CAMERA_PQ_FLOOR = 24.0, 0.7, 24.0
LIDAR_MIOU_FLOOR = {'lidar_sparse.pt': 40.0, 'lidar_pointnet2.pt': 37.0, 'lidar_sparse_fast.pt': 40.0}
# they score 39.1, 19.9 and 37.1 here
LIDAR_THINGS_PQ_FLOOR = {'lidar_sparse.pt': 30.0, 'lidar_pointnet2.pt': 12.0, 'lidar_sparse_fast.pt': 30.0}


@pytest.fixture(scope='module')
def camera_results(held_out_clip):
    segmenter = CameraSegmenter(CameraSegmenterConfig(device='cpu', propagation=PropagationConfig(policy='fixed',
                                                                                                  interval=1)))
    return [(frame, segmenter.process(frame.image, frame.stamp_ns)) for frame in held_out_clip]


def test_camera_semantic_accuracy(camera_results):
    confusion = ConfusionMatrix(TAXONOMY.num_classes)
    for frame, result in camera_results:
        confusion.update(result.labels, frame.semantic)
    assert 100 * confusion.miou() >= CAMERA_MIOU_FLOOR, confusion.iou()
    assert confusion.accuracy() >= CAMERA_ACCURACY_FLOOR


def test_camera_panoptic_quality(camera_results):
    quality = PanopticQuality(TAXONOMY.num_classes, TAXONOMY.thing_ids)
    for frame, result in camera_results:
        quality.update(panoptic_to_semantic(result.panoptic), panoptic_to_instance(result.panoptic), frame.semantic,
                       frame.instance)
    assert 100 * quality.compute()['all']['pq'] >= CAMERA_PQ_FLOOR


@pytest.mark.parametrize('backend, weights', [('sparse', 'lidar_sparse.pt'), ('pointnet2', 'lidar_pointnet2.pt'),
                                              ('sparse', 'lidar_sparse_fast.pt')])
def test_lidar_accuracy_and_instances(held_out_clip, backend, weights):
    segmenter = LidarSegmenter(LidarSegmenterConfig(backend=backend, weights=weights, device='cpu'))
    confusion = ConfusionMatrix(TAXONOMY.num_classes)
    quality = PanopticQuality(TAXONOMY.num_classes, TAXONOMY.thing_ids, rules='semantickitti')
    for frame in held_out_clip[:2]:
        points = np.stack([frame.points[a] for a in ('x', 'y', 'z', 'intensity')], 1)
        result = segmenter.process(points)
        confusion.update(result.labels, frame.point_semantic)
        quality.update(result.labels, result.instance, frame.point_semantic, frame.point_instance)
    assert 100 * confusion.miou() >= LIDAR_MIOU_FLOOR[weights], confusion.iou()
    assert 100 * quality.compute()['things']['pq'] >= LIDAR_THINGS_PQ_FLOOR[weights]
