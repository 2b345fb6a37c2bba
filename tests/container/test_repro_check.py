"""The reproduction check, for real: native vs Podman vs the SIF's own file system must agree on every hash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from segbook.core.hashing import sha256_file

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]


def test_native_podman_and_sif_runs_agree(image, sif, tmp_path):
    proc = subprocess.run([sys.executable, "scripts/repro_check.py", "--skip-build", "--keep", "--image", image,
                           "--sif", str(sif), "--work", str(tmp_path / "repro")], cwd=REPO, capture_output=True,
                          text=True,
                          timeout=3600, check=False)
    tail = proc.stdout[-4000:] + proc.stderr[-4000:]
    assert proc.returncode == 0, tail
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.startswith("hash "))
    assert lines[start].split() == ["hash", "native", "podman", "sif", "agree"]
    table = [line for line in lines[start + 1:] if line.endswith((" yes", " NO"))]
    rows = {" ".join(line.split()[:2]) if line.startswith("prediction") else line.split()[0]: line
            for line in table}
    for name in ("split", "plans", "final_weights", "pretrained_weights.file_sha256",
                 "pretrained_weights.tensor_sha256", "dataset"):
        assert rows[name].endswith("yes"), rows[name]
    assert any(name.startswith("prediction ") for name in rows)
    assert "hashes agree across native, podman, sif" in proc.stderr
    assert "SIF run (its squashfs, its /.singularity.d/actions/run)" in proc.stderr
    # what CI uploads: the summary (JSON + Markdown) and a report of the three receipts
    summary = json.loads((tmp_path / "repro" / "summary.json").read_text())
    assert summary["verdict"] == "all hashes agree" and summary["engine"] == summary["runner"] == "podman"
    sif_receipt = json.loads(Path(summary["receipts"]["sif"]).read_text())
    assert sif_receipt["runtime"] == {**sif_receipt["runtime"], "kind": "apptainer",
                                      "image_digest": summary["sif_digest"]}
    assert summary["sif_digest"] == "sha256:" + sha256_file(sif)
    assert [row["hash"] for row in summary["hashes"]] == [line.split("|")[1].strip() for line in
                                                         (tmp_path / "repro" / "summary.md").read_text().splitlines()
                                                         if line.startswith("| ") and "agree |" not in line]
    assert (tmp_path / "repro" / "report" / "report.html").is_file()
