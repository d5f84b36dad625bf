"""Offline replay of drive recordings through the pipeline, with evaluation and reports."""
