"""The driving taxonomy, loaded from config/classes.yaml (the only place classes are listed)."""
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import yaml

from perception.paths import config_path


@dataclass(frozen=True)
class SemanticClass:
    id: int
    name: str
    color: tuple[int, int, int]
    is_thing: bool
    lidar_visible: bool
    cityscapes_label_ids: tuple[int, ...]
    cityscapes_train_ids: tuple[int, ...]
    semantickitti_ids: tuple[int, ...]


@dataclass(frozen=True)
class ExternalClasses:
    """A coarser dataset's classes (e.g. CamVid's 11): each covers a set of taxonomy classes.

    `allowed[k]` (K + 1 rows, the last one for the dataset's ignore value) says which taxonomy classes a pixel
    labelled k may be; `from_taxonomy` maps a taxonomy id to the dataset class covering it (ignore where none).
    """
    names: tuple[str, ...]
    ignore_id: int
    allowed: np.ndarray        # (K + 1, num_classes) bool; row ignore_id is all False
    from_taxonomy: np.ndarray  # (256,) uint8


@dataclass(frozen=True)
class Taxonomy:
    classes: tuple[SemanticClass, ...]
    ignore_id: int
    ignore_color: tuple[int, int, int]
    semantickitti_ignore: int
    camvid: 'ExternalClasses | None' = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def id_of(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f'no class named {name!r}; classes: {", ".join(self.names)}') from None

    @cached_property
    def thing_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.classes if c.is_thing)

    @cached_property
    def stuff_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.classes if not c.is_thing)

    @cached_property
    def lidar_ids(self) -> tuple[int, ...]:
        return tuple(c.id for c in self.classes if c.lidar_visible)

    @cached_property
    def is_thing(self) -> np.ndarray:
        """(256,) bool lookup: is label id a thing class (ignore is not)."""
        lut = np.zeros(256, bool)
        lut[list(self.thing_ids)] = True
        return lut

    @cached_property
    def palette(self) -> np.ndarray:
        """(256, 3) uint8 lookup from label id to RGB; unknown ids and ignore get the ignore colour."""
        lut = np.tile(np.array(self.ignore_color, np.uint8), (256, 1))
        for c in self.classes:
            lut[c.id] = c.color
        return lut

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Label ids (any shape, ints in [0, 255]) to RGB uint8 (shape + (3,))."""
        return self.palette[np.asarray(labels).astype(np.intp) & 0xFF]

    def _lookup(self, attribute: str, size: int) -> np.ndarray:
        lut = np.full(size, self.ignore_id, np.uint8)
        for c in self.classes:
            lut[list(getattr(c, attribute))] = c.id
        return lut

    @cached_property
    def from_cityscapes_label_ids(self) -> np.ndarray:
        """(256,) lookup from Cityscapes labelIds to our ids (unmapped -> ignore)."""
        return self._lookup('cityscapes_label_ids', 256)

    @cached_property
    def from_cityscapes_train_ids(self) -> np.ndarray:
        """(256,) lookup from Cityscapes trainIds to our ids (unmapped -> ignore)."""
        return self._lookup('cityscapes_train_ids', 256)

    @cached_property
    def from_semantickitti(self) -> np.ndarray:
        """(65536,) lookup from SemanticKITTI raw semantic ids (label & 0xFFFF) to our ids."""
        return self._lookup('semantickitti_ids', 1 << 16)

    @cached_property
    def to_semantickitti(self) -> np.ndarray:
        """(256,) lookup from our ids to the SemanticKITTI raw id our export writes."""
        lut = np.full(256, self.semantickitti_ignore, np.uint16)
        for c in self.classes:
            if c.semantickitti_ids:
                lut[c.id] = c.semantickitti_ids[0]
        return lut

    @cached_property
    def to_cityscapes_label_ids(self) -> np.ndarray:
        """(256,) lookup from our ids to a Cityscapes labelId (0 'unlabeled' where none exists)."""
        lut = np.zeros(256, np.uint8)
        for c in self.classes:
            if c.cityscapes_label_ids:
                lut[c.id] = c.cityscapes_label_ids[0]
        return lut

    @cached_property
    def to_cityscapes_train_ids(self) -> np.ndarray:
        """(256,) lookup from our ids to a Cityscapes trainId (255 where none exists)."""
        lut = np.full(256, 255, np.uint8)
        for c in self.classes:
            if c.cityscapes_train_ids:
                lut[c.id] = c.cityscapes_train_ids[0]
        return lut


def _parse_class(entry: dict) -> SemanticClass:
    kind = entry['kind']
    if kind not in ('thing', 'stuff'):
        raise ValueError(f'class {entry["name"]!r}: kind must be thing or stuff, not {kind!r}')
    color = tuple(int(v) for v in entry['color'])
    if len(color) != 3 or not all(0 <= v <= 255 for v in color):
        raise ValueError(f'class {entry["name"]!r}: color must be three ints in [0, 255]')
    return SemanticClass(
        id=int(entry['id']), name=str(entry['name']), color=color, is_thing=kind == 'thing',
        lidar_visible=bool(entry['lidar']),
        cityscapes_label_ids=tuple(entry['cityscapes']), cityscapes_train_ids=tuple(entry['cityscapes_train']),
        semantickitti_ids=tuple(entry['semantickitti']))


def _parse_external(document: dict, names: tuple[str, ...]) -> ExternalClasses:
    ignore = int(document['ignore'])
    classes = document['classes']
    if [int(c['id']) for c in classes] != list(range(len(classes))) or ignore != len(classes):
        raise ValueError('external class ids must be 0..K-1 in order and the ignore id K')
    allowed = np.zeros((len(classes) + 1, len(names)), bool)
    from_taxonomy = np.full(256, ignore, np.uint8)
    for c in classes:
        for name in c['taxonomy']:
            if name not in names:
                raise ValueError(f'{c["name"]}: no taxonomy class named {name!r}')
            if from_taxonomy[names.index(name)] != ignore:
                raise ValueError(f'taxonomy class {name!r} is covered by two external classes')
            allowed[c['id'], names.index(name)] = True
            from_taxonomy[names.index(name)] = c['id']
    return ExternalClasses(tuple(str(c['name']) for c in classes), ignore, allowed, from_taxonomy)


def parse_taxonomy(document: dict) -> Taxonomy:
    """Build and validate a Taxonomy from the parsed YAML document."""
    try:
        classes = tuple(_parse_class(entry) for entry in document['classes'])
        ignore = document['ignore']
        names = tuple(c.name for c in classes)
        if [c.id for c in classes] != list(range(len(classes))):
            raise ValueError('class ids must be 0..N-1 in order')
        if len(set(names)) != len(classes):
            raise ValueError('class names must be unique')
        camvid = _parse_external(document['camvid'], names) if 'camvid' in document else None
        taxonomy = Taxonomy(classes, int(ignore['id']), tuple(ignore['color']), int(ignore['semantickitti_export']),
                            camvid)
    except KeyError as exc:
        raise ValueError(f'taxonomy entry is missing key {exc}') from None
    if taxonomy.ignore_id < len(classes) or taxonomy.ignore_id > 255:
        raise ValueError('the ignore id must be above every class id and fit in uint8')
    for attribute in ('cityscapes_label_ids', 'cityscapes_train_ids', 'semantickitti_ids'):
        external = [i for c in classes for i in getattr(c, attribute)]
        if len(set(external)) != len(external):
            raise ValueError(f'{attribute}: an external id maps to two classes')
    return taxonomy


@lru_cache(maxsize=4)
def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """The taxonomy in `path` (default: the package's config/classes.yaml)."""
    path = Path(path) if path else config_path('classes.yaml')
    with open(path) as f:
        return parse_taxonomy(yaml.safe_load(f))
