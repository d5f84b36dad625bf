"""Camera accuracy per aspect ratio and working width, on real labelled frames (CamVid test, 4:3).

The same CamVid test images are cut to the aspect ratios of common cameras (a centred horizontal band: CamVid 4:3,
nuScenes 16:9, Cityscapes 2:1, KITTI 3.3:1), then segmented as perception-eval does (each image a key frame,
resized to `model.input_width`, see core/camera/image_size.py) at several working widths. Class-average IoU in
CamVid's 11 classes and pixel accuracy; the narrower bands lose sky and near road, so compare along a row (widths)
more than down a column.

    .venv/bin/python benchmarks/bench_aspect.py [--camvid ../shared/data/camvid] [--frames 233] [--widths 480 640 800]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.real_data import DEFAULT_DATA_ROOT  # noqa: E402
from perception.eval.scores import ClassScore  # noqa: E402
from perception.io.camvid import list_camvid, read_camvid  # noqa: E402

ASPECTS = {'CamVid 4:3': 4 / 3, 'nuScenes 16:9': 16 / 9, 'Cityscapes 2:1': 2.0, 'KITTI 3.3:1': 1242 / 375}


def band(array, aspect: float):
    """The centred horizontal band of an (H, W, ...) array with width / height = aspect."""
    height = min(array.shape[0], round(array.shape[1] / aspect))
    top = (array.shape[0] - height) // 2
    return array[top:top + height]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--camvid', type=Path, default=DEFAULT_DATA_ROOT / 'camvid')
    parser.add_argument('--frames', type=int, default=233, help='CamVid test frames (evenly spread)')
    parser.add_argument('--widths', type=int, nargs='+', default=(480, 640, 800), help='working widths')
    args = parser.parse_args()
    if not args.camvid.is_dir():
        print(f'bench_aspect: no CamVid at {args.camvid}; nothing to measure')
        return
    pairs = list_camvid(args.camvid, 'test')
    pairs = [pairs[round(i * (len(pairs) - 1) / max(args.frames - 1, 1))] for i in range(min(args.frames, len(pairs)))]
    frames = [read_camvid(image, label) for image, label in tqdm(pairs, desc='reading CamVid test')]
    base = replace(CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')), panoptic=False)
    segmenters = {width: CameraSegmenter(replace(base, input_width=width)) for width in args.widths}
    camvid = next(iter(segmenters.values())).taxonomy.camvid
    rows = []
    for name, aspect in tqdm(ASPECTS.items(), desc='aspect ratios'):
        row = {'aspect': name, 'size': ''}
        for width, segmenter in segmenters.items():
            score = ClassScore(camvid.names, camvid.ignore_id)
            for rgb, labels in frames:
                rgb, labels = band(rgb, aspect), band(labels, aspect)
                segmenter.reset()
                score.update(camvid.from_taxonomy[segmenter.process(rgb).labels], labels)
            summary = score.summary()
            row['size'] = f'{rgb.shape[1]}x{rgb.shape[0]}'
            row[f'IoU at {width}'] = summary['miou']
            row[f'accuracy at {width}'] = summary['accuracy']
        rows.append(row)
    publish('aspect', rows, {'camvid': str(args.camvid), 'frames': len(frames), 'weights': str(base.weights)})


if __name__ == '__main__':
    main()
