"""segbook.core.settings: the environment read once into a frozen Settings; what wins over what."""

from __future__ import annotations

import ast
import dataclasses
import os
from pathlib import Path

import pytest

from segbook.cli import options
from segbook.core.errors import EnvironmentProblem
from segbook.core.settings import Settings, environ_snapshot, load_settings, process_environ


@pytest.fixture()
def no_containerenv(monkeypatch):
    """As on a plain host: no /run/.containerenv (Podman's marker), whatever this machine has."""
    real = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: False if str(self) == "/run/.containerenv" else real(self))


def test_defaults_from_an_empty_environment(no_containerenv):
    assert load_settings({}) == Settings()
    assert Settings().out_root == Path("segbook-out") and Settings().lock_mode == "flock"


def test_every_variable_lands_in_its_field(no_containerenv):
    env = {"SEGBOOK_OUT": "/data/out", "SEGBOOK_WEIGHTS_DIR": "/w", "SEGBOOK_IMAGE": "segbook:1",
           "SEGBOOK_IMAGE_DIGEST": "sha256:" + "a" * 64, "SEGBOOK_REVISION": "abc", "SEGBOOK_MANIFESTS": "/m",
           "SEGBOOK_TRAIN_CONFIG": "/t.json", "SEGBOOK_LOCK_MODE": "file", "SLURM_JOB_ID": "77",
           "SLURM_RESTART_COUNT": "2", "SEGBOOK_STOP_AFTER_ITERATION": "5"}
    s = load_settings(env)
    assert (s.out_root, s.weights_dir, s.manifests_dir, s.train_config) == (
        Path("/data/out"), Path("/w"), Path("/m"), Path("/t.json"))
    assert (s.image, s.image_digest, s.revision, s.lock_mode) == ("segbook:1", "sha256:" + "a" * 64, "abc", "file")
    assert (s.slurm_job, s.slurm_restarts, s.stop_after_iteration) == ("77", 2, 5)


def test_empty_values_count_as_unset(no_containerenv):
    env = {"SEGBOOK_OUT": "", "SEGBOOK_WEIGHTS_DIR": "", "SEGBOOK_IMAGE": "", "SEGBOOK_LOCK_MODE": "",
           "SLURM_RESTART_COUNT": "", "SEGBOOK_STOP_AFTER_ITERATION": ""}
    assert load_settings(env) == Settings()


@pytest.mark.parametrize("env, runtime", [
    ({"APPTAINER_CONTAINER": "/x.sif", "SEGBOOK_RUNTIME": "docker"}, "apptainer"),  # Apptainer says so itself
    ({"SINGULARITY_CONTAINER": "/x.sif"}, "apptainer"),
    ({"SEGBOOK_RUNTIME": "docker"}, "docker"),  # run.sh / the image
    ({}, "native"),
])
def test_runtime_precedence(env, runtime, no_containerenv):
    assert load_settings(env).runtime == runtime


def test_podman_marker_counts_only_without_a_declared_runtime(monkeypatch):
    real = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self: True if str(self) == "/run/.containerenv" else real(self))
    assert load_settings({}).runtime == "podman"
    assert load_settings({"SEGBOOK_RUNTIME": "docker"}).runtime == "docker"


def test_an_array_task_wins_over_the_plain_job_id(no_containerenv):
    env = {"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100", "SLURM_ARRAY_TASK_ID": "7"}
    assert load_settings(env).slurm_job == "100_7"
    assert load_settings({"SLURM_JOB_ID": "101", "SLURM_ARRAY_JOB_ID": "100"}).slurm_job == "101"


def test_an_unknown_lock_mode_is_an_environment_problem(no_containerenv):
    with pytest.raises(EnvironmentProblem, match="SEGBOOK_LOCK_MODE"):
        load_settings({"SEGBOOK_LOCK_MODE": "nfs"})


def test_the_process_environment_is_read_only_when_no_mapping_is_given(monkeypatch, no_containerenv):
    monkeypatch.setenv("SEGBOOK_OUT", "/from/environ")
    assert load_settings().out_root == Path("/from/environ")
    assert load_settings({}).out_root == Path("segbook-out")  # an explicit mapping: os.environ is not read


