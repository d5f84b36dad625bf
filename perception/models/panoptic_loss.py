"""Mask2Former's training losses: Hungarian matching and the set criterion, with masks compared on sampled points.

Targets are one dict per image (build them with `panoptic_targets`):
    'labels': (T,) long class ids, one per segment (a stuff class present, or a thing instance)
    'masks':  (T, H, W) bool, the segments' masks at input resolution
    'valid':  (H, W) bool, False on pixels excluded from the mask losses (ignore, things without an instance id)
Predictions are the head's dict ('pred_logits' (B, Q, K+1), 'pred_masks' (B, Q, h, w), 'aux_outputs'). Both are
read at the same random points in normalised coordinates: predicted logits interpolated bilinearly, targets and
validity from the pixel containing the point, so the lower-resolution prediction needs no resizing.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from perception.taxonomy import Taxonomy


@dataclass(frozen=True)
class PanopticLossConfig:
    class_weight: float = 2.0
    mask_weight: float = 5.0  # sigmoid BCE
    dice_weight: float = 5.0
    no_object_weight: float = 0.1  # class-CE weight of the "no object" class
    num_points: int = 4096  # points per mask for matching and for the mask losses
    oversample_ratio: float = 3.0  # importance sampling draws num_points * this candidates ...
    importance_sample_ratio: float = 0.75  # ... and keeps this share of num_points where the prediction is least sure


def panoptic_targets(semantic: torch.Tensor, instance: torch.Tensor, taxonomy: Taxonomy) -> list[dict]:
    """Per-image targets from (B, H, W) semantic class ids and (B, H, W) instance ids (0: none).

    One segment per stuff class present and one per (thing class, instance id) pair. Pixels of the ignore id (or any
    id >= num_classes) and thing pixels with instance 0 (a crowd or unlabelled group) are in no segment and invalid.
    """
    is_thing = torch.as_tensor(taxonomy.is_thing, device=semantic.device)
    targets = []
    for image_semantic, image_instance in zip(semantic.long(), instance.long()):
        thing = is_thing[image_semantic.clamp(0, is_thing.numel() - 1)]
        valid = (image_semantic < taxonomy.num_classes) & ~(thing & (image_instance == 0))
        # Stuff pixels key on their class alone, thing pixels on (class, instance).
        stride = int(image_instance.max()) + 1
        keys = image_semantic * stride + torch.where(thing, image_instance, 0)
        segment_keys = keys[valid].unique()
        targets.append({'labels': segment_keys // stride,
                        'masks': (keys[None] == segment_keys[:, None, None]) & valid,
                        'valid': valid})
    return targets


def point_sample(maps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """maps (N, C, H, W) bilinearly sampled at coords (N, P, 2), (x, y) in [0, 1]: (N, C, P)."""
    # (N, P, 2) -> (N, P, 1, 2); grid_sample gives (N, C, P, 1)
    return F.grid_sample(maps, 2 * coords[:, :, None] - 1, mode='bilinear', align_corners=False).squeeze(3)


def pixel_index(coords: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column (...,) of the pixel of an H x W map containing each point of coords (..., 2), (x, y) in [0, 1]."""
    rows = (coords[..., 1] * height).long().clamp(0, height - 1)
    cols = (coords[..., 0] * width).long().clamp(0, width - 1)
    return rows, cols


def uncertain_point_coords(mask_logits: torch.Tensor, config: PanopticLossConfig) -> torch.Tensor:
    """(N, num_points, 2) coords for masks (N, 1, h, w): mostly where the logit is nearest 0, the rest uniform."""
    count = mask_logits.shape[0]
    candidates = torch.rand(count, int(config.num_points * config.oversample_ratio), 2, device=mask_logits.device)
    uncertainty = -point_sample(mask_logits, candidates)[:, 0].abs()  # (N, candidates)
    num_uncertain = int(config.importance_sample_ratio * config.num_points)
    chosen = uncertainty.topk(num_uncertain, dim=1, sorted=False).indices
    uncertain = candidates.gather(1, chosen[..., None].expand(-1, -1, 2))
    uniform = torch.rand(count, config.num_points - num_uncertain, 2, device=mask_logits.device)
    return torch.cat([uncertain, uniform], 1)


