"""Fusion core: projection in the KITTI convention, occlusion, label fusion, instance merging, boxes and sync."""
from dataclasses import replace

import numpy as np
import pytest
import yaml

from perception.core.camera.segmenter import CameraSegmenterConfig
from perception.core.clouds import unpack_rgb
from perception.core.fusion.calibration import FusionCalibration, load_calibration, write_calibration
from perception.core.fusion.fuse import FusionConfig, fuse_labels, fuse_scene, merge_instances
from perception.core.fusion.pipeline import SceneFusionConfig
from perception.core.fusion.projection import project_to_image
from perception.core.fusion.scene import instance_boxes, scene_points
from perception.core.fusion.sync import StampMatcher, SyncConfig
from perception.core.geometry import CameraIntrinsics, invert_transform
from perception.core.lidar.segmenter import LidarSegmenterConfig
from perception.core.parameters import load_parameters
from perception.io import semantickitti
from perception.paths import WEIGHTS_DIR
from perception.sim.record import record_drive
from perception.sim.simulator import DriveSimulator
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
CAR, ROAD, PERSON = TAXONOMY.id_of('car'), TAXONOMY.id_of('road'), TAXONOMY.id_of('person')
EQUAL = FusionConfig(calibration=FusionCalibration(camera_weight=1.0, lidar_weight=1.0, camera_confusion=(),
                                                   lidar_confusion=()))


def test_projection_matches_the_kitti_calibration_convention(tmp_path):
    """Our projection with the rig's camera_T_lidar equals KITTI's x = P2 @ Tr_velo_to_cam @ X on the
    simulator's own calib.txt export."""
    sim = DriveSimulator(1002, 1)
    record_drive(sim, semantickitti=tmp_path, progress=False)
    calib = semantickitti.read_calib(tmp_path, 1002)
    points, _, _ = semantickitti.read_frame(tmp_path, 1002, 0)
    homogeneous = np.c_[points[:, :3], np.ones(len(points))].T
    projected = calib['P2'][:3] @ calib['Tr'] @ homogeneous
    in_front = projected[2] > 0.1
    kitti_uv = (projected[:2] / projected[2]).T[in_front]
    camera_T_lidar = invert_transform(sim.rig.base_T_camera) @ sim.rig.base_T_lidar
    ours = project_to_image(points[:, :3], sim.rig.camera, camera_T_lidar)
    inside = ours.in_image[in_front]
    assert inside.sum() > 5000
    np.testing.assert_allclose(ours.pixels[in_front][inside], np.round(kitti_uv[inside]), atol=1)


def _wall_scene():
    """A 2 m wide wall 5 m ahead hides part of a plane 20 m ahead; the LiDAR sees both (it sits elsewhere)."""
    camera = CameraIntrinsics.pinhole(200, 100, 100.0, 100.0, 99.5, 49.5)
    optical_T_lidar = np.eye(4)  # lidar frame = optical frame, for the test
    ys, xs = np.meshgrid(np.linspace(-0.5, 0.5, 40), np.linspace(-1, 1, 80), indexing='ij')
    wall = np.c_[xs.ravel(), ys.ravel(), np.full(xs.size, 5.0)]
    ys, xs = np.meshgrid(np.linspace(-9, 9, 60), np.linspace(-19, 19, 120), indexing='ij')
    far = np.c_[xs.ravel(), ys.ravel(), np.full(xs.size, 20.0)]
    return camera, optical_T_lidar, wall, far


def test_points_behind_a_nearer_object_are_occluded():
    camera, optical_T_lidar, wall, far = _wall_scene()
    projection = project_to_image(np.r_[wall, far], camera, optical_T_lidar)
    assert projection.visible[:len(wall)].all()
    behind_wall = (np.abs(far[:, 0]) < 3.9) & (np.abs(far[:, 1]) < 1.9)  # inside the wall's silhouette at 20 m
    far_visible = projection.visible[len(wall):]
    assert not far_visible[behind_wall].any()
    clear = (np.abs(far[:, 0]) > 4.6) & projection.in_image[len(wall):]
    assert far_visible[clear].all()


