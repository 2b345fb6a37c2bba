"""Crash logs: under the output root, never through a planted symlink, path printed only if written.

The internal error is a real one raised inside a real click command run by the kit's error layer
(segbook.cli.errors.run_guarded) in a child process: no command of the kit is known to crash on
purpose, and none should.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.unit, pytest.mark.security]

CRASHING_COMMAND = """
import sys
import click
from segbook.cli.errors import run_guarded
from segbook.cli.options import out_option

@click.command()
@out_option
def boom(out_root):
    raise RuntimeError("a bug planted by the test")

@click.command()
def boom_without_output():  # a command that never learns of an output root (e.g. `segbook evaluate`)
    raise RuntimeError("a bug planted by the test")

command = boom if sys.argv[1:2] != ["--no-out"] else boom_without_output
sys.exit(run_guarded(command, [a for a in sys.argv[1:] if a != "--no-out"]))
"""


def _crash(tmp_path, *args: str):
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-c", CRASHING_COMMAND, *args], capture_output=True, text=True,
                            timeout=120, env=env, cwd=tmp_path)
    assert result.returncode == 70, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: internal error: RuntimeError"), result.stderr
    return lines[1]


def _logged_path(hint: str) -> Path:
    assert "the traceback is in " in hint, hint
    return Path(hint.split("the traceback is in ", 1)[1])


def _victim(tmp_path) -> Path:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    return victim


def test_the_old_fixed_name_is_not_followed(tmp_path):
    """A symlink at the predictable $TMPDIR/segbook-crash.log: its target stays untouched."""
    victim = _victim(tmp_path)
    (tmp_path / "tmp").mkdir()
    os.symlink(victim, tmp_path / "tmp" / "segbook-crash.log")
    log = _logged_path(_crash(tmp_path, "--out", str(tmp_path / "out")))
    assert victim.read_text() == "precious\n"
    assert log.parent == tmp_path / "out" / "logs"
    info = os.lstat(log)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert "a bug planted by the test" in log.read_text() and "Traceback" in log.read_text()


def test_every_crash_gets_its_own_file(tmp_path):
    first = _logged_path(_crash(tmp_path, "--out", str(tmp_path / "out")))
    second = _logged_path(_crash(tmp_path, "--out", str(tmp_path / "out")))
    assert first != second and first.is_file() and second.is_file()


def test_a_symlinked_log_folder_is_not_followed(tmp_path):
    """OUT/logs planted as a link to someone else's folder: nothing is created there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    os.symlink(elsewhere, tmp_path / "out" / "logs")
    log = _logged_path(_crash(tmp_path, "--out", str(tmp_path / "out")))
    assert list(elsewhere.iterdir()) == []
    assert log.parent == tmp_path / "tmp" / f"segbook-{os.getuid()}"  # the private fallback
    assert stat.S_IMODE(os.lstat(log.parent).st_mode) == 0o700


def test_no_path_is_printed_when_no_safe_place_took_the_log(tmp_path):
    """No output root known, and the private folder is not private: the hint says so, names nothing."""
    (tmp_path / "tmp").mkdir()
    shared = tmp_path / "tmp" / f"segbook-{os.getuid()}"
    shared.mkdir()
    shared.chmod(0o777)
    hint = _crash(tmp_path, "--no-out")
    assert "could not be saved" in hint and str(tmp_path) not in hint
    assert list(shared.iterdir()) == []
