"""The exported camera network on inference runtimes vs PyTorch, side by side in one run on one thread.

ms per call of the backbone (key frames), the semantic head (every frame) and the panoptic head, for PyTorch, ONNX
Runtime fp32 / INT8, OpenVINO fp32 / INT8 (where installed) and PyTorch / OpenVINO bf16 (where the CPU computes
bf16 natively: AVX512-BF16 or AMX), interleaved round by round so that a busy machine
slows all alike (/proc/loadavg is recorded with each timing); then accuracy through the camera segmenter as
deployed (adaptive flow propagation, panoptic head off): mIoU on a held-out simulated drive, and the class-average
IoU over CamVid's 11 classes on its test split (each image a key frame, width 640, our classes mapped to CamVid's).
Exports first (perception-export camera --int8, calibrated on simulated training frames + CamVid train + nuScenes
front images) unless the manifests exist. Last, PointNet++'s exported layers vs PyTorch (perception-export lidar).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_export.py --camvid ../shared/data/camvid \
        --calibration-images ../shared/data/camvid/train ../shared/data/nuscenes_front/image_2
"""
import argparse
import importlib.util
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_data import eval_frames  # noqa: E402
from report import publish  # noqa: E402

from perception.core.camera.precision import Bfloat16CameraNet, check_precision  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.metrics import ConfusionMatrix  # noqa: E402
from perception.export.camera import INT8_MANIFEST, MANIFEST, image_tensor, working_image  # noqa: E402
from perception.export.cli import main as export_main  # noqa: E402
from perception.export.lidar import export_pointnet2  # noqa: E402
from perception.export.runtime import RuntimeCameraNet  # noqa: E402
from perception.io.camvid import list_camvid, read_camvid  # noqa: E402
from perception.models.camera_net import load_camera_net  # noqa: E402
from perception.paths import WEIGHTS_DIR  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402

ROUNDS, WARMUP = 30, 3


def loadavg() -> str:
    return Path('/proc/loadavg').read_text().split(' ')[0]


def backends(out: Path) -> dict:
    """name -> (segmenter backend, weights, precision); bf16 rows where this CPU computes bf16 natively."""
    found = {'PyTorch': ('native', WEIGHTS_DIR / 'camera.pt', 'fp32'),
             'ONNX Runtime fp32': ('onnx', out / MANIFEST, 'fp32'),
             'ONNX Runtime INT8': ('onnx', out / INT8_MANIFEST, 'fp32')}
    if importlib.util.find_spec('openvino'):
        found.update({'OpenVINO fp32': ('openvino', out / MANIFEST, 'fp32'),
                      'OpenVINO INT8': ('openvino', out / INT8_MANIFEST, 'fp32')})
    try:
        check_precision('bf16', torch.device('cpu'))
    except ValueError:
        return found
    found['PyTorch bf16'] = ('native', WEIGHTS_DIR / 'camera.pt', 'bf16')
    if importlib.util.find_spec('openvino'):
        found['OpenVINO bf16'] = ('openvino', out / MANIFEST, 'bf16')
    return found


def networks(out: Path) -> dict:
    nets = {}
    cpu = torch.device('cpu')
    for name, (backend, weights, precision) in backends(out).items():
        if backend == 'native':
            net = load_camera_net(weights)[0]
            nets[name] = Bfloat16CameraNet(net, cpu) if precision == 'bf16' else net
        else:
            nets[name] = RuntimeCameraNet(weights, backend, 1, precision)
    return nets


@torch.inference_mode()
def timings(nets: dict, image: np.ndarray, panoptic_size: tuple[int, int]) -> dict:
    """name -> part -> median ms over ROUNDS interleaved rounds, and the load average before / after."""
    tensor = image_tensor(working_image(image))
    panoptic_input = image_tensor(working_image(image)[:panoptic_size[0], :panoptic_size[1]])
    pyramids = {name: net.features(tensor) for name, net in nets.items()}
    panoptic_pyramids = {name: net.features(panoptic_input) for name, net in nets.items()}
    calls = {'backbone': lambda net, name: net.features(tensor),
             'semantic head': lambda net, name: net.semantic(pyramids[name]),
             'panoptic head': lambda net, name: net.panoptic(panoptic_pyramids[name])}
    samples = {name: {part: [] for part in calls} for name in nets}
    load_before = loadavg()
    for round_index in range(WARMUP + ROUNDS):
        for part, call in calls.items():
            for name, net in nets.items():
                if part == 'panoptic head' and net.panoptic_head is None:
                    continue
                start = time.perf_counter()
                call(net, name)
                if round_index >= WARMUP:
                    samples[name][part].append((time.perf_counter() - start) * 1e3)
    key_frame = {name: np.add(parts['backbone'], parts['semantic head']) for name, parts in samples.items()}
    return {'ms': {name: {part: statistics.median(v) for part, v in parts.items() if v}
                   for name, parts in samples.items()},
            # per round, PyTorch's key frame over this runtime's (both measured within the same ~0.1 s): a busy
            # machine slows both alike, so the median ratio is steadier than a ratio of medians
            'key_frame_speed_up': {name: float(np.median(key_frame['PyTorch'] / ms)) for name, ms in key_frame.items()},
            'size': list(tensor.shape[-2:]), 'loadavg_before': load_before, 'loadavg_after': loadavg()}


