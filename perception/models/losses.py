"""Segmentation losses for images and point clouds: class-balanced cross-entropy, focal and dice.

Logits are (N, C, ...) and targets (N, ...) int64 class ids: (N, C) / (N,) for points, (N, C, H, W) / (N, H, W)
for images. Targets equal to `ignore_index` (255) take no part.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

WEIGHTING_METHODS = ('inverse_sqrt', 'log', 'none')


def class_weights(counts, method: str = 'inverse_sqrt', max_weight: float = 10.0) -> torch.Tensor:
    """(C,) float32 loss weights from per-class label counts: rare classes weigh more.

    'inverse_sqrt': 1 / sqrt(frequency); 'log': 1 / log(1.02 + frequency) (ENet's log smoothing); 'none': all 1.
    Weights are scaled so that their count-weighted mean is 1 (the loss keeps plain cross-entropy's scale), then
    capped at `max_weight`. A class with no labels gets the largest weight of the others.
    """
    if method not in WEIGHTING_METHODS:
        raise ValueError(f'method must be one of {WEIGHTING_METHODS}, got {method!r}')
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 1 or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError('counts must be a 1-D array of non-negative counts, not all zero')
    frequency = counts / counts.sum()
    present = frequency > 0
    weights = np.ones_like(frequency)
    if method == 'inverse_sqrt':
        weights[present] = 1.0 / np.sqrt(frequency[present])
    elif method == 'log':
        weights[present] = 1.0 / np.log(1.02 + frequency[present])
    weights /= (weights * frequency).sum()
    weights = np.minimum(weights, max_weight)
    weights[~present] = weights[present].max()
    return torch.tensor(weights, dtype=torch.float32)


def _flatten(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C, ...) logits and (N, ...) targets -> (M, C) and (M,)."""
    if logits.shape[0] != target.shape[0] or logits.shape[2:] != target.shape[1:]:
        raise ValueError(f'logits {tuple(logits.shape)} do not match targets {tuple(target.shape)}')
    return logits.movedim(1, -1).reshape(-1, logits.shape[1]), target.reshape(-1)


def dice_loss(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255, smooth: float = 1.0):
    """1 - soft Dice score averaged over classes, on the non-ignored elements of (M, C) logits, (M,) targets."""
    valid = target != ignore_index
    probability = logits[valid].softmax(dim=1)  # (M', C)
    one_hot = F.one_hot(target[valid], logits.shape[1]).to(probability.dtype)  # (M', C)
    intersection = (probability * one_hot).sum(dim=0)
    total = probability.sum(dim=0) + one_hot.sum(dim=0)
    return 1.0 - ((2.0 * intersection + smooth) / (total + smooth)).mean()


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Knowledge distillation (Hinton et al. 2015): KL(teacher || student) of the class distributions of (N, C)
    logits softened by `temperature`, times temperature^2 so its gradients keep their scale; mean over the N rows."""
    return temperature ** 2 * F.kl_div(F.log_softmax(student_logits / temperature, dim=1),
                                       F.log_softmax(teacher_logits / temperature, dim=1),
                                       log_target=True, reduction='batchmean')


class SegmentationLoss(nn.Module):
    """Weighted cross-entropy, focal when focal_gamma > 0, plus dice_weight x Dice loss.

    The (focal) cross-entropy is the class-weighted mean over non-ignored elements, like F.cross_entropy's.
    A batch with no valid target gives 0 (with a graph, so backward still works).
    """

    def __init__(self, class_weights: torch.Tensor | None = None, focal_gamma: float = 0.0,
                 dice_weight: float = 0.0, ignore_index: int = 255):
        super().__init__()
        if focal_gamma < 0 or dice_weight < 0:
            raise ValueError('focal_gamma and dice_weight must be non-negative')
        self.register_buffer('class_weights', class_weights, persistent=False)
        self.focal_gamma, self.dice_weight, self.ignore_index = focal_gamma, dice_weight, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                element_weight: torch.Tensor | None = None) -> torch.Tensor:
        """`element_weight` (shaped like `target`) multiplies each element's class weight in the cross-entropy."""
        logits, target = _flatten(logits, target)
        valid = target != self.ignore_index
        if not valid.any():
            return logits.sum() * 0.0
        logits, target = logits[valid], target[valid]
        log_probability = logits.log_softmax(dim=1).gather(1, target[:, None]).squeeze(1)  # (M,)
        weight = torch.ones_like(log_probability) if self.class_weights is None else self.class_weights[target]
        if element_weight is not None:
            weight = weight * element_weight.reshape(-1)[valid]
        loss = -log_probability * weight
        if self.focal_gamma:
            loss = loss * (1.0 - log_probability.exp()).pow(self.focal_gamma)
        loss = loss.sum() / weight.sum()
        if self.dice_weight:
            loss = loss + self.dice_weight * dice_loss(logits, target, self.ignore_index)
        return loss


class PartialLabelLoss(nn.Module):
    """Cross-entropy against a coarse label that allows a set of classes: -log of the summed probability of the
    allowed classes (a CamVid "Car" pixel may be car, truck, bus or other-vehicle; the split is never penalised).

    `allowed` (K + 1, C) bool says which of the C classes each coarse label 0..K-1 covers; the last row (the coarse
    ignore value K) is all False and such elements take no part. `class_weights` (K + 1,) weighs coarse labels;
    the loss is their weighted mean, like F.cross_entropy's.
    """

    def __init__(self, allowed: torch.Tensor, class_weights: torch.Tensor | None = None):
        super().__init__()
        allowed = torch.as_tensor(allowed, dtype=torch.bool)
        if allowed.ndim != 2 or allowed[-1].any():
            raise ValueError('allowed must be (K + 1, C) with an all-False last row (the ignore label)')
        self.register_buffer('allowed', allowed, persistent=False)
        weights = torch.ones(allowed.shape[0]) if class_weights is None else torch.as_tensor(class_weights).float()
        self.register_buffer('class_weights', weights, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits, target = _flatten(logits, target)
        target = target.clamp(0, self.allowed.shape[0] - 1)
        valid = self.allowed[target].any(dim=1)
        if not valid.any():
            return logits.sum() * 0.0
        logits, target = logits[valid], target[valid]
        allowed_logits = logits.masked_fill(~self.allowed[target], float('-inf'))  # (M, C)
        loss = logits.logsumexp(dim=1) - allowed_logits.logsumexp(dim=1)  # -log sum_{c allowed} p_c
        weight = self.class_weights[target]
        return (loss * weight).sum() / weight.sum()
