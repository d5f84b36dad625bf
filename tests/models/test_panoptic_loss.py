"""Hungarian matching, targets from label maps, and the Mask2Former head overfitting one synthetic image."""
import pytest
import torch
from torch import nn

from perception.core.camera.panoptic import INSTANCE_DIVISOR, panoptic_inference, PanopticInferenceConfig
from perception.models.mask2former import Mask2FormerConfig, Mask2FormerHead
from perception.models.panoptic_loss import HungarianMatcher, panoptic_targets, PanopticLossConfig, SetCriterion
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
K = TAXONOMY.num_classes
ROAD, SKY, CAR, PERSON = (TAXONOMY.id_of(name) for name in ('road', 'sky', 'car', 'person'))
IGNORE = TAXONOMY.ignore_id


def box_masks(boxes, size=(16, 16)) -> torch.Tensor:
    """(N, H, W) bool masks, True inside each (top, bottom, left, right) box."""
    masks = torch.zeros(len(boxes), *size, dtype=torch.bool)
    for index, (top, bottom, left, right) in enumerate(boxes):
        masks[index, top:bottom, left:right] = True
    return masks


def prediction_for(classes, boxes) -> dict:
    """A batch-of-one prediction: class logits peaked at `classes` (K: "no object"), masks +-8 on `boxes`."""
    logits = torch.zeros(1, len(classes), K + 1)
    logits[0, torch.arange(len(classes)), torch.tensor(classes)] = 8.0
    return {'pred_logits': logits, 'pred_masks': (box_masks(boxes).float() * 16 - 8)[None]}


def target_for(classes, boxes) -> dict:
    return {'labels': torch.tensor(classes), 'masks': box_masks(boxes), 'valid': torch.ones(16, 16, dtype=torch.bool)}


def test_matcher_finds_the_permutation():
    boxes = [(0, 8, 0, 16), (8, 16, 0, 8), (8, 16, 8, 16)]
    target = target_for([SKY, CAR, CAR], boxes)
    prediction = prediction_for([CAR, SKY, CAR, K], [boxes[2], boxes[0], boxes[1], (4, 12, 4, 12)])
    torch.manual_seed(0)
    (queries, targets), = HungarianMatcher(PanopticLossConfig())(prediction, [target])
    assert dict(zip(queries.tolist(), targets.tolist())) == {0: 2, 1: 0, 2: 1}


def test_matcher_uses_masks_to_tell_same_class_instances_apart_and_class_to_tell_same_masks_apart():
    boxes = [(0, 16, 0, 4), (0, 16, 12, 16)]
    # Same class, masks swapped in query order.
    prediction = prediction_for([CAR, CAR], [boxes[1], boxes[0]])
    (queries, targets), = HungarianMatcher(PanopticLossConfig())(prediction, [target_for([CAR, CAR], boxes)])
    assert dict(zip(queries.tolist(), targets.tolist())) == {0: 1, 1: 0}
    # Same mask, classes swapped.
    prediction = prediction_for([PERSON, CAR], [boxes[0], boxes[0]])
    (queries, targets), = HungarianMatcher(PanopticLossConfig())(prediction, [target_for([CAR, PERSON], boxes[:1] * 2)])
    assert dict(zip(queries.tolist(), targets.tolist())) == {0: 1, 1: 0}


def test_matcher_handles_an_image_without_segments():
    prediction = prediction_for([CAR, K], [(0, 4, 0, 4), (0, 4, 0, 4)])
    empty = {'labels': torch.zeros(0, dtype=torch.long), 'masks': torch.zeros(0, 16, 16, dtype=torch.bool),
             'valid': torch.zeros(16, 16, dtype=torch.bool)}
    (queries, targets), = HungarianMatcher(PanopticLossConfig())(prediction, [empty])
    assert len(queries) == len(targets) == 0
    prediction['aux_outputs'] = []
    losses = SetCriterion(K)(prediction, [empty])
    assert losses['loss_mask'] == 0 and losses['loss'] > 0  # the car query is pushed to "no object"


