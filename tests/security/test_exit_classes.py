"""Each refusal and failure gets the exit class it is (README's table), not the nearest one.

An overwrite refusal is 73, nnU-Net failing to produce its output is 70 (with a crash log, as any
70), and a refused write is 73 while a refused read stays 66. The raise sites are reached for real,
with nnU-Net's child process replaced by one that wrote nothing.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import click
import pytest

from segbook.cli.errors import os_error_as_segbook_error, run_guarded
from segbook.core import crashlog
from segbook.core.errors import ExitCode, InternalFailure, SegbookError
from segbook.core.protocol import TrainingOptions
from segbook.nnunet import planning, steps
from segbook.nnunet.train_config import TrainConfig
from segbook.pipeline import stages

pytestmark = [pytest.mark.unit, pytest.mark.security]


# -- an unfinished run with other settings: an overwrite refusal, 73 ----------------------------
def _request(epochs: int) -> SimpleNamespace:
    configuration = SimpleNamespace(name="nnunet", scale=None, init="default", initial_lr=0.01,
                                    trainer_name="nnUNetTrainer")
    options = TrainingOptions(epochs=epochs, iterations_per_epoch=2, seed=1, threads=1, data_workers=0)
    return SimpleNamespace(configuration=configuration, options=options, epochs=epochs, iterations_per_epoch=2,
                           seed=1, deterministic=True, effective_threads=lambda: 1, effective_data_workers=lambda: 0,
                           fold="all", out_root=Path("/nowhere"), verbose=False)


def test_an_unfinished_run_with_other_settings_is_an_overwrite_refusal(tmp_path):
    layout = SimpleNamespace(run_dir=tmp_path, train_config=tmp_path / "train_config.json")
    TrainConfig("nnunet", None, "default", None, _request(epochs=5).options, 1, 0.01, 1, 1, 0,
                False).save(layout.train_config)
    before = layout.train_config.read_bytes()
    with pytest.raises(SegbookError, match="unfinished run with other settings") as caught:
        stages.train(_request(epochs=9), None, layout, SimpleNamespace(plans_name="nnUNetPlans"), "cpu", None,
                     None, lambda message: None)
    assert caught.value.exit_code == ExitCode.OUTPUT_BLOCKED
    assert layout.train_config.read_bytes() == before  # refused before anything is replaced


# -- nnU-Net wrote nothing: an internal failure, 70 ---------------------------------------------
def test_no_prediction_from_nnunet_is_an_internal_failure(tmp_path):
    with pytest.raises(InternalFailure, match="no prediction for test case case_001") as caught:
        stages.prediction_hashes(tmp_path, ["case_001"])
    assert caught.value.exit_code == ExitCode.INTERNAL


def test_training_without_a_final_checkpoint_is_an_internal_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "nnunet_executable", lambda name: name)
    monkeypatch.setattr(steps, "run_logged", lambda *args, **kwargs: None)  # nnU-Net "ran", wrote nothing
    log = tmp_path / "log.txt"
    with pytest.raises(InternalFailure, match="without a final checkpoint") as caught:
        steps.train(tmp_path, tmp_path / "results", "Dataset999_SegBookDemo", "nnUNetTrainer", "nnUNetPlans",
                    "all", run_dir=tmp_path / "run", device="cpu", env={}, log=log, progress=lambda m: None)
    assert caught.value.exit_code == ExitCode.INTERNAL and str(log) in caught.value.hint


def test_planning_without_plans_is_an_internal_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(planning, "check_nnunet_version", lambda: "2.8.1")
    monkeypatch.setattr(planning, "_run_planner", lambda *args, **kwargs: {})  # ran, wrote no plans
    log = tmp_path / "log.txt"
    with pytest.raises(InternalFailure, match="wrote no plans for Dataset999_SegBookDemo") as caught:
        planning.plan_and_preprocess(tmp_path, "Dataset999_SegBookDemo", "0" * 64, planning.PlanChoice("nnunet"),
                                     task_id="Task999_SegBookDemo", processes=1, log=log,
                                     progress=lambda m: None)
    assert caught.value.exit_code == ExitCode.INTERNAL and str(log) in caught.value.hint


def _run_guarded(command: click.Command, argv: list[str]) -> int:
    previous = signal.getsignal(signal.SIGTERM)  # run_guarded turns SIGTERM into exit 75
    try:
        return run_guarded(command, argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_an_internal_failure_prints_two_lines_and_leaves_a_crash_log(tmp_path, capsys):
    @click.command()
    def step():
        crashlog.use_output_root(tmp_path / "out")
        raise InternalFailure("nnU-Net wrote no plans for Dataset999_SegBookDemo", hint="see /x/log.txt")

    assert _run_guarded(step, []) == 70
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "error: nnU-Net wrote no plans for Dataset999_SegBookDemo"
    assert len(lines) == 2 and lines[1].startswith("hint: see /x/log.txt; the traceback is in "), lines
    log = Path(lines[1].split("the traceback is in ", 1)[1])
    assert log.parent == tmp_path / "out" / "logs" and "InternalFailure" in log.read_text()


# -- permission denied: a write is 73, a read stays 66 -----------------------------------------
def _denied(path: Path, attempt) -> PermissionError:
    """The PermissionError of `attempt` on path; as root (whom modes do not stop) the one the kernel
    would raise for another user, same errno and file name."""
    try:
        attempt(path)
    except PermissionError as exc:
        return exc
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))


def _read_only_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "existing.txt").write_text("kept\n")
    folder.chmod(0o555)
    (folder / "existing.txt").chmod(0o444)
    return folder


@pytest.mark.parametrize("what", ["overwrite", "create"])
def test_a_refused_write_outside_the_output_root_is_73(tmp_path, what):
    folder = _read_only_folder(tmp_path)
    target = folder / ("existing.txt" if what == "overwrite" else "new.txt")
    crashlog.use_output_root(tmp_path / "out")  # declared, and elsewhere
    try:
        error = os_error_as_segbook_error(_denied(target, lambda p: p.write_text("x")))
    finally:
        crashlog.use_output_root(None)
        folder.chmod(0o755)
    assert error is not None and error.exit_code == ExitCode.OUTPUT_BLOCKED
    assert error.message == f"permission denied: writing {target} was refused"


def test_a_refused_rename_is_a_refused_write(tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("x")
    exc = PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(source), None, str(tmp_path / "b.txt"))
    error = os_error_as_segbook_error(exc)
    assert error is not None and error.exit_code == ExitCode.OUTPUT_BLOCKED


def _unreadable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        path = tmp_path / "secret.txt"
        path.write_text("x")
        path.chmod(0)
        return path
    path = Path("/proc/sys/vm/drop_caches")  # write-only even for root
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        return path
    except OSError:
        pass
    pytest.skip("running as root without a file root may not read")


def test_a_refused_read_is_still_66(tmp_path):
    path = _unreadable(tmp_path)
    error = os_error_as_segbook_error(_denied(path, lambda p: p.read_bytes()))
    assert error is not None and error.exit_code == ExitCode.INPUT_MISSING
    assert error.message == f"permission denied reading {path}"


def test_a_refused_write_through_the_cli_is_two_lines_and_73(tmp_path, capsys):
    folder = _read_only_folder(tmp_path)

    @click.command()
    def write():
        raise _denied(folder / "new.txt", lambda p: p.write_text("x"))

    try:
        code = _run_guarded(write, [])
    finally:
        folder.chmod(0o755)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 73 and len(lines) == 2, lines
    assert lines[0] == f"error: permission denied: writing {folder / 'new.txt'} was refused"
