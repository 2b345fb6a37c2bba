"""The one skip rule: reuse, redo or refuse (segbook.core.stamps)."""

from __future__ import annotations

import pytest

from segbook.core.stamps import CHANGED, REDO, REFUSE, REUSE, decide, read_stamp, write_stamp

WANTED = {"dataset_sha256": "abc", "nnunetv2": "2.8.1"}


@pytest.mark.parametrize(("stamp", "present", "may_replace", "action"), [
    ({"made_from": WANTED}, True, False, REUSE),
    ({"made_from": WANTED}, False, False, REFUSE),  # a stamp without its output: not redone unasked
    ({"made_from": {**WANTED, "nnunetv2": "2.7"}}, True, True, REDO),
    ({"made_from": {**WANTED, "nnunetv2": "2.7"}}, True, False, REFUSE),
    (None, False, False, REDO),
    (None, True, False, REFUSE),  # something the kit did not stamp
    (None, True, True, REDO),
])
def test_decision(stamp, present, may_replace, action):
    assert decide(stamp, WANTED, output_present=present, may_replace=may_replace).action == action


def test_stamp_round_trip_and_damaged_stamps(tmp_path):
    path = write_stamp(tmp_path / "stamp.json", WANTED, report={"plans": "x"})
    assert read_stamp(path) == {"made_from": WANTED, "report": {"plans": "x"}}
    path.write_text("{not json")
    assert read_stamp(path) is None
    path.write_text("[1, 2]")
    assert read_stamp(path) is None
    assert read_stamp(tmp_path / "absent.json") is None


def test_the_content_check_is_asked_only_when_all_else_says_reuse():
    asked = []

    def intact(result):
        return lambda: asked.append(result) or result

    assert decide({"made_from": WANTED}, WANTED, output_present=True, may_replace=False,
                  intact=intact(True)).action == REUSE
    changed = decide({"made_from": WANTED}, WANTED, output_present=True, may_replace=False, intact=intact(False))
    assert (changed.action, changed.reason) == (REFUSE, CHANGED)
    assert decide({"made_from": WANTED}, WANTED, output_present=True, may_replace=True,
                  intact=intact(False)).action == REDO
    assert decide({"made_from": {}}, WANTED, output_present=True, may_replace=True,
                  intact=intact(True)).action == REDO
    assert asked == [True, False, False]  # not for the stamp made from other inputs
