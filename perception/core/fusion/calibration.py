"""The fusion calibration: each modality's weight and its confusion counts on validation points, in one YAML file
that perception-train fusion writes and the fusion reads (default: the shipped perception/weights/fusion.yaml).

    camera_weight: 0.5       # weights of the camera's and the LiDAR's log-probabilities
    lidar_weight: 1.0
    confusion: {camera: K x K counts, lidar: K x K counts}   # rows: true class, columns: predicted
    record: {...}            # how it was made (perception.train.common.provenance)
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from perception.paths import WEIGHTS_DIR

SHIPPED_CALIBRATION = WEIGHTS_DIR / 'fusion.yaml'
HEADER = ("# perception-train fusion: the modality weights (the camera's chosen on validation drives, the LiDAR's the "
          "unit)\n# and each modality's confusion (rows: true class, columns: predicted) on validation points the "
          "camera sees\n")


@dataclass(frozen=True, kw_only=True)
class FusionCalibration:
    camera_weight: float
    lidar_weight: float
    camera_confusion: tuple  # K x K nested tuples of counts; empty: a wrong label's mass is spread evenly
    lidar_confusion: tuple


def load_calibration(path: Path | None = None) -> FusionCalibration:
    """The calibration in `path` (default: the shipped one). FileNotFoundError if it is missing, ValueError
    (naming the file) if it lacks an entry."""
    path = Path(path or SHIPPED_CALIBRATION)
    with open(path) as f:
        document = yaml.safe_load(f) or {}
    try:
        return FusionCalibration(camera_weight=float(document['camera_weight']),
                                 lidar_weight=float(document['lidar_weight']),
                                 camera_confusion=tuple(map(tuple, document['confusion']['camera'])),
                                 lidar_confusion=tuple(map(tuple, document['confusion']['lidar'])))
    except (KeyError, TypeError) as error:
        raise ValueError(f'{path}: not a fusion calibration (missing {error})') from None


def write_calibration(path: Path, calibration: FusionCalibration, record: dict) -> None:
    document = {'camera_weight': calibration.camera_weight, 'lidar_weight': calibration.lidar_weight,
                'confusion': {'camera': [list(row) for row in calibration.camera_confusion],
                              'lidar': [list(row) for row in calibration.lidar_confusion]},
                'record': record}
    Path(path).write_text(HEADER + yaml.safe_dump(document, sort_keys=False, width=1000))
