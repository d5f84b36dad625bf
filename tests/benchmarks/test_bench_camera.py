"""The equal-cost per-frame models of bench_camera.py are the shipped camera itself at a lower input width: the same
configuration but for width and policy, and the network really sees the smaller image."""
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.parameters import load_parameters
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))
from bench_camera import policy_variants  # noqa: E402


def test_equal_cost_models_are_the_shipped_configuration_at_lower_widths(tmp_path):
    shipped = CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation'))
    variants = policy_variants(shipped, 640, (512, 384), has_correction=True, panoptic=True)
    per_frame = [(name, config, width) for name, config, width, _ in variants if name.startswith('per frame')]
    assert [width for _, _, width in per_frame] == [640, 512, 384]
    for _, config, width in per_frame:
        assert config == replace(shipped, input_width=width, propagation=PropagationConfig(policy='fixed', interval=1))
    propagated = [config for name, config, _, _ in variants if not name.startswith('per frame')]
    assert all(config.input_width == shipped.input_width and config.weights == shipped.weights
               for config in propagated)

    torch.manual_seed(0)
    save_camera_net(tmp_path / 'camera.pt', CameraNet(CameraNetConfig(21)))
    seen = []
    segmenter = CameraSegmenter(replace(per_frame[-1][1], weights=tmp_path / 'camera.pt', device='cpu',
                                        panoptic=False))
    features = segmenter.net.features
    segmenter.net.features = lambda image: seen.append(tuple(image.shape[-2:])) or features(image)
    result = segmenter.process(np.random.default_rng(0).integers(0, 256, (192, 640, 3), np.uint8))
    assert seen == [(128, 384)]  # 384 x 115 padded to multiples of 32
    assert result.labels.shape == (192, 640)
