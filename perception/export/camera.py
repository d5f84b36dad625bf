"""The camera network as ONNX models split where propagation splits it, checked against PyTorch, and quantised.

`features.onnx` (rgb in [0, 1] -> the feature pyramid: the key-frame work) and `semantic.onnx` (pyramid -> class
logits at stride 4: every frame) keep any image size whose sides are multiples of 32, so flow-guided propagation
warps the runtime's pyramid exactly as it warps PyTorch's. `panoptic.onnx` (pyramid -> Mask2Former class and mask
logits) is exported at one working size: its position encodings and attention-mask sizes are traced as constants.
A manifest (`camera.json`, `camera.int8.json`) names the files; `model.weights` points to it.

INT8 is post-training static quantisation (ONNX Runtime, QDQ, per-channel int8 weights, uint8 activations,
min-max ranges) of the backbone and the semantic head, calibrated on simulated frames of training seeds plus real
images; the panoptic head stays float32.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from perception.core.camera.image_size import to_working, working_geometry
from perception.models.camera_net import CameraNet
from perception.models.correction import CORRECTED_LEVELS

OPSET = 17  # GridSample (deformable attention) needs 16, LayerNormalization 17
MANIFEST = 'camera.json'
INT8_MANIFEST = 'camera.int8.json'


def image_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 rgb -> (1, 3, H, W) float32 in [0, 1], the networks' input."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255.0


def working_image(image: np.ndarray) -> np.ndarray:
    """An image of any size at the network's working size: width 640, sides padded to multiples of 32."""
    return to_working(image, working_geometry(*image.shape[:2]))


class _Features(nn.Module):
    def __init__(self, net: CameraNet):
        super().__init__()
        self.net = net

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.net.features(image).values())


class _Semantic(nn.Module):
    def __init__(self, net: CameraNet, levels: list[str]):
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, *pyramid: torch.Tensor) -> torch.Tensor:
        return self.net.semantic(dict(zip(self.levels, pyramid)))


class _Corrected(nn.Module):
    """(image, warped deeper levels) -> the corrected pyramid (models/correction.py)."""

    def __init__(self, net: CameraNet, levels: list[str]):
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, image: torch.Tensor, *warped: torch.Tensor) -> tuple[torch.Tensor, ...]:
        corrected = self.net.corrected(image, dict(zip(CORRECTED_LEVELS, warped)))
        return tuple(corrected[level] for level in self.levels)


class _Panoptic(nn.Module):
    def __init__(self, net: CameraNet, levels: list[str]):
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, *pyramid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = self.net.panoptic(dict(zip(self.levels, pyramid)))
        return outputs['pred_logits'], outputs['pred_masks']


def _register_in_place_and() -> None:
    """Mask2Former's decoder clears masks with `&=`, which the TorchScript exporter has no rule for: ONNX And."""
    torch.onnx.register_custom_op_symbolic('aten::__iand_', lambda g, a, b: g.op('And', a, b), OPSET)


def _spatial_axes(names: list[str]) -> dict:
    return {name: {2: f'{name}_height', 3: f'{name}_width'} for name in names}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def export_camera(net: CameraNet, out: Path, source: Path | None = None,
                  panoptic_size: tuple[int, int] | None = (192, 640)) -> Path:
    """Write features.onnx, semantic.onnx (any size, multiples of 32) and, when the network has a panoptic head
    and `panoptic_size` (padded height, width) is given, panoptic.onnx; returns the manifest's path."""
    out.mkdir(parents=True, exist_ok=True)
    net = net.cpu().eval()
    height, width = panoptic_size or (192, 640)
    example = torch.rand(1, 3, height, width)
    with torch.inference_mode():
        pyramid = net.features(example)
    levels = list(pyramid)
    example_pyramid = tuple(level.clone() for level in pyramid.values())
    models = {'features': 'features.onnx', 'semantic': 'semantic.onnx'}
    torch.onnx.export(_Features(net).eval(), (example,), out / models['features'], input_names=['image'],
                      output_names=levels, opset_version=OPSET, dynamo=False,
                      dynamic_axes=_spatial_axes(['image'] + levels))
    torch.onnx.export(_Semantic(net, levels).eval(), example_pyramid, out / models['semantic'], input_names=levels,
                      output_names=['logits'], opset_version=OPSET, dynamo=False,
                      dynamic_axes=_spatial_axes(levels + ['logits']))
    if net.correction is not None:
        models['correction'] = 'correction.onnx'
        warped_names = [f'warped_{level}' for level in CORRECTED_LEVELS]
        corrected_names = [f'corrected_{level}' for level in levels]
        torch.onnx.export(_Corrected(net, levels).eval(),
                          (example, *(pyramid[level].clone() for level in CORRECTED_LEVELS)),
                          out / models['correction'], input_names=['image', *warped_names],
                          output_names=corrected_names, opset_version=OPSET, dynamo=False,
                          dynamic_axes=_spatial_axes(['image', *warped_names, *corrected_names]))
    if net.panoptic_head is not None and panoptic_size:
        _register_in_place_and()
        models['panoptic'] = 'panoptic.onnx'
        torch.onnx.export(_Panoptic(net, levels).eval(), example_pyramid, out / models['panoptic'],
                          input_names=levels, output_names=['pred_logits', 'pred_masks'], opset_version=OPSET,
                          dynamo=False)
    manifest = {'format': 'onnx', 'precision': 'fp32', 'opset': OPSET, 'levels': levels,
                'num_classes': net.config.num_classes, 'models': models,
                'panoptic_size': list(panoptic_size) if 'panoptic' in models else None,
                'source': {'weights': str(source) if source else None,
                           'sha256': sha256(source) if source else None}}
    return write_manifest(out / MANIFEST, manifest)