def test_hidden_points_keep_the_lidar_label_and_seen_points_fuse():
    camera, optical_T_lidar, wall, far = _wall_scene()
    xyz = np.r_[wall, far]
    projection = project_to_image(xyz, camera, optical_T_lidar)
    camera_labels = np.full((100, 200), PERSON, np.uint8)  # the camera sees a person where the wall is ...
    camera_confidence = np.full((100, 200), 0.95, np.float32)
    lidar_labels = np.full(len(xyz), ROAD, np.uint8)  # ... the LiDAR, unsure, says road everywhere
    lidar_confidence = np.full(len(xyz), 0.5, np.float32)
    scene = fuse_scene(xyz, lidar_labels, lidar_confidence, np.zeros(len(xyz), np.uint32), projection,
                       camera_labels, camera_confidence, None, TAXONOMY, EQUAL)
    hidden = ~projection.visible
    assert hidden.any() and (scene.labels[hidden] == ROAD).all() and not scene.camera_seen[hidden].any()
    assert (scene.labels[projection.visible] == PERSON).all()
    lidar_only = fuse_scene(xyz, lidar_labels, lidar_confidence, np.zeros(len(xyz), np.uint32), None, None, None,
                            None, TAXONOMY, EQUAL)
    assert (lidar_only.labels == ROAD).all()


def test_label_fusion_weighs_confidences_and_modality_weights():
    labels, confidence = fuse_labels(np.array([ROAD, ROAD, CAR]), np.array([0.9, 0.4, 0.7]),
                                     np.array([CAR, CAR, CAR]), np.array([0.6, 0.6, 0.8]), EQUAL, 21)
    assert labels.tolist() == [ROAD, CAR, CAR]
    assert confidence[2] > 0.8 > confidence[1]  # agreement is more certain than either
    trusting_lidar = FusionConfig(calibration=replace(EQUAL.calibration, camera_weight=0.2))
    assert fuse_labels(np.array([ROAD]), np.array([0.4]), np.array([CAR]), np.array([0.6]), trusting_lidar,
                       21)[0].tolist() == [ROAD]


def test_camera_segments_split_a_merged_lidar_cluster():
    xyz = np.r_[np.c_[np.linspace(0, 4, 50), np.zeros(50), np.zeros(50)],
                np.c_[np.linspace(4.3, 8, 50), np.zeros(50), np.zeros(50)],
                np.c_[np.linspace(20, 22, 30), np.zeros(30), np.zeros(30)]]
    labels = np.array([CAR] * 100 + [ROAD] * 30, np.uint8)
    lidar_instance = np.array([7] * 100 + [0] * 30, np.uint32)  # DBSCAN merged two cars
    camera_instance = np.array([0] * 10 + [3] * 40 + [5] * 45 + [0] * 5 + [0] * 30)  # ends of each car unseen
    visible = np.array([False] * 10 + [True] * 40 + [True] * 45 + [False] * 5 + [True] * 30)
    instance = merge_instances(labels, lidar_instance, camera_instance, visible, xyz, TAXONOMY, 10)
    assert len(np.unique(instance[:50])) == 1 and len(np.unique(instance[50:100])) == 1
    assert instance[0] != instance[99] and instance[0] > 0 and instance[99] > 0
    assert (instance[100:] == 0).all()


