"""Duplicates within one dataset: groups of identical cases (kept together by the split) and
near-duplicate pairs (reported, never blocking). docs/leakage.md explains both.

A case's identity is its images: cases whose every image channel has the same content hash are
one group, whatever their labels (a test image seen in training leaks, relabelled or not).
"""

from __future__ import annotations

from segbook.convert.fingerprint import NEAR_DUPLICATE_THRESHOLD, similar_pairs

LABEL_KEY = "label"
SHOWN = 6  # groups / pairs named in one message


def image_key(channels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What makes two cases the same: the content hash of every image channel (not the label)."""
    return tuple(sorted((ch, h) for ch, h in channels.items() if ch != LABEL_KEY))


def identical_groups(case_hashes: dict[str, dict[str, str]]) -> tuple[tuple[str, ...], ...]:
    """Groups (2+ cases, sorted) of cases with identical images; sorted by first member."""
    by_key: dict[tuple, list[str]] = {}
    for case, channels in case_hashes.items():
        by_key.setdefault(image_key(channels), []).append(case)
    return tuple(sorted(tuple(sorted(cases)) for cases in by_key.values() if len(cases) > 1))


def near_duplicates(fingerprints: dict, groups=(), threshold: float = NEAR_DUPLICATE_THRESHOLD):
    """(case, case, similarity) pairs whose fingerprints match, leaving out identical cases."""
    same = {frozenset((a, b)) for g in groups for a in g for b in g if a != b}
    return [p for p in similar_pairs(fingerprints, threshold=threshold) if frozenset(p[:2]) not in same]


def groups_message(groups) -> str | None:
    if not groups:
        return None
    n_cases = sum(len(g) for g in groups)
    shown = "; ".join(" = ".join(g) for g in groups[:SHOWN])
    more = f"; and {len(groups) - SHOWN} more" if len(groups) > SHOWN else ""
    noun = "group" if len(groups) == 1 else "groups"
    return (f"prepare: {len(groups)} {noun} of cases (identical images, or one patient's; {n_cases} cases) "
            "kept together: "
            f"{shown}{more}")


def near_message(pairs) -> str | None:
    if not pairs:
        return None
    shown = ", ".join(f"{a} ~ {b} ({s:.3f})" for a, b, s in pairs[:SHOWN])
    more = f", and {len(pairs) - SHOWN} more" if len(pairs) > SHOWN else ""
    noun = "pair" if len(pairs) == 1 else "pairs"
    return (f"prepare: warning: {len(pairs)} {noun} of near-duplicate cases (the same scan re-saved?), "
            f"not blocking: {shown}{more}; see docs/leakage.md")
