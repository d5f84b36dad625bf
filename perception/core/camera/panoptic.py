"""Panoptic and semantic inference from Mask2Former's per-query class logits (Q, K+1) and mask logits (Q, h, w).

Panoptic encoding: an int32 map whose value is the pixel's segment id,
    panoptic = class_id * INSTANCE_DIVISOR + instance_id,   INSTANCE_DIVISOR = 1000
- stuff: instance_id 0; all kept queries of one stuff class merge into one segment;
- things: instance_id 1..n, numbered over all thing segments of the image, so instance ids alone are unique too;
- void (no segment owns the pixel): ignore_id * INSTANCE_DIVISOR, i.e. class ignore_id, instance 0.
Segments: [{'id': int (the map value), 'class': int, 'score': float, 'area': int (pixels), 'is_thing': bool}].
Maps are returned as torch tensors on the logits' device; the decode helpers work on torch tensors and numpy arrays.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from perception.taxonomy import Taxonomy

INSTANCE_DIVISOR = 1000
MASK_THRESHOLD = 0.5


@dataclass(frozen=True, kw_only=True)
class PanopticInferenceConfig:
    object_mask_threshold: float = 0.8  # keep a query only if its best class (not "no object") has a higher prob.
    overlap_threshold: float = 0.8  # keep a segment only if it keeps this share of its own mask (prob >= 0.5)


def encode_panoptic(semantic, instance):
    """Panoptic ids from class ids and instance ids (0 for stuff and void)."""
    return semantic * INSTANCE_DIVISOR + instance


def panoptic_to_semantic(panoptic):
    """Class id per pixel; void pixels get the ignore id."""
    return panoptic // INSTANCE_DIVISOR


def panoptic_to_instance(panoptic):
    """Instance id per pixel: 1..n on things, 0 on stuff and void."""
    return panoptic % INSTANCE_DIVISOR


def carry_panoptic(panoptic: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """An earlier frame's (H, W) panoptic map carried to the current frame along the (H, W, 2) flow from the
    current frame to it (current(p) ~ earlier(p + flow(p)), as core.camera.propagation estimates it): each pixel
    takes the segment id at the nearest pixel of p + flow(p), clamped to the border. Ids are kept, so a segment
    keeps its class and instance while it moves."""
    h, w = panoptic.shape
    ys, xs = np.mgrid[:h, :w]
    x = np.clip(np.rint(xs + flow[..., 0]), 0, w - 1).astype(np.intp)
    y = np.clip(np.rint(ys + flow[..., 1]), 0, h - 1).astype(np.intp)
    return panoptic[y, x]


def refresh_carried(panoptic: np.ndarray, segments: list[dict], labels: np.ndarray, confidence: np.ndarray,
                    taxonomy: Taxonomy) -> tuple[np.ndarray, list[dict]]:
    """A carried panoptic map (an earlier frame's, moved along the flow) brought up to date with the current frame's
    own semantic labels and confidence (H, W): a pixel labelled stuff takes that stuff class's segment; a carried
    thing segment keeps only the pixels whose label is its class; any other pixel is void (a thing the head has not
    yet seen there). Segments are those left on the map with their areas; a stuff class the head did not output
    gets a segment scored by the mean confidence of its pixels."""
    labels = labels.astype(np.int32)
    stuff = ~taxonomy.is_thing[labels] & (labels != taxonomy.ignore_id)
    agreeing_thing = ~stuff & (panoptic_to_semantic(panoptic) == labels)
    void = encode_panoptic(taxonomy.ignore_id, 0)
    refreshed = np.where(stuff, encode_panoptic(labels, 0), np.where(agreeing_thing, panoptic, void))
    known = {segment['id']: segment for segment in segments}
    kept = []
    stuff_labels = labels[stuff]  # areas and confidence by class, then by carried thing id: no sort of the map
    stuff_areas = np.bincount(stuff_labels, minlength=len(taxonomy.is_thing))
    stuff_confidence = np.bincount(stuff_labels, weights=confidence[stuff], minlength=len(taxonomy.is_thing))
    for class_id in np.flatnonzero(stuff_areas).tolist():
        segment_id, area = int(encode_panoptic(class_id, 0)), int(stuff_areas[class_id])
        segment = known.get(segment_id) or {'id': segment_id, 'class': class_id,
                                            'score': float(stuff_confidence[class_id] / area), 'is_thing': False}
        kept.append({**segment, 'area': area})
    thing_ids, thing_areas = np.unique(panoptic[agreeing_thing], return_counts=True)
    kept += [{**known[segment_id], 'area': area} for segment_id, area in zip(thing_ids.tolist(), thing_areas.tolist())]
    return refreshed.astype(np.int32), kept


def upsampled_mask_probs(mask_logits: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """(Q, h, w) mask logits resized bilinearly to (H, W, Q), queries last, then sigmoid. Channels-last: the
    interpolation and the per-pixel reductions over queries run several times faster on a CPU (same values)."""
    logits = mask_logits[None].float().contiguous(memory_format=torch.channels_last)
    resized = F.interpolate(logits, size=output_size, mode='bilinear', align_corners=False)  # (1, Q, H, W)
    return resized[0].permute(1, 2, 0).sigmoid()  # channels-last storage: (H, W, Q) is contiguous


def panoptic_inference(class_logits: torch.Tensor, mask_logits: torch.Tensor, taxonomy: Taxonomy,
                       output_size: tuple[int, int], config: PanopticInferenceConfig = PanopticInferenceConfig()
                       ) -> tuple[torch.Tensor, list[dict]]:
    """The (H, W) int32 panoptic map at `output_size` and its segment list (see the module docstring).

    Queries predicting "no object" or whose class probability is at most `object_mask_threshold` are dropped; each
    pixel goes to the kept query maximising score * mask probability, and stays void unless that mask probability is
    at least 0.5; a query whose won area is below `overlap_threshold` of its own mask area is dropped (its pixels void).
    """
    void = encode_panoptic(taxonomy.ignore_id, 0)
    panoptic = torch.full(output_size, void, dtype=torch.int32, device=mask_logits.device)
    scores, labels = class_logits.float().softmax(-1).max(-1)
    keep = (labels < class_logits.shape[-1] - 1) & (scores > config.object_mask_threshold)
    if not keep.any():
        return panoptic, []
    scores, labels = scores[keep], labels[keep]
    masks = upsampled_mask_probs(mask_logits[keep], output_size)  # (H, W, N)
    owner = (masks * scores).argmax(-1)  # (H, W) index of the winning kept query
    owner_inside = masks.gather(-1, owner[..., None])[..., 0] >= MASK_THRESHOLD  # (H, W) inside its winner's mask
    owner_flat = owner.flatten()
    areas = torch.stack([  # (N, 3) per kept query: pixels won, pixels of its own mask, pixels won inside its mask
        torch.bincount(owner_flat, minlength=len(scores)),
        (masks >= MASK_THRESHOLD).flatten(0, 1).sum(0, dtype=torch.int32).long(),  # int32: ~4x faster on a CPU
        torch.bincount(owner_flat, weights=owner_inside.flatten().float(), minlength=len(scores)).long()], 1)
    segment_of_query = [void] * len(scores)
    segments = {}
    instance_count = 0
    for query, ((owned_area, mask_area, final_area), score, label) in enumerate(
            zip(areas.tolist(), scores.tolist(), labels.tolist())):
        if final_area == 0 or owned_area < config.overlap_threshold * mask_area:
            continue
        is_thing = bool(taxonomy.is_thing[label])
        instance_count += is_thing
        segment_id = encode_panoptic(label, instance_count if is_thing else 0)
        segment_of_query[query] = segment_id
        segment = segments.setdefault(segment_id, {'id': segment_id, 'class': label, 'score': score, 'area': 0,
                                                   'is_thing': is_thing})
        segment['score'] = max(segment['score'], score)  # merged stuff keeps its best query's score
        segment['area'] += final_area
    segment_map = torch.tensor(segment_of_query, dtype=torch.int32, device=owner.device)[owner]
    return torch.where(owner_inside, segment_map, panoptic), list(segments.values())
