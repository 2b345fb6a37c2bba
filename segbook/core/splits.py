"""Held-out test split and 5-fold cross-validation that no library version can change.

Cases are ordered by sha256(seed + ":" + case_id); the first ceil(0.2 n) form the test set;
the rest, in the same order, are dealt round-robin into 5 folds.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from segbook.core.errors import InvalidInput
from segbook.core.hashing import sha256_json

DEFAULT_SEED = 12345
TEST_FRACTION = 0.2
NUM_FOLDS = 5
MIN_TRAIN_CASES = NUM_FOLDS  # every fold needs at least one validation case


@dataclass(frozen=True)
class Split:
    seed: int
    test: tuple[str, ...]
    train: tuple[str, ...]
    folds: tuple[tuple[str, ...], ...]  # validation cases of each fold

    def nnunet_splits(self) -> list[dict]:
        """nnU-Net's splits_final.json content (train/val per fold, over training cases)."""
        out = []
        for val in self.folds:
            val_set = set(val)
            out.append({"train": sorted(c for c in self.train if c not in val_set), "val": sorted(val)})
        return out

    def as_dict(self) -> dict:
        return {
            "seed": self.seed,
            "test": list(self.test),
            "train": list(self.train),
            "folds": [list(f) for f in self.folds],
        }

    @property
    def sha256(self) -> str:
        return sha256_json(self.as_dict())

    @classmethod
    def from_dict(cls, data: dict) -> Split:
        return cls(
            seed=int(data["seed"]),
            test=tuple(data["test"]),
            train=tuple(data["train"]),
            folds=tuple(tuple(f) for f in data["folds"]),
        )


def _order_key(seed: int, case_id: str) -> str:
    return hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()


def make_split(case_ids, seed: int = DEFAULT_SEED, test_fraction: float = TEST_FRACTION) -> Split:
    cases = list(case_ids)
    if len(set(cases)) != len(cases):
        dupes = sorted({c for c in cases if cases.count(c) > 1})
        raise InvalidInput(f"duplicate case ids: {', '.join(dupes[:5])}")
    n_test = math.ceil(test_fraction * len(cases))
    if len(cases) - n_test < MIN_TRAIN_CASES or n_test < 1:
        need = MIN_TRAIN_CASES + math.ceil(test_fraction * (MIN_TRAIN_CASES + 2))
        raise InvalidInput(
            f"{len(cases)} cases are too few for a held-out test split plus {NUM_FOLDS} folds",
            hint=f"a dataset needs at least {need} labelled cases",
        )
    ordered = sorted(cases, key=lambda c: _order_key(seed, c))
    test = tuple(sorted(ordered[:n_test]))
    rest = ordered[n_test:]
    folds = tuple(tuple(sorted(rest[i::NUM_FOLDS])) for i in range(NUM_FOLDS))
    return Split(seed=seed, test=test, train=tuple(sorted(rest)), folds=folds)