def write_manifest(path: Path, manifest: dict) -> Path:
    path.write_text(json.dumps(manifest, indent=2) + '\n')
    return path


def read_manifest(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such export manifest (write one with perception-export camera)')
    manifest = json.loads(path.read_text())
    if manifest.get('format') != 'onnx' or 'features' not in manifest.get('models', {}):
        raise ValueError(f'{path}: not a camera export manifest')
    return manifest


@dataclass
class ExportCheck:
    """Exported vs PyTorch semantic logits over some frames."""
    frames: int
    max_abs_difference: float   # largest |logit difference| anywhere
    mean_abs_difference: float
    label_agreement: float      # share of logit pixels (stride 4) whose argmax agrees

    def as_dict(self) -> dict:
        return {k: round(float(v), 6) for k, v in self.__dict__.items()}


@torch.inference_mode()
def check_against_pytorch(net: CameraNet, runtime_net, images: list[np.ndarray]) -> ExportCheck:
    """Compare the semantic logits of `runtime_net` (a RuntimeCameraNet) with the PyTorch network's."""
    worst, total, agree, count = 0.0, 0.0, 0, 0
    for image in images:
        tensor = image_tensor(working_image(image))
        reference = net.semantic(net.features(tensor))
        exported = runtime_net.semantic(runtime_net.features(tensor))
        difference = (reference - exported).abs()
        worst = max(worst, float(difference.max()))
        total += float(difference.mean())
        agree += int((reference.argmax(1) == exported.argmax(1)).sum())
        count += reference[:, 0].numel()
    return ExportCheck(len(images), worst, total / max(1, len(images)), agree / max(1, count))


class _Frames:
    """onnxruntime.quantization.CalibrationDataReader over a list of input dicts (duck-typed: get_next)."""

    def __init__(self, inputs: list[dict]):
        self._inputs = iter(inputs)

    def get_next(self) -> dict | None:
        return next(self._inputs, None)


def quantize_camera(manifest_path: Path, calibration: list[np.ndarray], work: Path | None = None) -> Path:
    """INT8 backbone and semantic head from the fp32 export, calibrated on `calibration` images (any sizes);
    returns the INT8 manifest's path (the panoptic head and the correction branch, if any, stay fp32)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from perception.export.runtime import RuntimeCameraNet

    manifest_path = Path(manifest_path)
    out, manifest = manifest_path.parent, read_manifest(manifest_path)
    fp32 = RuntimeCameraNet(manifest_path, 'onnx')
    levels = manifest['levels']
    images = [image_tensor(working_image(image)).numpy() for image in calibration]
    pyramids = [dict(zip(levels, fp32.run('features', {'image': image}))) for image in images]
    inputs = {'features': [{'image': image} for image in images], 'semantic': pyramids}
    models = dict(manifest['models'])
    for part, part_inputs in inputs.items():
        source = out / manifest['models'][part]
        prepared = (work or out) / f'{part}.prepared.onnx'
        quant_pre_process(str(source), str(prepared))
        models[part] = f'{part}.int8.onnx'
        quantize_static(str(prepared), str(out / models[part]), _Frames(part_inputs), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
        prepared.unlink()
    int8 = {**manifest, 'precision': 'int8', 'models': models,
            'calibration': {'frames': len(calibration), 'method': 'min-max, QDQ, per-channel int8 weights, uint8 '
                                                                  'activations'}}
    return write_manifest(out / INT8_MANIFEST, int8)


def simulated_frames(seeds: list[int], frames_per_seed: int, drive_frames: int = 25) -> list[np.ndarray]:
    """Camera images of simulated drives, `frames_per_seed` spread over each drive's `drive_frames` frames."""
    from perception.sim.simulator import DriveSimulator

    images = []
    for seed in seeds:
        simulator = DriveSimulator(seed, drive_frames)
        indices = np.linspace(0, drive_frames - 1, frames_per_seed).round().astype(int)
        images += [simulator.frame(int(index)).image for index in indices]
    return images


def folder_images(folder: Path, count: int, offset: float = 0.0) -> list[np.ndarray]:
    """`count` rgb images spread evenly over a folder's sorted .jpg/.png files (`offset` in [0, 1) of a step
    shifts the pick, so that two calls can take disjoint images)."""
    import cv2

    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))
    if not files:
        raise FileNotFoundError(f'{folder}: no .jpg or .png images')
    step = len(files) / count
    picked = sorted({files[min(len(files) - 1, int((i + offset) * step))] for i in range(count)})
    return [cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for path in picked]
