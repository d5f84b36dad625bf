"""Batch evaluation of many recordings (`perception-batch`): one replay per recording, spread over cores or machines
with Ray (optional: `make setup-ray`) or run one after another in this process, pooled into one report."""
