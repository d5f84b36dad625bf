"""Simulator realism against the real data in ../shared/data, side by side.

LiDAR (KITTI HDL-64E, the default model): points per sweep, share of zero-reflectance returns, median reflectance,
reflectance medians of road / car / wall / vegetation points, the car-point share of a sweep's front 90 degrees,
and the ground ring step (median height step between neighbouring beams' rings over the ground plane, 4-20 m: per-
beam calibration errors). Real references: the kitti_raw_0001 sweeps (road: ground-plane inliers within 3 m of the
vehicle's track, 4-40 m; wall: vertical planar neighbourhoods 2.2-8 m above the road; vegetation: scattered
neighbourhoods 1-10 m above it), the KITTI object Car/Van boxes and the SqueezeSeg car labels (car). Simulated: the
same regions by ground truth. Other LiDAR models: intensity scale and zero share beside the real VLP-32C and OS1-64
sweeps of RELLIS-3D, and ground roughness (median residual of a plane fitted per 2 m cell crossed by three or more
rings, 4-30 m) of grass and paved ground in the labelled OS1-64 sweep beside simulated terrain and road. Camera:
mean brightness and saturation, sky colour, road brightness and texture contrast (robust spread of the band-passed
road, 1-8 pixels, over its brightness), beside CamVid (labelled), nuScenes front and KITTI images.

    .venv/bin/python benchmarks/bench_sim_realism.py [--seeds 3000 3001 3002] [--frames 0 20 40] [--randomise]

Skips cleanly (exit 0, one line) without ../shared/data."""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.eval.real_data import DEFAULT_DATA_ROOT  # noqa: E402
from perception.io import kitti_object  # noqa: E402
from perception.io.camvid import list_camvid, read_camvid  # noqa: E402
from perception.io.point_clouds import read_sweep  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402

ROAD_HALF_WIDTH, ROAD_RANGE = 3.0, (4.0, 40.0)
WORK_WIDTH = 480  # images are compared at CamVid's width
LIDAR_ROWS = ('points per sweep', 'zero share', 'median', 'road median', 'road zero share', 'car median',
              'car zero share', 'wall median', 'vegetation median', 'car share (front 90 deg)',
              'ground ring step (cm)')
RING_STEP_RANGE, ELEVATION_BIN_DEG, RING_STEP_MIN_POINTS = (4.0, 20.0), 0.1, 200
OTHER_SENSORS = {  # simulated model: the real sweep of that sensor in ../shared/data (RELLIS-3D, off-road), and a
    'vlp32c': ('rellis3d_example/vel000104.bin', 1),  # factor that shows its intensity scale in the table
    'os1_64': ('rellis3d_example/000104.bin', 1000)}
OS1_RELLIS_LABELS, OS1_BEAMS = 'rellis3d_example/000104.label', 64  # its points are stored azimuth-major
ROUGHNESS_CELL, ROUGHNESS_RANGE, ROUGHNESS_MIN_POINTS, ROUGHNESS_MIN_RINGS = 2.0, (4.0, 30.0), 12, 3
RELLIS_GROUND = {'grass': [3], 'paved': [23]}  # RELLIS-3D ontology: grass; concrete
CAMERA_ROWS = ('brightness', 'saturation', 'sky R', 'sky G', 'sky B', 'sky saturation', 'road brightness',
               'road texture contrast')


