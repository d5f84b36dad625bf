"""The node graph: which node reads and writes which topic. launch/drive.launch.py states the same remappings
(tests compare the two); perception-drive builds its nodes from here."""
from perception.io import topics as T

NODES = ('camera_segmentation', 'lidar_segmentation', 'fusion')


def remappings(camera_image: str = T.CAMERA_IMAGE, camera_info: str = T.CAMERA_INFO,
               points: str = T.LIDAR_POINTS) -> dict[str, list[tuple[str, str]]]:
    """{node: [(private name, global topic)]} for the given sensor topics."""
    return {
        'camera_segmentation': [('~/input/image', camera_image), ('~/input/camera_info', camera_info),
                                ('~/output/labels', T.CAMERA_LABELS), ('~/output/confidence', T.CAMERA_CONFIDENCE),
                                ('~/output/overlay', T.CAMERA_OVERLAY), ('~/output/panoptic', T.CAMERA_PANOPTIC),
                                ('~/input/lidar_accepted', T.LIDAR_ACCEPTED)],
        'lidar_segmentation': [('~/input/points', points), ('~/output/points', T.LIDAR_LABELED),
                               ('~/output/accepted', T.LIDAR_ACCEPTED)],
        'fusion': [('~/input/points', T.LIDAR_LABELED), ('~/input/camera_info', camera_info),
                   ('~/input/camera/labels', T.CAMERA_LABELS), ('~/input/camera/confidence', T.CAMERA_CONFIDENCE),
                   ('~/input/camera/panoptic', T.CAMERA_PANOPTIC), ('~/output/scene', T.SCENE),
                   ('~/output/scene_markers', T.SCENE_MARKERS)],
    }
