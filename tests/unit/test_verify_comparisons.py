"""segbook verify's comparisons: findings, exact metric comparison, receipt vs receipt, tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segbook.core.errors import InvalidInput
from segbook.core.receipt import RECEIPT_NAME, REQUIRED_KEYS, SCHEMA
from segbook.verify import check_expected, compare_receipts
from segbook.verify.finding import Finding
from segbook.verify.rederive import ABSENT, MAX_LISTED, compare_metrics

H = {c: c * 64 for c in "abcdef"}


def test_a_finding_is_ok_when_recorded_equals_found():
    assert Finding("plans", H["a"], H["a"]).ok
    assert not Finding("plans", H["a"], H["b"]).ok


def test_a_finding_shortens_hashes_and_long_values():
    text = Finding("plans", H["a"], H["b"]).describe()
    assert text == f"plans: recorded {'a' * 16}..., found {'b' * 16}..."
    long = Finding("why", "x" * 500, "y").describe()
    assert len(long) < 200 and long.endswith("found y")


def test_equal_metrics_are_one_finding_that_counts_them():
    metrics = {"per_case": {"c1": {"1": {"dice": 0.9, "nsd": 0.8}}}, "summary": {"mean_dice": 0.9}}
    assert compare_metrics(metrics, json.loads(json.dumps(metrics))) == [Finding("metrics", "3 values", "3 values")]


def test_metrics_are_compared_exactly_value_by_value():
    recorded = {"summary": {"mean_dice": 0.9, "hd95": None}, "per_case": {"c1": {"dice": 0.9}}}
    found = {"summary": {"mean_dice": 0.9000000001, "hd95": None}, "per_case": {}}
    findings = compare_metrics(recorded, found)
    assert [f.what for f in findings] == ["metrics per_case", "metrics per_case.c1.dice", "metrics summary.mean_dice"]
    missing = next(f for f in findings if f.what == "metrics per_case.c1.dice")
    assert missing.found == ABSENT and not any(f.ok for f in findings)


def test_many_differing_metric_values_are_counted_past_the_limit():
    recorded = {f"c{i:03d}": 1.0 for i in range(MAX_LISTED + 5)}
    found = {k: 0.5 for k in recorded}
    findings = compare_metrics(recorded, found)
    assert len(findings) == MAX_LISTED + 1
    assert findings[-1] == Finding("metrics", "5 more values", "differ too")


def receipt(folder: Path, **hashes) -> Path:
    data = {key: {} for key in REQUIRED_KEYS}
    data["schema"] = SCHEMA
    data["dataset"] = {"dataset_sha256": H["d"]}
    data["hashes"] = {"split": H["a"], "plans": H["b"], "final_weights": H["c"],
                      "predictions": {"case_1": H["e"], "case_2": H["f"]}, **hashes}
    data["metrics"] = {"summary": {"mean_dice": 0.91, "per_class": {"1": {"dice": 0.95, "nsd": 0.9}}}}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECEIPT_NAME).write_text(json.dumps(data))
    return folder


def test_two_receipts_with_the_same_hashes_agree(tmp_path):
    findings = compare_receipts(receipt(tmp_path / "a"), receipt(tmp_path / "b") / RECEIPT_NAME)
    assert findings and all(f.ok for f in findings)
    assert {f.what for f in findings} == {"dataset", "split", "plans", "final_weights", "prediction case_1",
                                         "prediction case_2"}


def test_one_differing_hash_and_one_missing_prediction_are_named(tmp_path):
    other = receipt(tmp_path / "b", plans=H["f"], predictions={"case_1": H["e"]})
    bad = [f for f in compare_receipts(receipt(tmp_path / "a"), other) if not f.ok]
    assert [(f.what, f.found) for f in bad] == [("plans", H["f"]), ("prediction case_2", None)]


def test_a_hostile_case_id_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="not a plain name"):
        compare_receipts(receipt(tmp_path / "a", predictions={"../x": H["e"]}), receipt(tmp_path / "b"))


def expected(tmp_path: Path, data) -> Path:
    path = tmp_path / "expected.json"
    path.write_text(json.dumps(data))
    return path


def test_expected_metrics_within_the_tolerance_pass(tmp_path):
    run = receipt(tmp_path / "run")
    findings = check_expected(run, expected(tmp_path, {"mean_dice": 0.905, "per_class": {"1": {"dice": 0.951}}}), 0.01)
    assert [f.what for f in findings] == ["mean_dice", "class 1 dice"] and all(f.ok for f in findings)


def test_expected_metrics_outside_the_tolerance_or_missing_fail(tmp_path):
    run = receipt(tmp_path / "run")
    findings = check_expected(run, expected(tmp_path, {"mean_dice": 0.8, "per_class": {"1": {"hd95": 2.0},
                                                                                       "2": {"dice": 0.5}}}), 0.01)
    assert [(f.what, f.ok) for f in findings] == [("mean_dice", False), ("class 1 hd95", False),
                                                  ("class 2 dice", False)]
    assert findings[0].found == 0.91 and findings[1].found is None


def test_the_tolerance_is_absolute(tmp_path):
    run = receipt(tmp_path / "run")
    assert check_expected(run, expected(tmp_path, {"mean_dice": 0.91 - 0.0099}), 0.01)[0].ok
    assert not check_expected(run, expected(tmp_path, {"mean_dice": 0.91 - 0.0101}), 0.01)[0].ok
    assert not check_expected(run, expected(tmp_path, {"mean_dice": 0.91 + 0.0101}), 0.01)[0].ok


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"mean_dice": "high"}', '{"per_class": {"1": 0.9}}'])
def test_a_malformed_expected_file_is_invalid_input(tmp_path, content):
    path = tmp_path / "expected.json"
    path.write_text(content)
    with pytest.raises(InvalidInput):
        check_expected(receipt(tmp_path / "run"), path, 0.01)
