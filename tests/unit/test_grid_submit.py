"""`segbook grid submit`: site profile, job-array scripts, quoting, container command lines, bad input."""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from segbook.core.container_run import HARDENING
from segbook.core.errors import InvalidInput
from segbook.core.protocol import TrainingOptions, option_argv
from segbook.grid.backend import get_backend
from segbook.grid.cells import Cell
from segbook.grid.commands import Runtime, cell_argv
from segbook.grid.gridfile import GridEntry, GridSettings, read_grid
from segbook.grid.images import LABEL_LOCK, LABEL_VERSION, compare, expected_labels, parse_inspect_json
from segbook.grid.profile import ClassResources, SiteProfile, load_profile
from segbook.grid.slurm_script import render_script
from segbook.grid.submit import plan_arrays, write_submission
from tests.grid_support import REPO, manifests_with_locks
from tests.helpers import assert_two_line_error, run_segbook

pytestmark = pytest.mark.unit

EXAMPLE_PROFILE = REPO / "docs" / "examples" / "site-profile.yaml"
WEIRD = "a dir $(touch PWNED) `touch PWNED2` 'q\" ;x"  # spaces, command substitutions, quotes


def _settings(out: str) -> GridSettings:
    return GridSettings(out_root=out, trust_unpinned=False, options=TrainingOptions())


def test_the_documented_example_profile_is_valid():
    profile = load_profile(EXAMPLE_PROFILE)
    assert profile.requeue_limit == 20 and profile.signal_grace == 600 and profile.modules == ("apptainer",)
    huge, small = profile.resources("huge"), profile.resources("small")
    assert (huge.gpu_type, huge.mem, huge.max_concurrent, huge.partition) == ("a100_80g", "128G", 8, "gpu")
    assert (small.mem, small.cpus, small.max_concurrent) == ("48G", 12, 20)


@pytest.mark.parametrize(("change", "named"), [
    ({"gpu_typ": "a100"}, "gpu_typ: unknown key"),
    ({"classes": {"huge": {"gpu_typ": "a100"}}}, "classes.huge.gpu_typ: unknown key"),
    ({"classes": {"giant": {}}}, "classes.giant: unknown class"),
    ({"time": "25 hours"}, "time: '25 hours' is not a Slurm time"),
    ({"mem": "lots"}, "mem: 'lots' is not a Slurm memory size"),
    ({"gpus": 0}, "gpus: 0 is not a whole number"),
    ({"gpu_request": "cuda"}, "gpu_request: 'cuda' is not one of"),
    ({"partition": "gpu\n#SBATCH --x"}, "partition:"),
    ({"extra_sbatch": ["--array=0-9"]}, "extra_sbatch:"),
    ({"extra_sbatch": ["--comment=$(id)"]}, "extra_sbatch:"),
    ({"signal_grace": 5}, "signal_grace: 5"),
])
def test_profile_errors_name_the_key(tmp_path, change, named):
    data = yaml.safe_load(EXAMPLE_PROFILE.read_text())
    data.update(change)
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InvalidInput) as caught:
        load_profile(path)
    assert named in caught.value.message


