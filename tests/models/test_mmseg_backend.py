"""The optional mmsegmentation backend (`make setup-mmseg`): an mmseg model behind the same propagation pipeline,
its Cityscapes classes mapped into the taxonomy. Skipped where mmsegmentation is not installed."""
import numpy as np
import pytest
import torch

pytest.importorskip('mmseg')

from perception.core.camera.propagation import PropagationConfig  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402

CONFIG = """
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_val=0, seg_pad_val=255),
    backbone=dict(type='ResNetV1c', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), strides=(1, 2, 2, 2),
                  dilations=(1, 1, 1, 1), norm_cfg=norm_cfg, style='pytorch', contract_dilation=True),
    decode_head=dict(type='FCNHead', in_channels=512, in_index=3, channels=64, num_convs=1, concat_input=False,
                     num_classes=19, norm_cfg=norm_cfg, align_corners=False,
                     loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(), test_cfg=dict(mode='whole'))
"""


@pytest.fixture(scope='module')
def segmenter(tmp_path_factory):
    path = tmp_path_factory.mktemp('mmseg') / 'tiny_fcn.py'
    path.write_text(CONFIG)
    torch.manual_seed(0)
    config = CameraSegmenterConfig(weights=None, backend='mmseg', mmseg_config=path, device='cpu', panoptic=False,
                                   input_width=None, propagation=PropagationConfig(policy='fixed', interval=2))
    return CameraSegmenter(config)


def test_key_frames_match_mmsegmentations_own_inference_in_taxonomy_ids(segmenter):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 160, 3), dtype=np.uint8)
    ours = segmenter.process(image, 0)
    model = segmenter.net.model
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    with torch.no_grad():
        logits = model.encode_decode((tensor - segmenter.net.mean) / segmenter.net.std,
                                     [dict(img_shape=(96, 160), pad_shape=(96, 160))])
    expected = load_taxonomy().from_cityscapes_train_ids[logits.argmax(1)[0].numpy()]
    assert ours.key_frame and (ours.labels == expected).mean() > 0.999


def test_propagated_frames_run_on_the_decode_head_alone(segmenter):
    image = np.random.default_rng(1).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    segmenter.reset()
    first, second = segmenter.process(image, 0), segmenter.process(np.roll(image, 4, axis=1), 100_000_000)
    assert first.key_frame and not second.key_frame and 'warp' in second.timing_ms
    assert set(np.unique(second.labels)) <= set(load_taxonomy().from_cityscapes_train_ids[:19])
