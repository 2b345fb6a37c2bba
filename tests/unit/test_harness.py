"""tests/conftest.py does what it says: a clean environment, markers from folders, a working CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import HARNESS_VARIABLES, foreign_markers, leaked_variables
from tests.helpers import REPO


def test_no_developer_variable_reaches_a_test():
    assert leaked_variables() == []


def test_a_developers_variables_are_removed_before_the_tests_run(tmp_path):
    env = {**os.environ, "SEGBOOK_OUT": str(tmp_path / "mine"), "SEGBOOK_MANIFESTS": "/nowhere",
           "nnUNet_raw": "/nowhere", "SEGBOOK_CHROMIUM": "/opt/chrome"}
    target = "tests/unit/test_harness.py::test_no_developer_variable_reaches_a_test"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_the_scrub_keeps_harness_variables_and_everything_else():
    environ = {"SEGBOOK_OUT": "x", "nnUNet_results": "y", "SEGBOOK_CHROMIUM": "z", "HOME": "/h", "SEGBOOKISH": "w"}
    assert leaked_variables(environ) == ["SEGBOOK_OUT", "nnUNet_results"]
    assert "SEGBOOK_CHROMIUM" in HARNESS_VARIABLES


def test_a_test_may_set_a_variable_for_itself(monkeypatch):
    monkeypatch.setenv("SEGBOOK_OUT", "/tmp/set-by-this-test")
    assert os.environ["SEGBOOK_OUT"] == "/tmp/set-by-this-test"


def test_markers_of_another_folder_are_refused():
    assert foreign_markers("unit", {"unit", "integration"}) == {"integration"}
    assert foreign_markers("container", {"unit", "parametrize"}) == {"unit"}
    assert foreign_markers("security", {"unit", "security"}) == set()
    assert foreign_markers("integration", {"integration", "filterwarnings"}) == set()


def test_cli_runner_gives_the_documented_exit_codes(cli_runner):
    helped = cli_runner("--help")
    assert helped.exit_code == 0 and "Commands:" in helped.output
    unknown = cli_runner("datasets", "show", "no-such-dataset-anywhere")
    assert unknown.exit_code == 2, unknown.output
    assert [line.split(":")[0] for line in unknown.stderr.strip().splitlines()] == ["error", "hint"]


def test_factories_build_private_copies(manifests_copy, nnunet_download):
    root = manifests_copy("Task999_SegBookDemo")
    assert (root / "datasets" / "Task999_SegBookDemo.yaml").is_file()
    first, second = nnunet_download(2), nnunet_download(3)
    assert first != second and (second / "dataset.json").is_file()
    assert len(list((second / "imagesTr").glob("*.nii.gz"))) == 3
