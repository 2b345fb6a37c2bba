"""Prepare's two decisions (segbook.convert.prepare_decisions): reuse, convert, install or refuse."""

from __future__ import annotations

import json
import os

import pytest

from segbook.convert import prepare_decisions as pd
from segbook.convert.dataset_files import prepared_metadata
from segbook.convert.prepare import PrepareOptions, prepare_dataset
from segbook.convert.prepared_stamp import load_stamp, output_fingerprint, prepared_intact
from segbook.core.errors import OutputBlocked
from segbook.core.splits import Split
from segbook.core.stamps import REDO, REFUSE, REUSE
from tests.helpers.fakes import load_copy, nnunet_tree

STAMP = {"raw": "r1", "recipe": "c1", "dataset_sha256": "d1", "case_hashes": {}}


def _never():
    raise AssertionError("the content check must not run here")


def _before(final, stamp=STAMP, *, raw="r1", pinned="d1", pinning=False, intact=lambda: True):
    return pd.before_converting(stamp, raw_print=raw, recipe_sha="c1", pinned_sha256=pinned, pinning=pinning,
                                final=final, intact=intact).action


def test_before_converting_reuses_only_what_this_download_recipe_and_lock_made(tmp_path):
    final = tmp_path / "Dataset999_Demo"
    final.mkdir()
    assert _before(final) == REUSE
    assert _before(final, raw="r2", intact=_never) == REDO  # another download: converted, content decides
    assert _before(final, pinned="d2", intact=_never) == REDO  # the lock pins other content
    assert _before(final, intact=lambda: False) == REDO  # files changed since stamped
    assert _before(final, stamp=None, intact=_never) == REDO
    assert _before(tmp_path / "absent", intact=_never) == REDO


def test_before_converting_always_converts_when_pinning_or_nothing_is_pinned(tmp_path):
    final = tmp_path / "Dataset999_Demo"
    final.mkdir()
    assert _before(final, pinning=True, intact=_never) == REDO
    assert _before(final, pinned=None, intact=_never) == REDO


def _after(final, stamp=STAMP, *, content="d1", force=False, intact=lambda: True):
    return pd.after_converting(stamp, dataset_sha256=content, final=final, force=force, intact=intact)


def test_after_converting_keeps_the_same_content_installs_new_or_refuses(tmp_path):
    final = tmp_path / "Dataset999_Demo"
    assert _after(final, stamp=None, intact=_never).action == REDO  # nothing there yet
    final.mkdir()
    assert _after(final).action == REUSE  # e.g. a re-compressed download of the same data
    different = _after(final, content="d2", intact=_never)
    assert different.action == REFUSE
    assert "different prepared dataset" in pd.refusal(final, different).message
    changed = _after(final, intact=lambda: False)
    assert changed.action == REFUSE
    assert "changed since it was prepared" in pd.refusal(final, changed).message
    unstamped = _after(final, stamp=None, intact=_never)
    assert unstamped.action == REFUSE and "different prepared dataset" in pd.refusal(final, unstamped).message
    for decision in (_after(final, content="d2", force=True, intact=_never), _after(final, force=True,
                                                                                    intact=lambda: False)):
        assert decision.action == REDO  # --force replaces


def test_a_refusal_is_an_output_blocked_with_a_hint(tmp_path):
    error = pd.refusal(tmp_path, _after(tmp_path, content="d2", intact=_never))
    assert isinstance(error, OutputBlocked) and "--force" in error.hint


@pytest.mark.parametrize(("groups", "found", "kept"), [
    ((("a", "b"), ("c", "d")), ["a", "b", "c"], (("a", "b"),)),  # a group cut to one case is no group
    ((), ["a", "b"], ()),
])
def test_pinned_groups_keep_only_cases_found(groups, found, kept):
    class Lock:
        pass

    lock = Lock()
    lock.groups = groups
    assert pd.pinned_groups(lock, found) == kept
    assert pd.pinned_groups(None, found) == ()


# -- deciding on a real prepared folder writes nothing ------------------------------------------
def _snapshot(folder) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deciding_on_a_touched_prepared_folder_changes_no_file(tmp_path):
    """A copied or touched folder is checked by content; the check reads, it never rewrites the stamp
    (the doing side, prepare_dataset, refreshes the fingerprint afterwards)."""
    manifest = load_copy(tmp_path, "Task999_SegBookDemo")
    raw = nnunet_tree(tmp_path / "raw", 8)
    final = prepare_dataset(manifest, raw, tmp_path / "out", PrepareOptions(lock=True)).dataset_dir
    for path in final.rglob("*"):  # as `cp -r` leaves it: same content, every mtime new
        os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    stamp = load_stamp(final)
    assert stamp is not None and stamp["output"] != output_fingerprint(final)
    split = Split.from_dict(json.loads((final / "split.json").read_text()))
    before = _snapshot(final)

    def intact() -> bool:
        return prepared_intact(final, stamp, set(split.test), prepared_metadata(manifest, split))

    first = pd.before_converting(stamp, raw_print=stamp["raw"], recipe_sha=stamp["recipe"],
                                 pinned_sha256=stamp["dataset_sha256"], pinning=False, final=final, intact=intact)
    second = pd.after_converting(stamp, dataset_sha256=stamp["dataset_sha256"], final=final, force=False,
                                 intact=intact)
    assert first.action == REUSE and second.action == REUSE
    assert _snapshot(final) == before  # no file written, replaced or touched

    again = prepare_dataset(manifest, raw, tmp_path / "out", PrepareOptions())  # the doing side refreshes
    assert again.reused and load_stamp(final)["output"] == output_fingerprint(final)