def test_mask_losses_ignore_invalid_pixels():
    boxes = [(0, 8, 0, 16), (8, 16, 0, 16)]
    target = target_for([SKY, ROAD], boxes)
    target['valid'][:, 12:] = False
    prediction = prediction_for([SKY, ROAD], boxes)
    prediction['aux_outputs'] = []
    scribbled = {**prediction, 'pred_masks': prediction['pred_masks'].clone()}
    scribbled['pred_masks'][..., 13:] *= -1  # wrong, but only well inside the invalid columns
    criterion = SetCriterion(K, PanopticLossConfig(importance_sample_ratio=0.0))  # the same points for both
    losses = []
    for outputs in (prediction, scribbled):
        torch.manual_seed(0)
        losses.append(criterion(outputs, [target]))
    for name in ('loss_mask', 'loss_dice'):
        torch.testing.assert_close(losses[0][name], losses[1][name])
    target['valid'][:] = True
    torch.manual_seed(0)
    assert criterion(scribbled, [target])['loss_mask'] > losses[1]['loss_mask'] + 0.5


def test_targets_from_semantic_and_instance_maps():
    semantic = torch.full((6, 8), ROAD)
    semantic[:2] = SKY
    instance = torch.zeros(6, 8, dtype=torch.int32)
    semantic[3:5, 0:2], instance[3:5, 0:2] = CAR, 1
    semantic[3:5, 3:5], instance[3:5, 3:5] = CAR, 2
    semantic[3:5, 6:8], instance[3:5, 6:8] = PERSON, 1  # same instance id as a car: still its own segment
    semantic[5, 0:2] = PERSON  # a thing without an instance id: excluded
    semantic[0, 0] = IGNORE
    instance[1, 1] = 7  # an instance id on a stuff pixel means nothing
    target, = panoptic_targets(semantic[None], instance[None], TAXONOMY)
    assert sorted(target['labels'].tolist()) == sorted([ROAD, SKY, CAR, CAR, PERSON])
    assert target['masks'].shape == (5, 6, 8)
    assert (target['masks'].sum(0) == target['valid']).all()  # every valid pixel in exactly one segment
    assert not target['valid'][0, 0] and not target['valid'][5, 0:2].any() and target['valid'].sum() == 6 * 8 - 3
    areas = {(label, area) for label, area in zip(target['labels'].tolist(), target['masks'].sum((1, 2)).tolist())}
    assert areas == {(SKY, 15), (ROAD, 6 * 8 - 16 - 3 * 4 - 2), (CAR, 4), (PERSON, 4)}


def test_head_contract_and_attention_mask_never_blocks_a_whole_row():
    torch.manual_seed(0)
    config = Mask2FormerConfig(num_classes=K, hidden_dim=32, num_queries=6, decoder_layers=4, heads=2)
    head = Mask2FormerHead(config).eval()
    pyramid = {f'res{level}': torch.randn(2, channels, 64 >> level, 96 >> level)
               for level, channels in zip(range(2, 6), config.in_channels)}
    with torch.no_grad():
        outputs = head(pyramid)
        assert outputs['pred_logits'].shape == (2, 6, K + 1) and outputs['pred_masks'].shape == (2, 6, 16, 24)
        assert [tuple(aux['pred_masks'].shape) for aux in outputs['aux_outputs']] == [(2, 6, 16, 24)] * 4
        # Spatially constant mask features give each query a constant mask: all in or all out.
        decoder = head.transformer_decoder
        queries = torch.randn(2, 6, 32)
        _, mask_logits, blocked = decoder.predict(queries, torch.randn(2, 32, 1, 1).expand(-1, -1, 16, 24), (4, 6))
    assert blocked.shape == (2 * 2, 6, 4 * 6)  # (B * heads, Q, h * w)
    empty = (mask_logits < 0).flatten(2).all(-1)  # (B, Q)
    assert empty.any() and (~empty).any()
    assert not blocked.any()  # full masks block nothing, and empty ones are let through everywhere


