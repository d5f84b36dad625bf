"""Self-training on unlabelled real data, shared by the camera and LiDAR trainers (`--adapt DIR...`).

A mean teacher (Tarvainen & Valpola 2017: the teacher's weights are an exponential moving average of the
student's) labels real samples; only confident labels are kept, with class-balanced thresholds (Zou et al. 2018,
CBST: each class keeps its most confident share of the points or pixels predicted as it, so rare classes with
lower confidence are not starved); the student learns them on a differently augmented view (consistency between
views), while labelled simulated samples keep it anchored.
"""
import copy

import numpy as np
import torch
from torch import nn


def class_balanced_thresholds(confidence: np.ndarray, predicted: np.ndarray, num_classes: int,
                              keep_fraction: float, floor: float, ceiling: float = 0.99) -> np.ndarray:
    """(num_classes,) confidence thresholds: for each class, the confidence above which `keep_fraction` of the
    samples predicted as that class lie, clipped to [floor, ceiling]. Classes never predicted get the ceiling."""
    if not 0 < keep_fraction <= 1 or not 0 <= floor <= ceiling <= 1:
        raise ValueError('need 0 < keep_fraction <= 1 and 0 <= floor <= ceiling <= 1')
    thresholds = np.full(num_classes, ceiling, np.float64)
    for c in range(num_classes):
        scores = confidence[predicted == c]
        if len(scores):
            thresholds[c] = np.quantile(scores, 1.0 - keep_fraction)
    return np.clip(thresholds, floor, ceiling)


def pseudo_labels(probabilities: torch.Tensor, thresholds: torch.Tensor, ignore_id: int) -> torch.Tensor:
    """Argmax labels of (N, C, ...) probabilities where the confidence reaches its class's threshold, else
    `ignore_id`: (N, ...) int64."""
    confidence, labels = probabilities.max(dim=1)
    return torch.where(confidence >= thresholds[labels], labels, torch.full_like(labels, ignore_id))


class MeanTeacher:
    """An exponential moving average of a student network, used to label real samples."""

    def __init__(self, student: nn.Module, decay: float = 0.99):
        if not 0 <= decay < 1:
            raise ValueError('the EMA decay must lie in [0, 1)')
        self.decay = decay
        self.network = copy.deepcopy(student).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        """teacher = decay * teacher + (1 - decay) * student, BatchNorm statistics included (counters copied)."""
        for teacher_value, student_value in zip(self.network.state_dict().values(), student.state_dict().values()):
            if teacher_value.is_floating_point():
                teacher_value.mul_(self.decay).add_(student_value.detach(), alpha=1.0 - self.decay)
            else:
                teacher_value.copy_(student_value)
