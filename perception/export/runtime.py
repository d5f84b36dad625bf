"""The exported camera network run by ONNX Runtime or OpenVINO behind CameraNet's interface.

`features(image)` returns the pyramid as torch tensors and `semantic(pyramid)` / `panoptic(pyramid)` take one, so
the camera segmenter warps the runtime's key-frame pyramid along optical flow exactly as it warps PyTorch's: flow
propagation is unchanged. The runtimes use as many threads as torch does (OMP_NUM_THREADS), on the CPU.
"""
from pathlib import Path

import numpy as np
import torch

from perception.export.camera import read_manifest
from perception.models.correction import CORRECTED_LEVELS

RUNTIMES = ('onnx', 'openvino')


def import_openvino():
    """The openvino module, its usage telemetry declined first: importing openvino otherwise reports to an
    outside analytics service unless the user has answered (the consent file ~/intel/openvino_telemetry)."""
    consent = Path.home() / 'intel' / 'openvino_telemetry'
    if not consent.exists():
        consent.parent.mkdir(parents=True, exist_ok=True)
        consent.write_text('0')
    import openvino
    return openvino


class _OnnxRuntimeModel:
    def __init__(self, path: Path, threads: int):
        try:
            import onnxruntime
        except ImportError as error:
            raise ValueError('the onnx camera backend needs onnxruntime: run `make setup-deploy`') from error
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')  # cores are shared
        self.session = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])

    def __call__(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(None, inputs)


class _OpenVinoModel:
    def __init__(self, path: Path, threads: int, precision: str):
        try:
            openvino = import_openvino()
        except ImportError as error:
            raise ValueError('the openvino camera backend needs openvino: run `make setup-deploy`') from error
        core = openvino.Core()
        # always explicit: on CPUs with bf16 OpenVINO's default is bf16, a different model than fp32 asks for
        config = {'INFERENCE_NUM_THREADS': threads, 'NUM_STREAMS': 1, 'PERFORMANCE_HINT': 'LATENCY',
                  'INFERENCE_PRECISION_HINT': {'fp32': 'f32', 'bf16': 'bf16'}[precision]}
        self.request = core.compile_model(core.read_model(str(path)), 'CPU', config).create_infer_request()

    def __call__(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        results = self.request.infer(inputs)
        return [results[output] for output in self.request.model_outputs]


class RuntimeCameraNet:
    """An exported camera network (a perception-export manifest) with CameraNet's features / semantic / panoptic."""

    def __init__(self, manifest: Path, runtime: str = 'onnx', threads: int | None = None, precision: str = 'fp32'):
        if runtime not in RUNTIMES:
            raise ValueError(f'runtime must be one of {", ".join(RUNTIMES)}, got {runtime!r}')
        if runtime == 'onnx' and precision != 'fp32':
            raise ValueError(f'the onnx camera backend runs the manifest as exported (fp32 or INT8), not '
                             f'{precision}: use the openvino or native backend for bf16')
        manifest = Path(manifest)
        self.manifest = read_manifest(manifest)
        self.levels = self.manifest['levels']
        self.num_classes = self.manifest['num_classes']
        threads = threads or torch.get_num_threads()
        self.models = {part: _OnnxRuntimeModel(manifest.parent / file, threads) if runtime == 'onnx'
                       else _OpenVinoModel(manifest.parent / file, threads, precision)
                       for part, file in self.manifest['models'].items()}
        self.panoptic_head = self.models.get('panoptic')  # None without an exported panoptic head
        self.correction = self.models.get('correction')  # None without an exported correction branch

    def run(self, part: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.models[part](inputs)

    def _pyramid_inputs(self, pyramid: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return {level: np.ascontiguousarray(pyramid[level].detach().float().cpu().numpy()) for level in self.levels}

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """rgb (1, 3, H, W) in [0, 1], H and W multiples of 32 -> feature pyramid."""
        outputs = self.run('features', {'image': np.ascontiguousarray(image.detach().float().cpu().numpy())})
        return {level: torch.from_numpy(output) for level, output in zip(self.levels, outputs)}

    def semantic(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        """Semantic logits (1, K, H/4, W/4)."""
        return torch.from_numpy(self.run('semantic', self._pyramid_inputs(pyramid))[0])

    def corrected(self, image: torch.Tensor, warped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A propagated frame's pyramid corrected by the exported correction branch (see CameraNet.corrected)."""
        if self.correction is None:
            raise RuntimeError('this export has no correction branch')
        inputs = {'image': np.ascontiguousarray(image.detach().float().cpu().numpy()),
                  **{f'warped_{level}': np.ascontiguousarray(warped[level].detach().float().cpu().numpy())
                     for level in CORRECTED_LEVELS}}
        return {level: torch.from_numpy(output) for level, output in zip(self.levels, self.run('correction', inputs))}

    def panoptic(self, pyramid: dict[str, torch.Tensor]) -> dict:
        """Mask2Former 'pred_logits' and 'pred_masks' (the padded image must have the exported size)."""
        if self.panoptic_head is None:
            raise RuntimeError('this export has no panoptic head')
        padded = tuple(pyramid[self.levels[0]].shape[-2:])
        expected = tuple(side // 4 for side in self.manifest['panoptic_size'])
        if padded != expected:
            raise ValueError(f'the exported panoptic head takes padded images of {self.manifest["panoptic_size"]} '
                             f'pixels, got a pyramid for {[side * 4 for side in padded]}')
        logits, masks = self.run('panoptic', self._pyramid_inputs(pyramid))
        return {'pred_logits': torch.from_numpy(logits), 'pred_masks': torch.from_numpy(masks)}