class TinyBackbone(nn.Module):
    """Strided convs giving the head's res2..res5 pyramid."""

    def __init__(self, channels=(16, 16, 32, 32)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(5, channels[0], 3, 2, 1), nn.ReLU(),
                                  nn.Conv2d(channels[0], channels[0], 3, 2, 1), nn.ReLU())
        self.stages = nn.ModuleList(nn.Sequential(nn.Conv2d(c_in, c_out, 3, 2, 1), nn.ReLU())
                                    for c_in, c_out in zip(channels[:-1], channels[1:]))

    def forward(self, image):
        height, width = image.shape[-2:]
        rows = torch.linspace(-1, 1, height).view(1, 1, height, 1).expand(image.shape[0], 1, height, width)
        cols = torch.linspace(-1, 1, width).view(1, 1, 1, width).expand(image.shape[0], 1, height, width)
        features = self.stem(torch.cat([image, rows, cols], 1))
        pyramid = {'res2': features}
        for level, stage in enumerate(self.stages, start=3):
            features = pyramid[f'res{level}'] = stage(features)
        return pyramid


def synthetic_scene():
    """64x96 image: sky above, road below, two cars (instances 1 and 2); colours tell the classes apart."""
    semantic = torch.full((64, 96), ROAD)
    semantic[:24] = SKY
    instance = torch.zeros(64, 96, dtype=torch.long)
    semantic[20:44, 8:40], instance[20:44, 8:40] = CAR, 1
    semantic[28:52, 56:88], instance[28:52, 56:88] = CAR, 2
    colours = torch.zeros(K, 3)
    colours[ROAD], colours[SKY], colours[CAR] = torch.tensor([0.4, 0.4, 0.4]), torch.tensor([0.3, 0.5, 0.9]), 1.0
    image = colours[semantic].permute(2, 0, 1)[None]  # (H, W, 3) -> (1, 3, H, W)
    return image, semantic[None], instance[None]


@pytest.fixture
def one_thread():
    """A tiny model trains faster on one thread, and many times faster than on two when other processes share them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_head_overfits_one_image_and_panoptic_inference_recovers_its_segments(one_thread):
    torch.manual_seed(0)
    config = Mask2FormerConfig(num_classes=K, in_channels=(16, 16, 32, 32), hidden_dim=32, num_queries=8,
                               encoder_layers=1, decoder_layers=3, heads=2, points=2, ffn_dim=64)
    backbone, head = TinyBackbone(config.in_channels), Mask2FormerHead(config)
    criterion = SetCriterion(K, PanopticLossConfig(num_points=256))
    parameters = [*backbone.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3)
    image, semantic, instance = synthetic_scene()
    targets = panoptic_targets(semantic, instance, TAXONOMY)
    losses = []
    for _ in range(200):
        outputs = head(backbone(image))
        assert outputs['pred_masks'].shape == (1, 8, 16, 24) and len(outputs['aux_outputs']) == 3
        loss = criterion(outputs, targets)['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.15 * sum(losses[:10])

    head.eval()
    with torch.no_grad():
        outputs = head(backbone(image))
    panoptic, segments = panoptic_inference(outputs['pred_logits'][0], outputs['pred_masks'][0], TAXONOMY, (64, 96),
                                            PanopticInferenceConfig(object_mask_threshold=0.5))
    assert sorted(s['class'] for s in segments) == sorted([ROAD, SKY, CAR, CAR])
    for segment in segments:
        predicted = panoptic == segment['id']
        truth = semantic[0] == segment['class']
        if segment['is_thing']:  # the ground-truth car this segment overlaps most
            overlaps = [(predicted & (instance[0] == i)).sum() for i in (1, 2)]
            truth = instance[0] == 1 + int(torch.stack(overlaps).argmax())
        assert (predicted & truth).sum() / (predicted | truth).sum() > 0.9, segment
    assert {s['id'] % INSTANCE_DIVISOR for s in segments if s['is_thing']} == {1, 2}
