"""JSON the kit did not write (receipts, dataset.json, grid state) is bounded and checked: 65, never 70."""

from __future__ import annotations

import json

import pytest

from segbook.core.errors import InvalidInput
from segbook.core.untrusted import parse_json, read_json, text_depth
from tests.grid_support import plan_grid, run_dir, write_receipt
from tests.helpers import run_segbook

pytestmark = [pytest.mark.unit, pytest.mark.security]

BOMB = "[" * 200_000 + "]" * 200_000  # RecursionError in json.loads


def depth_of(value) -> int:
    """The reference: nesting depth of a parsed JSON value, walked without recursion."""
    deepest, stack = 0, [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
                     if isinstance(child, dict | list))
    return deepest


def test_deep_nesting_is_invalid_input_not_recursion():
    with pytest.raises(InvalidInput, match="nested too deeply"):
        parse_json(BOMB, "x.json")
    with pytest.raises(InvalidInput, match="deeper than 64"):
        parse_json("[" * 100 + "]" * 100, "x.json")
    assert depth_of({"a": [1, {"b": []}]}) == 4


@pytest.mark.parametrize("text", [
    '{"a": [1, {"b": []}]}', '"x[{"', "[]", "1", "{}", "[[],[[]]]", '{"k\\"[": "v]\\\\", "z": [[["é[", {"ü": "]"}]]]}',
    '["\\\\", "[[["]', '{"a\\\\": "]]"}', '{"a": "\\u005b\\u005b", "b": [{"c": "}}}"}]}',
    json.dumps({"cases": {f"case_{i}": {"c0": {"dice": 0.5, "name": "a[b]{"}} for i in range(50)}}),
    "[" * 64 + "]" * 64, "[" * 65 + '"]]]"' + "]" * 65,
])
def test_the_text_depth_equals_the_depth_of_the_parsed_value(text):
    """The report's fast check counts brackets outside strings; it must agree with walking the value."""
    assert text_depth(text) == depth_of(json.loads(text))


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"pad": "x" * 2048}))
    with pytest.raises(InvalidInput, match="more than the 1,024"):
        read_json(path, max_bytes=1024)


def _two_lines(result, code: int) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    return lines[0]


def test_verify_and_report_refuse_a_nested_receipt_with_65(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "receipt.json").write_text(BOMB)
    assert "nested too deeply" in _two_lines(run_segbook("verify", str(folder / "receipt.json")), 65)
    report = run_segbook("report", str(folder / "receipt.json"), "--out", str(tmp_path / "report"))
    assert report.returncode == 65, report.stderr


def test_datasets_init_refuses_a_nested_dataset_json_with_65(tmp_path):
    raw = tmp_path / "raw"
    (raw / "imagesTr").mkdir(parents=True)
    (raw / "labelsTr").mkdir()
    (raw / "dataset.json").write_text(BOMB)
    result = run_segbook("datasets", "init", "Mine", "--raw", str(raw), "--target", "lesion", "--id", "501",
                         "--out", str(tmp_path / "mine.yaml"))
    assert result.returncode == 65, result.stderr
    assert "nested too deeply" in result.stderr


def test_a_damaged_submission_record_is_65_naming_it(tmp_path):
    task = "Task009_Spleen"
    _, _, env = plan_grid(tmp_path, task, "nnunet")
    write_receipt(tmp_path / "out", f"{task}/nnunet/all", 0.9)
    assert run_dir(tmp_path / "out", f"{task}/nnunet/all").is_dir()
    record = tmp_path / "grid" / "slurm" / "001" / "submission.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"arrays": "small"}))
    error = _two_lines(run_segbook("grid", "status", str(tmp_path / "grid"), env=env), 65)
    assert "submission record" in error and "damaged" in error