# -- LiDAR regions ---------------------------------------------------------------------------------------------
def ground_height(xyz: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Height of each point above a RANSAC ground plane fitted to the low points within 25 m."""
    near = xyz[(np.hypot(xyz[:, 0], xyz[:, 1]) < 25) & (xyz[:, 2] < -1.0)]
    best, best_count = (np.array([0.0, 0.0, 1.0]), 1.73), -1
    for _ in range(200):
        p = near[rng.choice(len(near), 3, replace=False)]
        normal = np.cross(p[1] - p[0], p[2] - p[0])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal = normal / np.linalg.norm(normal) * np.sign(normal[2])
        if normal[2] < 0.95:
            continue
        offset = -normal @ p[0]
        count = int((np.abs(near @ normal + offset) < 0.08).sum())
        if count > best_count:
            best, best_count = (normal, offset), count
    normal, offset = best
    return xyz @ normal + offset


def road_region(xyz: np.ndarray, height: np.ndarray) -> np.ndarray:
    return ((np.abs(height) < 0.08) & (np.abs(xyz[:, 1]) < ROAD_HALF_WIDTH) & (np.abs(xyz[:, 0]) > ROAD_RANGE[0])
            & (np.abs(xyz[:, 0]) < ROAD_RANGE[1]))


def shape_regions(xyz: np.ndarray, height: np.ndarray, k: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(wall, vegetation) masks from the eigenvalues of each point's k-neighbourhood."""
    wall, vegetation = np.zeros(len(xyz), bool), np.zeros(len(xyz), bool)
    idx = np.flatnonzero((height > 1.0) & (height < 10) & (np.hypot(xyz[:, 0], xyz[:, 1]) < 40))
    if len(idx) < k:
        return wall, vegetation
    _, neighbours = cKDTree(xyz[idx]).query(xyz[idx], k)
    centred = xyz[idx][neighbours] - xyz[idx][neighbours].mean(1, keepdims=True)   # (M, k, 3)
    values, vectors = np.linalg.eigh(np.einsum('nki,nkj->nij', centred, centred) / k)  # ascending
    planarity = (values[:, 1] - values[:, 0]) / np.maximum(values[:, 2], 1e-9)
    scattering = values[:, 0] / np.maximum(values[:, 2], 1e-9)
    wall[idx] = (np.abs(vectors[:, 2, 0]) < 0.15) & (planarity > 0.6) & (height[idx] > 2.2) & (height[idx] < 8)
    vegetation[idx] = scattering > 0.12
    return wall, vegetation


def front(xyz: np.ndarray) -> np.ndarray:
    return np.abs(np.arctan2(xyz[:, 1], xyz[:, 0])) < np.pi / 4


def ring_step(xyz: np.ndarray, height: np.ndarray) -> float:
    """Median step (cm) between the heights of neighbouring beams' rings over the ground plane, 4-20 m (beams
    found by elevation angle): a sensor's per-beam calibration errors, flat ground being flat."""
    distance = np.hypot(xyz[:, 0], xyz[:, 1])
    ground = (np.abs(height) < 0.15) & (distance > RING_STEP_RANGE[0]) & (distance < RING_STEP_RANGE[1])
    beam = np.round(np.degrees(np.arctan2(xyz[:, 2], distance)) / ELEVATION_BIN_DEG).astype(np.int64)
    levels = [np.median(height[ground & (beam == b)]) for b in np.unique(beam[ground])
              if (ground & (beam == b)).sum() > RING_STEP_MIN_POINTS]
    return 100 * float(np.median(np.abs(np.diff(levels)))) if len(levels) > 1 else float('nan')


def lidar_row(sweeps: list, region_values: dict, car_share: list, ring_steps: list) -> dict:
    """Summary of sweeps [(xyz, reflectance)], per-region reflectance values and ground ring steps."""
    reflectance = np.concatenate([r for _, r in sweeps])
    row = {'points per sweep': float(np.median([len(r) for _, r in sweeps])),
           'zero share': float((reflectance == 0).mean()), 'median': float(np.median(reflectance))}
    for name in ('road', 'car', 'wall', 'vegetation'):
        values = np.concatenate(region_values.get(name) or [np.zeros(0)])
        if len(values):
            row[f'{name} median'] = float(np.median(values))
            if name in ('road', 'car'):
                row[f'{name} zero share'] = float((values == 0).mean())
    if car_share:
        row['car share (front 90 deg)'] = float(np.mean(car_share))
    row['ground ring step (cm)'] = float(np.median(ring_steps))
    return row


def ground_roughness(xyz: np.ndarray, ring: np.ndarray, mask: np.ndarray) -> float:
    """Median (cm) over 2 m cells crossed by several rings of the residual std of a plane fitted to the masked
    points (cells of one ring lie on the beam's cone, which any plane fits)."""
    distance = np.hypot(xyz[:, 0], xyz[:, 1])
    keep = mask & (distance > ROUGHNESS_RANGE[0]) & (distance < ROUGHNESS_RANGE[1])
    xyz, ring = xyz[keep], ring[keep]
    _, cell = np.unique(np.floor(xyz[:, :2] / ROUGHNESS_CELL).astype(np.int64), axis=0, return_inverse=True)
    residuals = []
    for index in range(cell.max() + 1 if len(cell) else 0):
        inside = cell.ravel() == index
        if inside.sum() < ROUGHNESS_MIN_POINTS or len(np.unique(ring[inside])) < ROUGHNESS_MIN_RINGS:
            continue
        design = np.c_[xyz[inside, :2], np.ones(int(inside.sum()))]
        coefficients, *_ = np.linalg.lstsq(design, xyz[inside, 2], rcond=None)
        residuals.append(np.std(xyz[inside, 2] - design @ coefficients))
    return 100 * float(np.median(residuals)) if residuals else float('nan')


def roughness_rows(root: Path, seed: int) -> list:
    """Ground roughness of the labelled RELLIS-3D OS1-64 sweep (grass, concrete) and of a simulated OS1-64 sweep
    (terrain, road), in cm."""
    from perception.sim.simulator import DriveSimulator, SensorRig
    real = read_sweep(root / OTHER_SENSORS['os1_64'][0])[:, :3].astype(float)
    labels = np.fromfile(root / OS1_RELLIS_LABELS, np.uint32) & 0xFFFF
    ring = np.arange(len(real)) % OS1_BEAMS
    frame = DriveSimulator(seed, 1, SensorRig.from_config(lidar='os1_64')).frame(0)
    xyz = np.stack([frame.points[a] for a in 'xyz'], 1).astype(float)
    ids = load_taxonomy().id_of
    return [{'measure': f'os1_64 {name} roughness (cm)',
             'real LiDAR': ground_roughness(real, ring, np.isin(labels, RELLIS_GROUND[name])),
             'simulated': ground_roughness(xyz, frame.points['ring'], frame.point_semantic == ids(simulated))}
            for name, simulated in (('grass', 'terrain'), ('paved', 'road'))]


def sensor_rows(root: Path, seed: int) -> list:
    """Per other sensor: points, median intensity and zero share of its real sweep and of a simulated one (the
    intensity scales differ per sensor; RELLIS-3D is off-road, so points per sweep are not comparable)."""
    from perception.sim.simulator import DriveSimulator, SensorRig
    rows = []
    for name, (path, shown) in OTHER_SENSORS.items():
        real = read_sweep(root / path)
        real = real[np.linalg.norm(real[:, :3], axis=1) > 0.1]  # the Ouster file keeps empty returns at 0
        points = DriveSimulator(seed, 1, SensorRig.from_config(lidar=name)).frame(0).points
        for label, real_value, sim_value in (
                ('points per sweep', len(real), len(points)),
                (f'median intensity x{shown}', shown * np.median(real[:, 3]), shown * np.median(points['intensity'])),
                ('zero share', (real[:, 3] == 0).mean(), (points['intensity'] == 0).mean())):
            rows.append({'measure': f'{name} {label}', 'real LiDAR': float(real_value), 'simulated': float(sim_value)})
    return rows


def real_lidar(root: Path, rng: np.random.Generator) -> dict:
    sweeps, regions, steps = [], {}, []
    for path in sorted((root / 'kitti_raw_0001_lidar').glob('*.npz'))[::3]:
        points = read_sweep(path)
        xyz, reflectance = points[:, :3].astype(float), points[:, 3]
        sweeps.append((xyz, reflectance))
        height = ground_height(xyz, rng)
        steps.append(ring_step(xyz, height))
        wall, vegetation = shape_regions(xyz, height)
        for name, mask in (('road', road_region(xyz, height)), ('wall', wall), ('vegetation', vegetation)):
            regions.setdefault(name, []).append(reflectance[mask])
    boxes = [(root / 'kitti_object' / 'training', label.stem, 'velodyne')
             for label in sorted((root / 'kitti_object' / 'training' / 'label_2').glob('*.txt'))]
    boxes.append((root / 'kitti_object_000008', '000008', 'velodyne_reduced'))
    for folder, stem, velodyne in boxes:
        points = read_sweep(folder / velodyne / f'{stem}.bin')
        xyz = points[:, :3].astype(float)
        calib = kitti_object.read_calib(folder / 'calib' / f'{stem}.txt')
        inside = np.zeros(len(points), bool)
        for box in kitti_object.read_labels(folder / 'label_2' / f'{stem}.txt'):
            if box.type in ('Car', 'Van'):
                inside |= kitti_object.in_box(xyz, calib, box)
        regions.setdefault('car', []).append(points[inside & (xyz[:, 2] > -1.55), 3])  # not the road below
    car_share = []
    for path in sorted((root / 'kitti_raw_0001_squeezeseg').glob('*.npy')):
        grid = np.load(path).reshape(-1, 6)  # x, y, z, intensity, range, label (1 = car)
        valid = grid[:, 4] > 0
        regions['car'].append(grid[valid & (grid[:, 5] == 1), 3])
        car_share.append(float((grid[valid, 5] == 1).mean()))
    return lidar_row(sweeps, regions, car_share, steps)


def sim_lidar(frames: list, rng: np.random.Generator) -> dict:
    ids = load_taxonomy().id_of
    sweeps, regions, car_share, steps = [], {}, [], []
    for frame in frames:
        xyz = np.stack([frame.points[a] for a in 'xyz'], 1).astype(float)
        reflectance, semantic = frame.points['intensity'], frame.point_semantic
        sweeps.append((xyz, reflectance))
        height = ground_height(xyz, rng)
        steps.append(ring_step(xyz, height))
        masks = {'road': road_region(xyz, height) & (semantic == ids('road')), 'car': semantic == ids('car'),
                 'wall': np.isin(semantic, [ids('building'), ids('wall')]) & (height > 2.2) & (height < 8),
                 'vegetation': (semantic == ids('vegetation')) & (height > 1.0) & (height < 10)}
        for name, mask in masks.items():
            regions.setdefault(name, []).append(reflectance[mask])
        ahead = front(xyz)
        car_share.append(float((semantic[ahead] == ids('car')).mean()))
    return lidar_row(sweeps, regions, car_share, steps)


# -- camera ----------------------------------------------------------------------------------------------------
def _resized(image: np.ndarray, labels: np.ndarray | None = None):
    height = round(image.shape[0] * WORK_WIDTH / image.shape[1])
    image = cv2.resize(image, (WORK_WIDTH, height), interpolation=cv2.INTER_AREA)
    if labels is not None:
        labels = cv2.resize(labels, (WORK_WIDTH, height), interpolation=cv2.INTER_NEAREST)
    return image, labels


def camera_row(images: list) -> dict:
    """Statistics of [(rgb, sky mask or None, road mask or None)] at WORK_WIDTH."""
    brightness, saturation, sky, road_brightness, road_texture = [], [], [], [], []
    for rgb, sky_mask, road_mask in images:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        brightness.append(luma.mean())
        saturation.append(hsv[..., 1].mean() / 255)
        if sky_mask is not None and sky_mask.sum() > 200:
            sky.append(rgb[sky_mask].mean(0) / 255)
        if road_mask is not None:
            inner = cv2.erode(road_mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            if inner.sum() > 500:
                detail = cv2.GaussianBlur(luma, (0, 0), 1.0) - cv2.GaussianBlur(luma, (0, 0), 8.0)  # blotches, grain
                road_brightness.append(luma[inner].mean())
                # robust spread of the detail (markings and kerb edges are sparse outliers): the surface's texture
                spread = 1.4826 * np.median(np.abs(detail[inner] - np.median(detail[inner])))
                road_texture.append(spread / max(luma[inner].mean(), 1e-3))
    row = {'brightness': float(np.mean(brightness)), 'saturation': float(np.mean(saturation))}
    if sky:
        colour = np.mean(sky, 0)
        row.update({'sky R': float(colour[0]), 'sky G': float(colour[1]), 'sky B': float(colour[2]),
                    'sky saturation': float(1 - colour.min() / max(colour.max(), 1e-6))})
    if road_brightness:
        row.update({'road brightness': float(np.mean(road_brightness)),
                    'road texture contrast': float(np.median(road_texture))})
    return row


def camvid_images(root: Path, count: int = 60) -> list:
    pairs = list_camvid(root / 'camvid', 'test')
    images = []
    for image_path, label_path in pairs[::max(1, len(pairs) // count)]:
        rgb, labels = _resized(*read_camvid(image_path, label_path))
        images.append((rgb, labels == 0, labels == 3))  # CamVid: 0 Sky, 3 Road
    return images


def plain_images(paths: list) -> list:
    images = []
    for path in paths:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        images.append((_resized(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))[0], None, None))
    return images


def sim_images(frames: list) -> list:
    ids = load_taxonomy().id_of
    images = []
    for frame in frames:
        rgb, labels = _resized(frame.image, frame.semantic)
        images.append((rgb, labels == ids('sky'), labels == ids('road')))
    return images


def simulate(seeds: list, frame_indices: list, lidar: str | None, randomise: bool) -> list:
    from perception.sim.simulator import DriveSimulator, SensorRig
    rig = SensorRig.from_config(lidar=lidar, randomise=randomise)
    frames = []
    for seed in seeds:
        sim = DriveSimulator(seed, max(frame_indices) + 1, rig)
        frames += [sim.frame(i) for i in frame_indices]
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seeds', type=int, nargs='+', default=[3000, 3001, 3002])
    parser.add_argument('--frames', type=int, nargs='+', default=[0, 20, 40])
    parser.add_argument('--lidar', help='simulated LiDAR model (config/lidars.yaml; default: its default)')
    parser.add_argument('--randomise', action='store_true', help='simulate with per-drive randomisation')
    parser.add_argument('--data', type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument('--name', default='sim_realism', help='name of the JSON under outputs/benchmarks/')
    args = parser.parse_args()
    if not (args.data / 'kitti_raw_0001_lidar').is_dir():
        print(f'bench_sim_realism: no real data under {args.data}; skipped')
        return
    rng = np.random.default_rng(0)
    frames = simulate(args.seeds, args.frames, args.lidar, args.randomise)
    lidar = {'real LiDAR': real_lidar(args.data, rng), 'simulated': sim_lidar(frames, rng)}
    camera = {'real CamVid': camera_row(camvid_images(args.data)),
              'real nuScenes front': camera_row(plain_images(sorted((args.data / 'nuscenes_front' / 'image_2')
                                                                    .glob('*.jpg'))[::4])),
              'real KITTI': camera_row(plain_images(sorted((args.data / 'kitti_object' / 'training' / 'image_2')
                                                           .glob('*.png')))),
              'simulated': camera_row(sim_images(frames))}
    rows = [{'measure': name, **{source: values.get(name, '') for source, values in lidar.items()}}
            for name in LIDAR_ROWS]
    rows += sensor_rows(args.data, args.seeds[0])
    rows += roughness_rows(args.data, args.seeds[0])
    rows += [{'measure': name, **{source: values.get(name, '') for source, values in camera.items()}}
             for name in CAMERA_ROWS]
    publish(args.name, rows, {'seeds': args.seeds, 'frames': args.frames, 'lidar_model': args.lidar,
                              'randomise': args.randomise, 'lidar': lidar, 'camera': camera},
            columns=['measure', 'real LiDAR', 'real CamVid', 'real nuScenes front', 'real KITTI', 'simulated'])


if __name__ == '__main__':
    main()
