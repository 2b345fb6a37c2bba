"""Held-out test split and 5-fold cross-validation that no library version can change.

Cases are ordered by sha256(seed + ":" + case_id); the first ceil(0.2 n) form the test set;
the rest, in the same order, are dealt round-robin into 5 folds.

Grouped split: cases with identical content (`groups`, found by prepare) move as one unit. A
group stands in the order where its first member would stand; units are taken into the test set
in that order while they fit in ceil(0.2 n), and the rest are dealt, one unit at a time, to the
fold that holds fewest cases (lowest index on a tie). With no groups every unit is one case and
this is exactly the ungrouped rule above, so a dataset without duplicates keeps its split, bit for
bit (and `groups` is left out of the hashed dict).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from segbook.core.errors import InvalidInput
from segbook.core.hashing import sha256_json
from segbook.core.protocol import DEFAULT_SEED

TEST_FRACTION = 0.2
NUM_FOLDS = 5
MIN_TRAIN_CASES = NUM_FOLDS  # every fold needs at least one validation case


@dataclass(frozen=True)
class Split:
    seed: int
    test: tuple[str, ...]
    train: tuple[str, ...]
    folds: tuple[tuple[str, ...], ...]  # validation cases of each fold
    groups: tuple[tuple[str, ...], ...] = ()  # cases kept together (identical content), sorted

    def nnunet_splits(self) -> list[dict]:
        """nnU-Net's splits_final.json content (train/val per fold, over training cases)."""
        out = []
        for val in self.folds:
            val_set = set(val)
            out.append({"train": sorted(c for c in self.train if c not in val_set), "val": sorted(val)})
        return out

    def as_dict(self) -> dict:
        out = {
            "seed": self.seed,
            "test": list(self.test),
            "train": list(self.train),
            "folds": [list(f) for f in self.folds],
        }
        if self.groups:  # only then: splits without duplicates keep their hash
            out["groups"] = [list(g) for g in self.groups]
        return out

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
            groups=tuple(tuple(g) for g in data.get("groups") or ()),
        )


def duplicates_block(split: Split) -> dict:
    """The receipt's record of the groups of identical cases the split kept together."""
    return {"groups": [list(g) for g in split.groups]}


def _order_key(seed: int, case_id: str) -> str:
    return hashlib.sha256(f"{seed}:{case_id}".encode()).hexdigest()


def normalise_groups(groups, cases) -> tuple[tuple[str, ...], ...]:
    """Groups of two or more known cases, each sorted, sorted by first member; disjoint."""
    known, seen, out = set(cases), set[str](), []
    for group in groups or ():
        members = tuple(sorted(set(group)))
        unknown = [c for c in members if c not in known]
        if unknown:
            raise InvalidInput(f"duplicate group names unknown cases: {', '.join(unknown[:5])}")
        if seen & set(members):
            raise InvalidInput(f"case {sorted(seen & set(members))[0]} is in two duplicate groups")
        seen |= set(members)
        if len(members) > 1:
            out.append(members)
    return tuple(sorted(out))


def make_split(case_ids, seed: int = DEFAULT_SEED, test_fraction: float = TEST_FRACTION,
               groups=()) -> Split:
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
    groups = normalise_groups(groups, cases)
    if not groups:
        ordered = sorted(cases, key=lambda c: _order_key(seed, c))
        test = tuple(sorted(ordered[:n_test]))
        rest = ordered[n_test:]
        folds = tuple(tuple(sorted(rest[i::NUM_FOLDS])) for i in range(NUM_FOLDS))
        return Split(seed=seed, test=test, train=tuple(sorted(rest)), folds=folds)
    return _grouped_split(cases, seed, n_test, groups)


def _grouped_split(cases: list[str], seed: int, n_test: int, groups) -> Split:
    grouped = {c for g in groups for c in g}
    units = [list(g) for g in groups] + [[c] for c in cases if c not in grouped]
    units.sort(key=lambda unit: min(_order_key(seed, c) for c in unit))
    test: list[str] = []
    rest: list[list[str]] = []
    for unit in units:
        if len(test) + len(unit) <= n_test:
            test += unit
        else:
            rest.append(unit)
    if not test or len(rest) < NUM_FOLDS:
        raise InvalidInput(f"{len(cases)} cases in {len(units)} groups that must stay together (identical "
                           f"content, or one patient's) are too few for a held-out test split plus {NUM_FOLDS} folds",
                           hint="remove duplicate cases, or add more distinct ones (or patients)")
    folds: list[list[str]] = [[] for _ in range(NUM_FOLDS)]
    for unit in rest:
        min(folds, key=len).extend(unit)  # min() returns the first smallest: round-robin for single cases
    train = tuple(sorted(c for unit in rest for c in unit))
    return Split(seed=seed, test=tuple(sorted(test)), train=train,
                 folds=tuple(tuple(sorted(f)) for f in folds), groups=groups)
