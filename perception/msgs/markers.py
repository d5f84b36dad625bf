"""RViz markers of the scene's instances: one translucent box in the class colour and one text label each."""
import math

import numpy as np

from perception.core.fusion.scene import InstanceBox
from perception.msgs.types import MessageTypes, make_header
from perception.taxonomy import Taxonomy

MARKER_LIFETIME_NS = 300_000_000  # a box outlives its sweep by under 3 frames at 10 Hz
CUBE, TEXT_VIEW_FACING, ADD, DELETEALL = 1, 9, 0, 3  # visualization_msgs/Marker constants
NO_BYTES = np.zeros(0, np.uint8)


def _marker(types: MessageTypes, header, namespace: str, marker_id: int, kind: int, action: int = ADD,
            position=(0.0, 0.0, 0.0), yaw: float = 0.0, scale=(1.0, 1.0, 1.0), colour=(1.0, 1.0, 1.0, 1.0),
            text: str = ''):
    qx, qy, qz, qw = 0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)  # the rotation by yaw about z
    return types.Marker(
        header=header, ns=namespace, id=int(marker_id), type=kind, action=action,
        pose=types.Pose(position=types.Point(x=float(position[0]), y=float(position[1]), z=float(position[2])),
                        orientation=types.Quaternion(x=qx, y=qy, z=qz, w=qw)),
        scale=types.Vector3(x=float(scale[0]), y=float(scale[1]), z=float(scale[2])),
        color=types.ColorRGBA(r=float(colour[0]), g=float(colour[1]), b=float(colour[2]), a=float(colour[3])),
        lifetime=types.Duration(sec=0, nanosec=MARKER_LIFETIME_NS), frame_locked=False, points=[], colors=[],
        texture_resource='', texture=types.with_bytes(types.CompressedImage, NO_BYTES, header=header, format=''),
        uv_coordinates=[], text=text, mesh_resource='',
        mesh_file=types.with_bytes(types.MeshFile, NO_BYTES, filename=''), mesh_use_embedded_materials=False)


def instance_markers(types: MessageTypes, boxes: list[InstanceBox], frame_id: str, stamp_ns: int,
                     taxonomy: Taxonomy):
    """MarkerArray: DELETEALL, then per instance a translucent box in its class colour and a text label above."""
    header = make_header(types, frame_id, stamp_ns)
    markers = [_marker(types, header, 'instances', 0, CUBE, DELETEALL)]
    for box in boxes:
        r, g, b = taxonomy.palette[box.label] / 255.0
        markers.append(_marker(types, header, 'boxes', box.instance, CUBE, position=box.center, yaw=box.yaw,
                               scale=np.maximum(box.size, 0.1), colour=(r, g, b, 0.35)))
        markers.append(_marker(types, header, 'labels', box.instance, TEXT_VIEW_FACING,
                               position=box.center + [0, 0, box.size[2] / 2 + 0.4], scale=(0.6, 0.6, 0.6),
                               text=f'{taxonomy.names[box.label]} {box.instance}'))
    return types.MarkerArray(markers=markers)