def pairwise_mask_costs(logits: torch.Tensor, targets: torch.Tensor,
                        weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean BCE and dice loss of every prediction against every target, over points weighted by validity.
    logits (Q, P), targets (T, P), weights (P,) -> two (Q, T)."""
    positive = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction='none') * weights
    negative = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits), reduction='none') * weights
    bce = (positive @ targets.T + negative @ (1 - targets).T) / weights.sum().clamp(min=1)
    probs = logits.sigmoid() * weights
    dice = 1 - (2 * probs @ targets.T + 1) / (probs.sum(-1)[:, None] + (targets * weights).sum(-1)[None] + 1)
    return bce, dice


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to target segments minimising class, mask BCE and dice costs."""

    def __init__(self, config: PanopticLossConfig):
        super().__init__()
        self.config = config

    @torch.no_grad()
    def forward(self, prediction: dict, targets: list[dict]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per image (query indices, target indices), long tensors on the CPU of equal length min(Q, T)."""
        indices = []
        for class_logits, mask_logits, target in zip(prediction['pred_logits'], prediction['pred_masks'], targets):
            if len(target['labels']) == 0:
                empty = torch.zeros(0, dtype=torch.long)
                indices.append((empty, empty))
                continue
            class_cost = -class_logits.float().softmax(-1)[:, target['labels']]  # (Q, T)
            # The same random points for every query and target of this image.
            coords = torch.rand(1, self.config.num_points, 2, device=mask_logits.device)
            point_logits = point_sample(mask_logits[None].float(), coords)[0]  # (1, Q, h, w) -> (Q, P)
            rows, cols = pixel_index(coords[0], *target['valid'].shape)  # (P,)
            point_targets = target['masks'][:, rows, cols].float()  # (T, P)
            point_weights = target['valid'][rows, cols].float()  # (P,)
            bce_cost, dice_cost = pairwise_mask_costs(point_logits, point_targets, point_weights)
            cost = (self.config.class_weight * class_cost + self.config.mask_weight * bce_cost
                    + self.config.dice_weight * dice_cost)
            query_index, target_index = linear_sum_assignment(cost.cpu().numpy())
            indices.append((torch.as_tensor(query_index, dtype=torch.long),
                            torch.as_tensor(target_index, dtype=torch.long)))
        return indices


class SetCriterion(nn.Module):
    """Class cross-entropy over all queries plus mask BCE and dice over matched ones, for the final prediction and
    every auxiliary one (deep supervision)."""

    def __init__(self, num_classes: int, config: PanopticLossConfig = PanopticLossConfig()):
        super().__init__()
        self.num_classes = num_classes
        self.config = config
        self.matcher = HungarianMatcher(config)
        class_weights = torch.ones(num_classes + 1)
        class_weights[-1] = config.no_object_weight
        self.register_buffer('class_weights', class_weights, persistent=False)

    def forward(self, outputs: dict, targets: list[dict]) -> dict[str, torch.Tensor]:
        """'loss': the weighted sum to minimise; 'loss_class', 'loss_mask', 'loss_dice' of the final prediction and
        the same with suffix '_<i>' for auxiliary prediction i (unweighted, for logging)."""
        num_masks = max(sum(len(t['labels']) for t in targets), 1)
        weights = {'loss_class': self.config.class_weight, 'loss_mask': self.config.mask_weight,
                   'loss_dice': self.config.dice_weight}
        predictions = [('', outputs)] + [(f'_{i}', aux) for i, aux in enumerate(outputs['aux_outputs'])]
        losses = {}
        total = 0
        for suffix, prediction in predictions:
            indices = self.matcher(prediction, targets)
            for name, value in self.prediction_losses(prediction, targets, indices, num_masks).items():
                losses[name + suffix] = value
                total = total + weights[name] * value
        return {'loss': total, **losses}

    def prediction_losses(self, prediction: dict, targets: list[dict], indices: list[tuple[torch.Tensor, torch.Tensor]],
                          num_masks: int) -> dict[str, torch.Tensor]:
        class_logits = prediction['pred_logits'].float()  # (B, Q, K+1)
        device = class_logits.device
        batch_index = torch.cat([torch.full_like(query, b) for b, (query, _) in enumerate(indices)]).to(device)
        query_index = torch.cat([query for query, _ in indices]).to(device)
        target_classes = torch.full(class_logits.shape[:2], self.num_classes, dtype=torch.long, device=device)
        target_classes[batch_index, query_index] = torch.cat(
            [t['labels'][target.to(device)] for t, (_, target) in zip(targets, indices)])
        class_loss = F.cross_entropy(class_logits.transpose(1, 2), target_classes, self.class_weights)

        mask_logits = prediction['pred_masks'][batch_index, query_index].float()[:, None]  # (N, 1, h, w)
        if mask_logits.shape[0] == 0:
            zero = prediction['pred_masks'].sum() * 0
            return {'loss_class': class_loss, 'loss_mask': zero, 'loss_dice': zero}
        with torch.no_grad():
            coords = uncertain_point_coords(mask_logits, self.config)  # (N, P, 2)
            point_targets, point_weights = [], []
            for target, image_coords, (_, target_index) in zip(
                    targets, coords.split([len(query) for query, _ in indices]), indices):
                rows, cols = pixel_index(image_coords, *target['valid'].shape)  # (n, P)
                point_targets.append(target['masks'][target_index.to(device)[:, None], rows, cols])
                point_weights.append(target['valid'][rows, cols])
            point_targets = torch.cat(point_targets).float()  # (N, P)
            point_weights = torch.cat(point_weights).float()  # (N, P)
        point_logits = point_sample(mask_logits, coords)[:, 0]  # (N, P)
        bce = F.binary_cross_entropy_with_logits(point_logits, point_targets, reduction='none')
        mask_loss = ((bce * point_weights).sum(1) / point_weights.sum(1).clamp(min=1)).sum() / num_masks
        probs = point_logits.sigmoid() * point_weights
        targets_sum = (point_targets * point_weights).sum(1)
        dice = 1 - (2 * (probs * point_targets).sum(1) + 1) / (probs.sum(1) + targets_sum + 1)
        return {'loss_class': class_loss, 'loss_mask': mask_loss, 'loss_dice': dice.sum() / num_masks}
