"""Pictures of an evaluation: LiDAR sweeps from above and camera overlays, prediction beside ground truth, in the
taxonomy's colours (unlabelled / ignored in grey)."""
import cv2
import numpy as np

from perception.taxonomy import Taxonomy

GREY = np.array([110, 110, 110], np.uint8)  # points without a label (ignore, unknown, unscored)
BEV_EXTENT_M = 40.0  # the bird's-eye view shows [-extent, extent] metres around the sensor in x and y
BEV_METRES_PER_PIXEL = 0.1
PANEL_WIDTH = 640  # camera pictures are drawn this wide


def label_colours(taxonomy: Taxonomy, labels: np.ndarray) -> np.ndarray:
    """Taxonomy colours of class ids (any shape) with ignore and unknown ids grey."""
    colours = taxonomy.colorize(labels)
    colours[np.asarray(labels) >= taxonomy.num_classes] = GREY
    return colours


def bird_eye(xyz: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 top view of points coloured (N, 3), 2x2 pixels each: x (forward) up, y (left) to the left,
    sensor centred; higher points are drawn over lower ones."""
    size = int(round(2 * BEV_EXTENT_M / BEV_METRES_PER_PIXEL))
    image = np.full((size + 1, size + 1, 3), 20, np.uint8)
    finite = np.isfinite(xyz).all(axis=1)
    xyz, colours = xyz[finite], colours[finite]
    row = np.floor((BEV_EXTENT_M - xyz[:, 0]) / BEV_METRES_PER_PIXEL).astype(np.int64)
    column = np.floor((BEV_EXTENT_M - xyz[:, 1]) / BEV_METRES_PER_PIXEL).astype(np.int64)
    inside = (row >= 0) & (row < size) & (column >= 0) & (column < size)
    order = np.argsort(xyz[inside, 2], kind='stable')
    row, column, colours = row[inside][order], column[inside][order], colours[inside][order]
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):
        image[row + dr, column + dc] = colours
    cv2.circle(image, (size // 2, size // 2), 3, (255, 255, 255), -1)  # the sensor
    return image[:size, :size]


def legend(image: np.ndarray, entries: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """The image with a colour square and name per entry stacked in its top right corner."""
    image = np.ascontiguousarray(image)
    left = image.shape[1] - 150
    for k, (name, colour) in enumerate(entries):
        top = 10 + 18 * k
        cv2.rectangle(image, (left, top), (left + 12, top + 12), tuple(int(c) for c in colour), -1)
        cv2.rectangle(image, (left, top), (left + 12, top + 12), (255, 255, 255), 1)
        cv2.putText(image, name, (left + 18, top + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return image


def overlay(rgb: np.ndarray, colours: np.ndarray, labelled: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """The image with `colours` blended in where `labelled` (H, W) is true."""
    blended = cv2.addWeighted(rgb, 1 - alpha, colours, alpha, 0.0)
    return np.where(labelled[..., None], blended, rgb)


def draw_boxes(rgb: np.ndarray, boxes, colour=(255, 255, 255)) -> np.ndarray:
    """The image with rectangles (left, top, right, bottom) in pixels drawn on it."""
    image = rgb.copy()
    for left, top, right, bottom in boxes:
        cv2.rectangle(image, (int(left), int(top)), (int(right), int(bottom)), colour, 2)
    return image


def panels(named: list[tuple[str, np.ndarray]]) -> np.ndarray:
    """Images side by side (bottoms padded to the same height), each titled in its corner."""
    titled = []
    for title, image in named:
        image = np.array(image)
        cv2.putText(image, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, title, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1, cv2.LINE_AA)
        titled.append(image)
    height = max(image.shape[0] for image in titled)
    return np.concatenate([np.pad(image, ((0, height - image.shape[0]), (0, 4), (0, 0))) for image in titled], 1)


def write_rgb(path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'{path}: could not write the image')
