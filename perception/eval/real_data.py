"""Real datasets' own labels in taxonomy terms (config/datasets.yaml), and where the real sample data lives:
``../shared/data`` beside a source checkout (never inside the repository)."""
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from perception.paths import PACKAGE_DIR, config_path
from perception.taxonomy import Taxonomy, load_taxonomy

DEFAULT_DATA_ROOT = PACKAGE_DIR.parent.parent / 'shared' / 'data'


@dataclass(frozen=True)
class CoarseLabel:
    """A coarse ground-truth label: a point or pixel with it may be any of `classes` (taxonomy ids)."""

    name: str
    classes: tuple[int, ...]


@dataclass(frozen=True)
class BoxRule:
    """Which labelled box types a box score counts as positive or leaves out, and by how much boxes grow."""

    positive: tuple[str, ...]  # lower case
    excluded: tuple[str, ...] = ()
    margin: float = 0.0

    def is_positive(self, box_type: str) -> bool:
        return box_type.lower() in self.positive

    def is_excluded(self, box_type: str) -> bool:
        return box_type.lower() in self.excluded


@dataclass(frozen=True)
class DatasetMappings:
    vehicle_classes: tuple[int, ...]       # taxonomy ids of "a vehicle class"
    rellis3d: np.ndarray                   # (65536,) uint8: RELLIS-3D id -> taxonomy id (ignore where unmapped)
    squeezeseg: dict[int, CoarseLabel]     # label value -> coarse label (0, unknown, is none of them)
    kitti_object: BoxRule
    image_boxes: BoxRule


def _ids(taxonomy: Taxonomy, names, where: str) -> tuple[int, ...]:
    try:
        return tuple(taxonomy.id_of(name) for name in names)
    except KeyError as error:
        raise ValueError(f'config/datasets.yaml {where}: {error.args[0]}') from None


def _box_rule(document: dict) -> BoxRule:
    lower = [tuple(t.lower() for t in document.get(key, ())) for key in ('positive', 'excluded')]
    return BoxRule(*lower, float(document.get('box_margin_m', 0.0)))


def parse_dataset_mappings(document: dict, taxonomy: Taxonomy) -> DatasetMappings:
    """Build and validate the mappings from the parsed YAML document."""
    rellis = np.full(1 << 16, taxonomy.ignore_id, np.uint8)
    for raw, name in document['rellis3d'].items():
        rellis[int(raw)] = _ids(taxonomy, [name], f'rellis3d {raw}')[0]
    squeezeseg = {int(label): CoarseLabel(str(entry['name']), _ids(taxonomy, entry['taxonomy'], f'squeezeseg {label}'))
                  for label, entry in document['squeezeseg'].items()}
    if 0 in squeezeseg:
        raise ValueError('config/datasets.yaml squeezeseg: label 0 is "unknown" and cannot be a coarse label')
    return DatasetMappings(_ids(taxonomy, document['vehicle_classes'], 'vehicle_classes'), rellis, squeezeseg,
                           _box_rule(document['kitti_object']), _box_rule(document['image_boxes']))


@lru_cache(maxsize=2)
def load_dataset_mappings(path: Path | None = None) -> DatasetMappings:
    """The mappings in `path` (default: the package's config/datasets.yaml) for the package's taxonomy."""
    with open(Path(path) if path else config_path('datasets.yaml')) as f:
        try:
            return parse_dataset_mappings(yaml.safe_load(f), load_taxonomy())
        except KeyError as error:
            raise ValueError(f'config/datasets.yaml is missing key {error}') from None
