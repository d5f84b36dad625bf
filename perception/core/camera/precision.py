"""Numeric precision of the camera network: fp32, or bf16 where the hardware computes it natively.

bf16 runs the network's convolutions and matrix products in bfloat16 (torch autocast; OpenVINO's inference
precision hint for the openvino backend) and keeps everything between the network's calls (the feature pyramid
that flow warping moves, the logits) in float32. On this project's AVX512-BF16 CPU the backbone takes ~45% less
time and a whole default frame ~20% less, at the same mIoU (benchmarks/bench_export.py, bench_camera.py)."""
import torch

PRECISIONS = ('fp32', 'bf16')


def check_precision(precision: str, device: torch.device) -> None:
    """ValueError unless `precision` is known and, for bf16, the device computes bf16 natively (emulated bf16 on an
    older CPU would be slower than fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {", ".join(PRECISIONS)}, got {precision!r}')
    if precision == 'bf16':
        native = (torch.cuda.is_bf16_supported() if device.type == 'cuda'
                  else torch.ops.mkldnn._is_mkldnn_bf16_supported())
        if not native:
            raise ValueError(f'precision bf16 needs a device that computes bfloat16 natively (a CPU with '
                             f'AVX512-BF16 or AMX, or a CUDA GPU); {device} does not: use fp32')


def _to_float(outputs):
    if isinstance(outputs, torch.Tensor):
        return outputs.float()
    if isinstance(outputs, dict):
        return {key: _to_float(value) for key, value in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return type(outputs)(_to_float(value) for value in outputs)
    return outputs


class Bfloat16CameraNet:
    """A camera network (CameraNet or MMSegNet) whose calls run under bf16 autocast and return float32 outputs;
    its other attributes (panoptic_head, correction, ...) are the wrapped network's."""

    def __init__(self, net, device: torch.device):
        self.net, self.device_type = net, device.type

    def __getattr__(self, name):
        return getattr(self.net, name)

    def _run(self, method: str, *args):
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return _to_float(getattr(self.net, method)(*args))

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._run('features', image)

    def corrected(self, image: torch.Tensor, warped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self._run('corrected', image, warped)

    def semantic(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._run('semantic', pyramid)

    def panoptic(self, pyramid: dict[str, torch.Tensor]) -> dict:
        return self._run('panoptic', pyramid)
