"""Seed splits of simulated drives (`seeds` in config/simulator.yaml), read by the simulator and the trainers.

Disjoint inclusive seed ranges: training uses `train` only, model selection `val` only, every reported metric
`eval`; `demo` is the default drive's seed. Simulated sequences are named `sim<seed>`.
"""
from dataclasses import dataclass
from pathlib import Path

import yaml

from perception.paths import config_path

SPLIT_NAMES = ('train', 'val', 'eval')


@dataclass(frozen=True)
class SeedSplits:
    train: tuple[int, int]
    val: tuple[int, int]
    eval: tuple[int, int]
    demo: int

    @classmethod
    def from_config(cls, seeds: dict) -> 'SeedSplits':
        """From the `seeds` mapping of a simulator config."""
        return cls(**{name: tuple(int(s) for s in seeds[name]) for name in SPLIT_NAMES}, demo=int(seeds['demo']))

    def range_of(self, split: str) -> tuple[int, int]:
        """(first, last) seed of a split, inclusive. KeyError for another name."""
        if split not in SPLIT_NAMES:
            raise KeyError(split)
        return getattr(self, split)

    def split_of(self, seed: int) -> str | None:
        """The split whose range holds `seed`, or None."""
        return next((name for name in SPLIT_NAMES if self.range_of(name)[0] <= seed <= self.range_of(name)[1]),
                    None)

    def check_simulated(self, names: list[str], split: str) -> None:
        """ValueError (one line) for simulated sequences (named simSEED) whose seed is not in `split`'s range:
        models never see held-out seeds. Other names (real datasets) pass."""
        first, last = self.range_of(split)
        wrong = sorted({n for n in names if n.startswith('sim') and n[3:].isdigit()
                        and not first <= int(n[3:]) <= last})
        if wrong:
            raise ValueError(f'{", ".join(wrong[:5])}: not {split} seeds ({first}-{last})')


def load_splits(path: Path | None = None) -> SeedSplits:
    """The seed splits of a simulator config (default: config/simulator.yaml)."""
    with open(path or config_path('simulator.yaml')) as f:
        return SeedSplits.from_config(yaml.safe_load(f)['seeds'])
