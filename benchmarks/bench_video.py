"""Camera policies on real video (no labels): the temporal consistency of the labels and ms per frame, per policy.

Consistency: the share of pixels whose label equals the previous frame's label moved along the optical flow (DIS
at full resolution, one flow per frame pair shared by all policies). Flickering labels lower it; a model that sticks
to the key frame's labels raises it, so read it beside the agreement with the per-frame labels (what the backbone
says on each frame itself) and look at the overlays (`outputs/benchmarks/video/*.jpg`: rows = policies, columns =
frames, chosen between key frames). Frames are resized to 640 wide, as trained.

    .venv/bin/python benchmarks/bench_video.py [--video ../shared/data/udacity_video/solidWhiteRight.mp4] [--frames 120]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import OUT, publish  # noqa: E402

from perception.core.camera.propagation import FlowEstimator, PropagationConfig  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402

WIDTH = 640
DEFAULT_VIDEO = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'udacity_video' / 'solidWhiteRight.mp4'


def read_video(path: Path, frames: int) -> tuple[list[np.ndarray], float]:
    """Up to `frames` rgb frames resized to WIDTH wide, and the frame rate."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SystemExit(f'bench_video: cannot read {path}')
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    images = []
    while len(images) < frames:
        ok, bgr = capture.read()
        if not ok:
            break
        height = round(bgr.shape[0] * WIDTH / bgr.shape[1])
        images.append(cv2.cvtColor(cv2.resize(bgr, (WIDTH, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    return images, fps


def consistency(previous: np.ndarray, current: np.ndarray, flow: np.ndarray) -> float:
    """Share of pixels whose label equals the previous frame's label at p + flow(p)."""
    ys, xs = np.mgrid[:current.shape[0], :current.shape[1]].astype(np.float32)
    moved = cv2.remap(previous, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_NEAREST,
                      borderMode=cv2.BORDER_REPLICATE)
    return float((moved == current).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--video', type=Path, default=DEFAULT_VIDEO)
    parser.add_argument('--frames', type=int, default=120)
    parser.add_argument('--low-width', type=int, default=384, help='width of the cheaper per-frame comparison')
    parser.add_argument('--show', type=int, nargs='+', default=(2, 33, 64, 98), help='frames in the overlay montage')
    args = parser.parse_args()
    images, fps = read_video(args.video, args.frames)
    greys = [cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) for image in images]
    reference = FlowEstimator(PropagationConfig(flow_scale=1.0, flow_preset='medium'))
    flows = [reference(greys[i], greys[i - 1]) for i in tqdm(range(1, len(images)), desc='reference flow')]
    base = replace(CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')), panoptic=False)
    has_correction = CameraSegmenter(base).net.correction is not None
    per_frame = PropagationConfig(policy='fixed', interval=1)
    low = replace(base, propagation=per_frame, input_width=args.low_width)
    variants = [('per frame', replace(base, propagation=per_frame)), (f'per frame at width {args.low_width}', low),
                ('interval 2', replace(base, propagation=replace(base.propagation, policy='fixed', interval=2,
                                                                 correction=False))),
                ('interval 5', replace(base, propagation=replace(base.propagation, policy='fixed', interval=5,
                                                                 correction=False))),
                ('adaptive, warped only', replace(base, propagation=replace(base.propagation, correction=False)))]
    if has_correction:
        variants += [('interval 5, corrected', replace(base, propagation=replace(base.propagation, policy='fixed',
                                                                                 interval=5, correction=True))),
                     ('adaptive, corrected', replace(base, propagation=replace(base.propagation, correction=True)))]
    rows, montage, per_frame_labels = [], [], None
    step_ns = int(1e9 / fps)
    for name, config in tqdm(variants, desc='policies'):
        segmenter = CameraSegmenter(config)
        labels, times, keys = [], [], 0
        for i, image in enumerate(images):
            result = segmenter.process(image, i * step_ns)
            labels.append(result.labels)
            keys += result.key_frame
            if i >= 3:  # the first calls allocate
                times.append(result.timing_ms['total'])
        agree = [consistency(labels[i - 1], labels[i], flows[i - 1]) for i in range(1, len(labels))]
        changed = [float((labels[i - 1] != labels[i]).mean()) for i in range(1, len(labels))]
        if not rows:  # the first variant runs the backbone on every frame
            per_frame_labels = labels
        rows.append({'policy': name, 'consistency %': 100 * float(np.mean(agree)),
                     'labels changed %': 100 * float(np.mean(changed)),
                     'agrees with per frame %': 100 * float(np.mean([(a == b).mean() for a, b in
                                                                     zip(labels, per_frame_labels)])),
                     'key frames': keys, 'ms per frame': float(np.mean(times))})
        montage.append(np.concatenate([segmenter.overlay(images[i], labels[i]) for i in args.show
                                       if i < len(images)], 1))
        cv2.putText(montage[-1], name, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2)
    out = OUT / 'video'
    out.mkdir(parents=True, exist_ok=True)
    picture = out / f'{args.video.stem}.jpg'
    cv2.imwrite(str(picture), cv2.cvtColor(np.concatenate(montage, 0), cv2.COLOR_RGB2BGR))
    extra = {'video': str(args.video), 'frames': len(images), 'fps': fps, 'montage': str(picture)}
    publish(f'video_{args.video.stem}', rows, extra)


if __name__ == '__main__':
    main()