def test_script_has_signal_requeue_and_the_profile_lines_and_passes_shellcheck(tmp_path):
    profile = load_profile(EXAMPLE_PROFILE)
    script = render_script("huge", profile, job_name="segbook-g-huge", tasks_dir=tmp_path / "huge",
                           log_dir=tmp_path / "logs", n_tasks=3, runtime_kind="apptainer", image_mismatch=True)
    lines = script.splitlines()
    for option in ("--array=0-2%8", "--signal=B:USR1@600", "--requeue", "--open-mode=append", "--time=48:00:00",
                   "--mem=128G", "--cpus-per-task=12", "--gres=gpu:a100_80g:1", "--partition=gpu",
                   "--account=my_project", "--qos=normal", "--constraint=gpu80g", "--mail-type=FAIL"):
        assert f"#SBATCH {option}" in lines, option
    assert "module load apptainer" in lines and "export SEGBOOK_LOCK_MODE=flock" in lines
    assert "export SEGBOOK_IMAGE_MISMATCH=1  # --allow-image-mismatch: the receipts record it" in lines
    passed = 'export APPTAINERENV_SLURM_RESTART_COUNT="$SLURM_RESTART_COUNT"'
    assert f"if [[ -n ${{SLURM_RESTART_COUNT:-}} ]]; then {passed}; fi" in lines
    assert "requeue_limit=20" in lines and 'scontrol requeue "$SLURM_JOB_ID" || echo' in script
    other = SiteProfile(classes={"small": ClassResources(gpu_request="gpus", gpu_type="h100", gpus=2)})
    gpus = render_script("small", other, job_name="j", tasks_dir=tmp_path, log_dir=tmp_path, n_tasks=1,
                         runtime_kind="native", image_mismatch=False)
    assert "#SBATCH --gpus=h100:2" in gpus.splitlines() and "APPTAINERENV" not in gpus
    shellcheck = shutil.which("shellcheck") or str(REPO / ".venv" / "bin" / "shellcheck")
    path = tmp_path / "huge.sbatch"
    path.write_text(script)
    proc = subprocess.run([shellcheck, "--severity=warning", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_user_strings_stay_inert_in_scripts_and_task_files(tmp_path):
    """A grid folder and a raw folder with spaces, quotes, $(...) and backticks: the script quotes the
    folder, the argv files hold every argument verbatim, and bash reads them back without running anything."""
    base = tmp_path / WEIRD.replace('"', "")  # sbatch's --output cannot take a double quote: refused separately
    raw = base / "raw data"
    raw.mkdir(parents=True)
    grid_dir = base / "grid"
    grid_dir.mkdir()
    from segbook.grid.gridfile import write_grid  # noqa: PLC0415

    entry = GridEntry(Cell("Task009_Spleen", "stunet-b_scratch", "all"), str(raw), None)
    grid = write_grid(grid_dir, _settings(str(base / "out")), [entry])
    folder = grid_dir / "slurm" / "001"
    arrays = plan_arrays(grid, [entry], Runtime("native", python="/opt/venv/bin/python"), load_profile(None), folder)
    write_submission(folder, arrays, Runtime("native"), load_profile(None), get_backend("slurm"))
    script = (folder / "small.sbatch").read_text()
    assert f"tasks_dir={shlex.quote(str(folder / 'small'))}" in script.splitlines()
    argv_file = folder / "small" / "task-0.argv"
    expected = ["/opt/venv/bin/python", "-m", "segbook", "finetune", "Task009_Spleen", "--model", "stunet-b", "--init",
                "scratch", "--fold", "all", "--out", str(base / "out"), "--raw", str(raw),
                *option_argv(TrainingOptions())]  # the options' own round trip: test_training_options.py
    assert argv_file.read_bytes().split(b"\0")[:-1] == [a.encode() for a in expected]
    # the script's own reading code, run by bash: every argument back verbatim, nothing executed
    reader = "\n".join(line for line in script.splitlines() if line.startswith(("tasks_dir=", "mapfile")))
    proc = subprocess.run(["bash", "-c", reader.replace('"$task_file"', '"$tasks_dir/task-0.argv"')
                           + "\nprintf '%s\\n' \"${cmd[@]}\""], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == expected
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    with pytest.raises(InvalidInput, match="sbatch cannot take"):
        plan_arrays(grid.__class__(tmp_path / 'q"uote', grid.settings, grid.entries, grid.sha256), [entry],
                    Runtime("native"), load_profile(None), tmp_path / "x")


def test_apptainer_and_podman_command_lines_follow_the_mount_contract():
    entry = GridEntry(Cell("Task009_Spleen", "stunet-b_ft", "all"), "/data/Task09_Spleen", "/models/base_ep4k.model")
    settings = _settings("/scratch/out")
    inner = ["finetune", "Task009_Spleen", "--model", "stunet-b", "--init", "pretrained", "--fold", "all", "--out",
             "/output", "--raw", "/input", "--weights", "/weights/base_ep4k.model", *option_argv(TrainingOptions())]
    apptainer = cell_argv(entry, settings, Runtime("apptainer", image="/shared/segbook.sif",
                                                   image_digest="sha256:abc", binary="apptainer"))
    assert apptainer == ["apptainer", "run", "--containall", "--cleanenv", "--no-home", "--pwd", "/output", "--nv",
                         "--bind", "/scratch/out:/output", "--bind", "/data/Task09_Spleen:/input:ro",
                         "--bind", "/models:/weights:ro", "--env", "SEGBOOK_RUNTIME=apptainer",
                         "--env", "SEGBOOK_IMAGE=/shared/segbook.sif", "--env", "SEGBOOK_IMAGE_DIGEST=sha256:abc",
                         "/shared/segbook.sif", *inner]
    mismatch = cell_argv(entry, settings, Runtime("apptainer", image="/s.sif", image_mismatch=True))
    assert "SEGBOOK_IMAGE_MISMATCH=1" in mismatch
    limits = ("--runtime", "runc", "--ulimit", "nproc=4096:4096")
    podman = cell_argv(entry, settings, Runtime("podman", image="localhost/segbook:0.1.0", binary="podman",
                                                limits=limits))
    assert podman[:7] == ["podman", "run", "--rm", *limits]  # the submitting host's limits, as run.sh passes them
    assert podman[-len(inner) - 1:] == ["localhost/segbook:0.1.0", *inner]
    assert all(flag in podman for flag in HARDENING)
    for flag in ("/scratch/out:/output:rw", "/data/Task09_Spleen:/input:ro", "/models:/weights:ro",
                 "SEGBOOK_RUNTIME=podman", "SLURM_RESTART_COUNT", "nvidia.com/gpu=all"):
        assert flag in podman, flag
    with pytest.raises(InvalidInput, match="cannot express"):
        cell_argv(GridEntry(entry.cell, "/data/a:b", None), settings, Runtime("apptainer", image="/s.sif"))


def _demo_grid(tmp_path, *configs) -> Path:
    grid = tmp_path / "grid"
    run_segbook("grid", "plan", "--datasets", "Demo", "--configs", ",".join(configs), "--grid", str(grid), "--out",
                str(tmp_path / "out"), "--device", "cpu", check=True)
    return grid


def test_dry_run_prints_scripts_sbatch_lines_and_commands_and_writes_nothing(tmp_path):
    grid = _demo_grid(tmp_path, "nnunet", "stunet-s_scratch")
    fake_sif = tmp_path / "segbook.sif"
    fake_sif.write_bytes(b"not a SIF")
    result = run_segbook("grid", "submit", str(grid), "--runtime", "apptainer", "--image", str(fake_sif),
                         "--dry-run", env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "warning: image labels not checked" in result.stderr  # no apptainer here
    assert f"$ sbatch --parsable {grid / 'slurm' / '001' / 'small.sbatch'}" in result.stdout
    assert "#SBATCH --signal=B:USR1@600" in result.stdout
    commands = [line.split("): ", 1)[1] for line in result.stdout.splitlines() if line.startswith("  task ")]
    assert len(commands) == 2
    first = shlex.split(commands[0])
    assert first[:8] == ["apptainer", "run", "--containall", "--cleanenv", "--no-home", "--pwd", "/output", "--bind"]
    assert first[8] == f"{tmp_path / 'out'}:/output" and str(fake_sif) in first
    assert not (grid / "slurm").exists()


def test_no_sbatch_on_path_is_an_environment_problem(tmp_path):
    grid = _demo_grid(tmp_path, "nnunet")
    assert_two_line_error(run_segbook("grid", "submit", str(grid), env={"PATH": "/nonexistent"}), 78,
                          "sbatch is not on PATH", "--dry-run")
    assert not (grid / "slurm").exists()


def test_bad_profile_is_refused_before_anything_is_written(tmp_path):
    grid = _demo_grid(tmp_path, "nnunet")
    profile = tmp_path / "site.yaml"
    profile.write_text("partition: gpu\npartitoin: gpu2\n")
    assert_two_line_error(run_segbook("grid", "submit", str(grid), "--profile", str(profile), "--dry-run"), 65,
                          "partitoin: unknown key")
    assert not (grid / "slurm").exists()


def test_missing_raw_folder_or_lock_is_found_again_before_submission(tmp_path):
    manifests = manifests_with_locks(tmp_path / "manifests", ["Task009_Spleen"])
    raw = tmp_path / "spleen"
    raw.mkdir()
    (tmp_path / "data.yaml").write_text(f"Spleen: {raw}\n")
    env = {"SEGBOOK_MANIFESTS": str(manifests)}
    grid = tmp_path / "grid"
    run_segbook("grid", "plan", "--datasets", "Spleen", "--configs", "nnunet", "--data", str(tmp_path / "data.yaml"),
                "--grid", str(grid), "--out", str(tmp_path / "out"), env=env, check=True)
    raw.rmdir()
    (manifests / "locks" / "Task009_Spleen.lock").unlink()
    result = run_segbook("grid", "submit", str(grid), "--dry-run", env=env)
    assert_two_line_error(result, 66, "raw folder missing: Task009_Spleen", "no lock yet: Task009_Spleen")
    assert not (grid / "slurm").exists()
    assert read_grid(grid).entries[0].raw == str(raw)


def test_sif_labels_are_read_from_either_form_of_apptainer_inspect_json():
    labels = {LABEL_VERSION: "0.1.0", LABEL_LOCK: "ab" * 32}
    wrapped = json.dumps({"data": {"attributes": {"labels": labels}, "type": "container"}})
    bare = json.dumps({"attributes": {"labels": labels}})
    assert parse_inspect_json(wrapped, Path("x.sif")) == labels == parse_inspect_json(bare, Path("x.sif"))
    assert parse_inspect_json("{}", Path("x.sif")) == {}
    expected = expected_labels()
    assert expected[LABEL_LOCK] == hashlib.sha256((REPO / "containers" / "requirements.lock").read_bytes()).hexdigest()
    check = compare("x.sif", None, labels, expected)
    assert not check.matches and check.differences == [
        f"{LABEL_LOCK} is {'ab' * 32!r}, this checkout has {expected[LABEL_LOCK]!r}"]