def test_scene_points_carry_taxonomy_colours_and_boxes_fit_instances():
    rng = np.random.default_rng(0)
    yaw = 0.4
    local = np.c_[rng.uniform(-2, 2, 300), rng.uniform(-0.9, 0.9, 300), rng.uniform(0, 1.5, 300)]
    R = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    xyz = local @ R.T + [10, 5, 0]
    labels, instance = np.full(300, CAR, np.uint8), np.full(300, 4, np.uint32)
    [box] = instance_boxes(xyz, labels, instance)
    assert box.label == CAR and box.instance == 4 and box.points == 300
    assert abs(np.sin(box.yaw - yaw)) < 0.05
    np.testing.assert_allclose(box.size, [4, 1.8, 1.5], atol=0.1)
    np.testing.assert_allclose(box.center, [10, 5, 0.75], atol=0.1)
    from perception.core.fusion.fuse import FusedScene
    points = np.c_[xyz, np.full(300, 0.5)]
    cloud = scene_points(points, FusedScene(labels, instance, np.full(300, 0.9, np.float32), np.ones(300, bool),
                                            labels), TAXONOMY)
    assert (unpack_rgb(cloud['rgb']) == TAXONOMY.palette[CAR]).all()
    assert cloud.dtype.names == ('x', 'y', 'z', 'intensity', 'label', 'instance', 'confidence', 'rgb')


@pytest.mark.parametrize('camera_stamp, expected', [(1_000_000_000 + 30_000_000, 'cam'),
                                                    (1_000_000_000 + 80_000_000, None)])
def test_matcher_pairs_within_slop_and_falls_back_to_lidar_only(camera_stamp, expected):
    matcher = StampMatcher(SyncConfig(slop_s=0.05, camera_timeout_s=0.5))
    matcher.add_sweep(1_000_000_000, 'sweep', received_ns=0)
    assert matcher.ready(now_ns=100_000_000) == []  # waiting for its camera frame
    matcher.add_camera(camera_stamp, 'cam')
    out = matcher.ready(now_ns=100_000_000)
    assert out == [(1_000_000_000, 'sweep', expected)]  # a newer camera frame means its own will not come


def test_matcher_never_stalls_without_camera():
    matcher = StampMatcher(SyncConfig(camera_timeout_s=0.5))
    matcher.add_sweep(0, 'a', received_ns=0)
    matcher.add_sweep(100_000_000, 'b', received_ns=100_000_000)
    assert [s for _, s, _ in matcher.ready(now_ns=550_000_000)] == ['a']
    assert [(s, c) for _, s, c in matcher.ready(now_ns=0, flush=True)] == [('b', None)]


def test_the_shipped_calibration_is_for_the_models_the_graph_loads_by_default():
    """Changing a default model without recalibrating the fusion (perception-train fusion) fails here."""
    record = yaml.safe_load((WEIGHTS_DIR / 'fusion.yaml').read_text())['record']
    lidar = LidarSegmenterConfig.from_parameters(load_parameters('lidar_segmentation'))
    camera = CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation'))
    assert record['data']['models'] == {'camera': camera.weights.name, 'lidar': lidar.weights_path().name}
    assert camera.weights.parent == lidar.weights_path().parent == WEIGHTS_DIR


def test_the_node_reads_weights_and_confusions_from_one_calibration_file(tmp_path):
    parameters = load_parameters('fusion')
    shipped = SceneFusionConfig.from_parameters(parameters).fusion.calibration
    scores = yaml.safe_load((WEIGHTS_DIR / 'fusion.yaml').read_text())['record']['results']
    scores = scores['fused mIoU by camera weight']
    assert shipped.lidar_weight == 1.0 and shipped.camera_weight == max(scores, key=scores.get)  # best on validation
    assert np.array(shipped.camera_confusion).shape == (TAXONOMY.num_classes, TAXONOMY.num_classes)
    written = replace(shipped, camera_weight=0.75)
    write_calibration(tmp_path / 'fusion.yaml', written, {'command': 'test'})
    assert load_calibration(tmp_path / 'fusion.yaml') == written
    config = SceneFusionConfig.from_parameters({**parameters, 'fusion.calibration_file': str(tmp_path / 'fusion.yaml')})
    assert config.fusion.calibration == written
    (tmp_path / 'bad.yaml').write_text('confusion: {camera: [], lidar: []}\n')
    with pytest.raises(ValueError, match="bad.yaml: not a fusion calibration \\(missing 'camera_weight'\\)"):
        load_calibration(tmp_path / 'bad.yaml')
