"""The kit's one container command line (segbook.core.container_run): its argv, its errors, and that run.sh,
the grid, repro-check and the CI template all take it from there rather than keeping a copy."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from segbook.core.container_run import (
    HARDENING,
    ContainerRun,
    Mount,
    container_argv,
    limit_flags,
)
from segbook.core.errors import InvalidInput
from tests.helpers import REPO, assert_two_line_error

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
FAKE_PODMAN = f"""#!/bin/sh
case "$1 $2" in
  "image inspect") echo {DIGEST} ;;
  "info --format") echo runc ;;
  *) echo "fake podman: $*" >&2; exit 9 ;;
esac
"""


def test_docker_and_podman_runs_are_hardened_and_keep_the_mount_contract():
    run = ContainerRun("podman", "img:1", (Mount("/o", "/output", writable=True), Mount("/w", "/weights")),
                       env=(("A", "1"),), pass_env=("SLURM_JOB_ID",), user="7:8", gpu=True,
                       limits=("--ulimit", "nofile=9:9"))
    argv = container_argv(run, ["doctor"])
    assert argv[:5] == ["podman", "run", "--rm", "--ulimit", "nofile=9:9"]
    assert argv[5:5 + len(HARDENING)] == list(HARDENING)
    assert argv[-2:] == ["img:1", "doctor"]
    for pair in (["--user", "7:8"], ["-v", "/o:/output:rw"], ["-v", "/w:/weights:ro"], ["-e", "A=1"],
                 ["-e", "SLURM_JOB_ID"], ["--device", "nvidia.com/gpu=all"], ["--workdir", "/output"]):
        assert any(argv[j:j + 2] == pair for j in range(len(argv) - 1)), pair
    assert ["--gpus", "all"] == container_argv(ContainerRun("docker", "i", gpu=True), [])[-3:-1]


def test_apptainer_runs_contained_with_binds_and_refuses_what_it_cannot_pass():
    argv = container_argv(ContainerRun("apptainer", "/s.sif", (Mount("/o", "/output", writable=True),
                                                               Mount("/i", "/input")), env=(("A", "1"),)), ["x"])
    assert argv == ["apptainer", "run", "--containall", "--cleanenv", "--no-home", "--pwd", "/output", "--bind",
                    "/o:/output", "--bind", "/i:/input:ro", "--env", "A=1", "/s.sif", "x"]
    with pytest.raises(InvalidInput, match="apptainer --env"):
        container_argv(ContainerRun("apptainer", "/a,b.sif", env=(("SEGBOOK_IMAGE", "/a,b.sif"),)), [])
    with pytest.raises(InvalidInput, match="cannot express"):
        container_argv(ContainerRun("podman", "i", (Mount("/data/a:b", "/input"),)), [])
    assert limit_flags("apptainer") == ()
    assert "--ulimit" in limit_flags("podman") and limit_flags("podman", oci_runtime="runc")[:2] == ("--runtime",
                                                                                                   "runc")


def test_the_command_line_form_prints_nul_separated_argv_and_fails_in_two_lines():
    command = [sys.executable, "-m", "segbook.core.container_run", "--engine", "podman", "--image", "i",
               "--mount", "/o:/output:rw", "--env", "K=a b", "--user", "1:2", "--", "finetune", "Demo"]
    proc = subprocess.run(command, capture_output=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split("\0")[:-1] == container_argv(
        ContainerRun("podman", "i", (Mount("/o", "/output", writable=True),), (("K", "a b"),), user="1:2"),
        ["finetune", "Demo"])
    bad = subprocess.run([*command[:7], "--mount", "/da:ta:/input:ro", "--", "doctor"], capture_output=True, text=True,
                         check=False, cwd=REPO)
    assert_two_line_error(bad, 65, "cannot express")
    wrong = subprocess.run([*command[:7], "--mount", "/data:/etc:ro"], capture_output=True, text=True, check=False,
                           cwd=REPO)
    assert_two_line_error(wrong, 2, "--mount wants")


def test_run_sh_runs_exactly_the_builders_argv(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "podman").write_text(FAKE_PODMAN)
    (bindir / "podman").chmod(0o755)
    out, weights = tmp_path / "out", tmp_path / "w"
    weights.mkdir()
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "SEGBOOK_PODMAN_RUNTIME": "runc"}
    proc = subprocess.run([str(REPO / "run.sh"), "--runtime", "podman", "--image", "img:2", "--output", str(out),
                           "--weights", str(weights), "--dry-run", "--", "doctor", "--json"],
                          capture_output=True, text=True, check=False, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    printed = shlex.split(next(line for line in proc.stderr.splitlines() if line.startswith("+ "))[2:])
    expected = container_argv(ContainerRun(
        "podman", "img:2", (Mount(str(out.resolve()), "/output", writable=True), Mount(str(weights.resolve()),
                                                                                       "/weights")),
        (("SEGBOOK_RUNTIME", "podman"), ("SEGBOOK_IMAGE", "img:2"), ("SEGBOOK_IMAGE_DIGEST", DIGEST)),
        user=f"{os.getuid()}:{os.getgid()}", limits=limit_flags("podman", oci_runtime="runc")), ["doctor", "--json"])
    assert printed == expected


HARDENING_FLAG = re.compile(r"--cap-drop|no-new-privileges")


def test_no_other_file_keeps_a_copy_of_the_container_command_line():
    """The hardening flags are written in one place; every other container run is built from it."""
    candidates = [REPO / "run.sh", *(REPO / "scripts").glob("*.py"), *(REPO / "segbook").rglob("*.py"),
                  *(REPO / "segbook" / "data" / "ci").glob("*.yml"), *(REPO / "mk").glob("*.mk"), REPO / "Makefile"]
    holders = sorted(str(p.relative_to(REPO)) for p in candidates if HARDENING_FLAG.search(p.read_text()))
    assert holders == ["segbook/core/container_run.py"], holders


def test_the_builder_needs_nothing_beyond_the_standard_library():
    """run.sh calls it from a checkout with a plain python3, no kit installed (only segbook.core.errors)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import segbook.core.container_run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] not in (*sys.stdlib_module_names, '__main__')))")
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(REPO)], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "['segbook', 'segbook.core', 'segbook.core.container_run', 'segbook.core.errors']"


def test_the_old_copies_are_gone_from_run_sh():
    text = (REPO / "run.sh").read_text()
    assert "segbook.core.container_run" in text and "--tmpfs" not in text and "--ulimit" not in text
    assert Path(REPO / "scripts" / "repro_engine.py").read_text().count("--tmpfs") == 0