def drive_miou(segmenter: CameraSegmenter, data: dict) -> float:
    confusion = ConfusionMatrix(segmenter.taxonomy.num_classes)
    segmenter.reset()
    for image, semantic, stamp in zip(data['image'], data['semantic'], data['stamp_ns']):
        confusion.update(segmenter.process(image, int(stamp)).labels, semantic)
    return 100 * confusion.miou()


def camvid_iou(segmenter: CameraSegmenter, pairs: list) -> float:
    camvid = load_taxonomy().camvid
    confusion = ConfusionMatrix(len(camvid.names), ignore_index=camvid.ignore_id)
    for image_path, label_path in pairs:
        image, label = read_camvid(image_path, label_path)
        segmenter.reset()  # stills: every image a key frame
        confusion.update(camvid.from_taxonomy[segmenter.process(image).labels], label)
    return 100 * confusion.miou()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', type=Path, default=Path('outputs/export/camera'), help='the export folder')
    parser.add_argument('--reexport', action='store_true', help='export again even if the manifests exist')
    parser.add_argument('--calibration-images', type=Path, nargs='*', default=[])
    parser.add_argument('--seed', type=int, default=3001, help='held-out (eval) drive')
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--camvid', type=Path, help='CamVid root (SegNet layout): test split accuracy')
    parser.add_argument('--camvid-limit', type=int, default=0, help='only the first N test images (0: all)')
    parser.add_argument('--lidar-out', type=Path, default=Path('outputs/export/lidar'), help='PointNet++ export')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.reexport or not (args.out / INT8_MANIFEST).is_file():
        export_main(['camera', '--int8', '--out', str(args.out), '--calibration-images',
                     *map(str, args.calibration_images)])
    nets = networks(args.out)
    panoptic_size = tuple(RuntimeCameraNet(args.out / MANIFEST, 'onnx', 1).manifest['panoptic_size'])
    data = eval_frames(args.seed, args.frames)
    timing = {'drive': timings(nets, data['image'][0], panoptic_size)}
    pairs = list_camvid(args.camvid, 'test') if args.camvid else []
    pairs = pairs[:args.camvid_limit] if args.camvid_limit else pairs
    if pairs:
        timing['camvid'] = timings(nets, read_camvid(*pairs[0])[0], panoptic_size)
    del nets
    parameters = load_parameters('camera_segmentation')
    rows = []
    reference = None
    for name, (backend, weights, precision) in tqdm(backends(args.out).items(), desc='accuracy'):
        config = CameraSegmenterConfig.from_parameters({**parameters, 'model.backend': backend,
                                                        'model.weights': str(weights), 'model.precision': precision,
                                                        'panoptic.enabled': False})
        segmenter = CameraSegmenter(config)
        row = {'runtime': name, 'drive mIoU': drive_miou(segmenter, data)}
        if pairs:
            still = CameraSegmenter(replace(config, input_width=640))
            row['CamVid IoU'] = camvid_iou(still, pairs)
        for where, measured in timing.items():
            ms = measured['ms'][name]
            row[f'{where} backbone ms'] = ms['backbone']
            row[f'{where} head ms'] = ms['semantic head']
            row[f'{where} key frame speed-up'] = measured['key_frame_speed_up'][name]
        row['panoptic head ms'] = timing['drive']['ms'][name].get('panoptic head')
        reference = reference or row
        row['drive mIoU change'] = row['drive mIoU'] - reference['drive mIoU']
        if pairs:
            row['CamVid IoU change'] = row['CamVid IoU'] - reference['CamVid IoU']
        rows.append(row)
    lidar = export_pointnet2(WEIGHTS_DIR / 'lidar_pointnet2.pt', args.lidar_out)
    extra = {'timing': timing, 'seed': args.seed, 'frames': args.frames, 'camvid_images': len(pairs),
             'threads': 1, 'rounds': ROUNDS, 'lidar_pointnet2': lidar}
    publish('export', rows, extra)
    print('\nPointNet++ (one chunk of', lidar['chunk_points'], 'points, one thread): ms',
          {k: round(v, 1) for k, v in lidar['ms_one_thread'].items()}, '; check', lidar['check'])
    for where, measured in timing.items():
        print(f'{where}: {measured["size"][1]}x{measured["size"][0]} input; load average '
              f'{measured["loadavg_before"]} before, {measured["loadavg_after"]} after the timing')
    return 0


if __name__ == '__main__':
    sys.exit(main())
