"""Camera pipeline: image segmentation, panoptic inference and temporal feature propagation."""
