"""MODEL_CARD.md's licence warnings (segbook/predict/card.py): plain words for NC, SA and ND, none invented."""

from __future__ import annotations

import pytest

from segbook.predict.card import licence_warnings, model_card

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("licence, kinds", [("CC BY-NC-SA 4.0", ["non-commercial", "share-alike"]),
                                            ("CC BY-SA 4.0", ["share-alike"]), ("CC BY-NC-ND 4.0",
                                                                                ["non-commercial", "no-derivatives"]),
                                            ("CC BY 4.0", []), ("Apache-2.0", []), ("unknown", []), (None, [])])
def test_licence_warnings_name_each_restriction(licence, kinds):
    warnings = licence_warnings(licence)
    assert [w.split(":")[0] for w in warnings] == kinds


def test_an_unknown_licence_stays_unknown_on_the_card():
    receipt = {"dataset": {"task_id": "Task999_X", "licence": None, "access": None},
               "configuration": {"name": "nnunet", "fold": "all"}, "metrics": {"summary": {"mean_dice": 0.5,
                                                                                          "n_cases": 3}}}
    card = model_card([receipt])
    assert "- licence: unknown (the kit's sources do not state it" in card and "- access: unknown" in card
    assert "WARNING" not in card
    shared = model_card([{**receipt, "dataset": {**receipt["dataset"], "licence": "CC BY-NC-SA 4.0"}}])
    assert shared.count("**WARNING") == 2