def test_a_flag_wins_by_replacing_the_field_and_settings_stay_frozen(no_containerenv):
    """What the CLI does with --out: a new Settings, the environment's value untouched."""
    from_env = load_settings({"SEGBOOK_OUT": "/env/out"})
    with_flag = dataclasses.replace(from_env, out_root=Path("/flag/out"))
    assert (from_env.out_root, with_flag.out_root) == (Path("/env/out"), Path("/flag/out"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        from_env.out_root = Path("/elsewhere")


def test_as_dict_is_json_ready(no_containerenv):
    data = load_settings({"SEGBOOK_OUT": "/o", "SEGBOOK_WEIGHTS_DIR": "/w"}).as_dict()
    assert data["out_root"] == "/o" and data["weights_dir"] == "/w" and data["manifests_dir"] is None
    assert set(data) == {f.name for f in dataclasses.fields(Settings)}


def test_snapshot_keeps_only_the_variables_that_influence_a_run(monkeypatch):
    monkeypatch.setenv("nnUNet_compile", "false")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    snapshot = environ_snapshot()
    assert snapshot["nnUNet_compile"] == "false" and snapshot["OMP_NUM_THREADS"] == "2"
    assert "UNRELATED_SECRET" not in snapshot and list(snapshot) == sorted(snapshot)


def test_process_environ_is_a_copy(monkeypatch):
    copy = process_environ()
    copy["SEGBOOK_OUT"] = "/changed"
    assert "SEGBOOK_OUT" not in os.environ



def test_a_command_reads_the_environment_once(cli_runner, monkeypatch, tmp_path):
    """The CLI builds the settings once per invocation and passes that object down."""
    calls = []
    real = options.load_settings

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(options, "load_settings", counting)
    monkeypatch.setenv("SEGBOOK_OUT", str(tmp_path / "from-env"))
    result = cli_runner("datasets", "show", "Demo")  # --out's default and the planned-plans lookup
    assert result.exit_code == 0, result.output
    assert f"planned under {tmp_path / 'from-env'}" in result.output
    assert len(calls) == 1


@pytest.mark.parametrize("command", [
    ["datasets", "list"],
    ["datasets", "show", "Demo", "--out", "{tmp}/out"],
    ["evaluate", "{tmp}/pred", "{tmp}/ref", "--dataset", "Demo"],  # the label set from the catalog
    ["report", "--paper", "--out", "{tmp}/paper-report"],
    ["grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--grid", "{tmp}/grid", "--out", "{tmp}/out"],
    ["doctor", "--no-hash", "--json"],
])
def test_no_layer_reads_the_environment_again(cli_runner, monkeypatch, tmp_path, command):
    """Counted where the environment is read (every load_settings() passes there), so a lower layer
    calling load_settings() is caught too (one calling load_catalog() without the settings' folder:
    test_no_layer_below_the_api_defaults_to_the_environment)."""
    from segbook.core import settings as settings_module  # noqa: PLC0415 - the module whose reader is counted

    calls = []
    real = settings_module._detect_runtime

    def counting(env):
        calls.append(1)
        return real(env)

    monkeypatch.setattr(settings_module, "_detect_runtime", counting)
    for folder in ("pred", "ref"):
        (tmp_path / folder).mkdir()
    result = cli_runner(*[part.format(tmp=tmp_path) for part in command])
    assert result.exit_code in (0, 1, 66, 78), result.output  # ran (66: no cases; 78: doctor's findings)
    assert len(calls) == 1, f"the environment was read {len(calls)} times"


# -- below the api, nothing reads the environment (a static check: every code path, not six commands)
PACKAGE = Path(__file__).resolve().parents[2] / "segbook"
# where the environment is read on purpose: the settings, and the layers that read them once
READERS = ("core/settings.py", "cli/", "api/")
# process entry points that only exist inside a child the kit started (nnU-Net builds the trainer
# itself, so the environment is its only channel), or hand the environment on to such a child
CHILD_ENTRIES = {"core/childguard.py": {"os.environ"}, "nnunet/plan_entry.py": {"os.environ"},
                 "nnunet/train_config.py": {"load_settings"}}
# called without a folder, these use the kit's own manifests instead of the settings' ones
NEEDS_A_FOLDER = {"load_catalog", "find_manifests_dir", "default_registry_path"}
NEEDS_THE_KEYWORD = {"check_files": "manifests_dir"}  # and this one is told by keyword


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def environment_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, what) for each way a module below the api could read the environment."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute) and _name(node).split(".")[-1] == "FROM_ENVIRONMENT":
            found.append((node.lineno, "FROM_ENVIRONMENT"))
        elif isinstance(node, ast.Attribute) and _name(node) in ("os.environ", "os.getenv", "os.environb"):
            found.append((node.lineno, "os.environ"))
        elif isinstance(node, ast.ImportFrom):
            found += [(node.lineno, "FROM_ENVIRONMENT") for a in node.names if a.name == "FROM_ENVIRONMENT"]
            if node.module == "os":
                found += [(node.lineno, "os.environ") for a in node.names if a.name in ("environ", "getenv")]
        elif isinstance(node, ast.Call):
            called = _name(node.func).split(".")[-1]
            if called == "load_settings" and not (node.args or node.keywords):
                found.append((node.lineno, "load_settings"))
            elif called in NEEDS_A_FOLDER and not (node.args or node.keywords):
                found.append((node.lineno, f"{called}() without the settings' folder"))
            elif called in NEEDS_THE_KEYWORD and NEEDS_THE_KEYWORD[called] not in {k.arg for k in node.keywords}:
                found.append((node.lineno, f"{called}() without the settings' folder"))
    return found


def test_environment_reads_are_found():
    code = ("import os\nfrom os import environ\nfrom segbook.catalog.loader import FROM_ENVIRONMENT\n"
            "def f(m=FROM_ENVIRONMENT, s=None):\n    s = s or load_settings()\n"
            "    return (os.environ.get('X'), os.getenv('Y'), load_catalog(), load_catalog(m), check_files(p),\n"
            "            check_files(p, manifests_dir=m))\n")
    found = sorted(what for _, what in environment_reads(ast.parse(code)))
    assert found == sorted(["os.environ", "os.environ", "os.environ", "FROM_ENVIRONMENT", "FROM_ENVIRONMENT",
                            "load_settings", "load_catalog() without the settings' folder",
                            "check_files() without the settings' folder"])


def test_no_layer_below_the_api_defaults_to_the_environment():
    """Settings are read once, by the CLI or the api, and passed down: a default argument that makes a
    lower layer read SEGBOOK_MANIFESTS (or anything else) again is refused wherever it is."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(READERS):
            continue
        allowed = CHILD_ENTRIES.get(relative, set())
        for line, what in environment_reads(ast.parse(path.read_text(encoding="utf-8"))):
            if what not in allowed:
                problems.append(f"segbook/{relative}:{line}: {what}")
    assert problems == [], "lower layers that read the environment:\n  " + "\n  ".join(problems)


def test_the_report_verifies_with_the_settings_manifests_never_the_environment(tmp_path, monkeypatch):
    """`segbook report` re-checks receipts (segbook.verify.check_files) against the dataset locks of
    the settings' manifests folder; a SEGBOOK_MANIFESTS set later is not read again."""
    import numpy as np  # noqa: PLC0415 - only this test writes run folders

    import segbook.verify  # noqa: PLC0415
    from segbook.api.report import ReportRequest, report  # noqa: PLC0415
    from tests.helpers.fakes import catalog_copy  # noqa: PLC0415
    from tests.report_runs import write_run  # noqa: PLC0415

    manifests = catalog_copy(tmp_path, "Task009_Spleen")
    out = tmp_path / "out"
    write_run(out, "Task009_Spleen", "stunet-b_ft", np.full((2, 1), 0.9))
    asked = []
    monkeypatch.setattr(segbook.verify, "check_files",
                        lambda path, progress=None, **kwargs: asked.append(kwargs.get("manifests_dir", "unset")) or [])
    settings = load_settings({"SEGBOOK_MANIFESTS": str(manifests)})
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(tmp_path / "nowhere"))
    report(ReportRequest(out_root=out, verify=True), settings)
    assert asked == [manifests]
