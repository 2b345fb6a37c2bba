"""What the SIF builder adds to the image (scripts/sif_layout.py): the def file's sections, the image's
environment as a script that never expands a value, the runscript, the modes and the root links."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import sif_layout  # noqa: E402

CONFIG = {"Config": {"Env": ["PATH=/opt/venv/bin:/usr/bin:/bin", "SEGBOOK_OUT=/output", "HOME=/tmp"],
                     "Entrypoint": ["/opt/venv/bin/segbook"], "Cmd": ["--help"],
                     "Labels": {"org.opencontainers.image.title": "segbook", "org.segbook.weights": "none"}}}


def kit_definition(archive: str = "img (sha256:1)") -> sif_layout.Definition:
    return sif_layout.parse_definition((REPO / "containers" / "segbook.def").read_text(), {"ARCHIVE": archive})


def test_the_kits_def_file_parses_with_its_archive_filled_in():
    definition = kit_definition()
    assert definition.header["bootstrap"] == "docker-archive" and definition.header["from"] == "img (sha256:1)"
    assert definition.labels["org.segbook.source-archive"] == "img (sha256:1)"
    assert definition.sections["runscript"] == 'exec /opt/venv/bin/segbook "$@"\n'
    assert "SEGBOOK_RUNTIME=apptainer" in definition.sections["environment"]
    assert "{{" not in definition.text
    # without a value the %arguments default is used
    default = sif_layout.parse_definition((REPO / "containers" / "segbook.def").read_text())
    assert default.labels["org.segbook.source-archive"] == "build/segbook-image.tar"


@pytest.mark.parametrize("text, message", [
    ("Bootstrap: docker-archive\nFrom: x\n%post\n    apt-get update\n", "%post"),
    ("Bootstrap: docker-archive\nFrom: x\n%files\n    a /a\n", "%files"),
    ("Bootstrap: library\nFrom: alpine\n", "not from an OCI image"),
    ("Bootstrap: docker-archive\nFrom: {{ NOPE }}\n", "NOPE"),
    ("Bootstrap: docker-archive\nFrom: x\n%frobnicate\n", "%frobnicate"),
])
def test_a_def_file_only_apptainer_can_build_is_refused(text, message):
    with pytest.raises(sif_layout.DefinitionError, match=message):
        sif_layout.parse_definition(text)


def run_env_script(tmp_path: Path, script: str, preset: dict[str, str], name: str) -> str:
    path = tmp_path / "env.sh"
    path.write_text(script)
    proc = subprocess.run(["/bin/sh", "-c", f'. "$1"; printf %s "${name}"', "sh", str(path)],
                          env={"PATH": "/usr/bin:/bin", **preset}, capture_output=True, text=True, check=True,
                          cwd=tmp_path)
    return proc.stdout


def test_image_env_values_are_never_expanded_and_the_callers_win_except_path(tmp_path):
    hostile = "$(touch pwned)`touch pwned2`;touch pwned3 'quote\" $HOME"
    script = sif_layout.docker_environment([f"EVIL={hostile}", "SEGBOOK_OUT=/output", "PATH=/opt/venv/bin:/bin"])
    assert run_env_script(tmp_path, script, {}, "EVIL") == hostile
    assert not list(tmp_path.glob("pwned*"))
    assert run_env_script(tmp_path, script, {"SEGBOOK_OUT": "/elsewhere"}, "SEGBOOK_OUT") == "/elsewhere"
    assert run_env_script(tmp_path, script, {}, "SEGBOOK_OUT") == "/output"
    assert run_env_script(tmp_path, script, {"PATH": "/usr/bin:/bin"}, "PATH") == "/opt/venv/bin:/bin"
    with pytest.raises(sif_layout.DefinitionError, match="NAME=value"):
        sif_layout.docker_environment(["BAD NAME=1"])


def test_the_layout_has_apptainers_files_modes_and_links(tmp_path):
    files = sif_layout.layout(kit_definition(), CONFIG, {"org.segbook.sif-builder": "test"})
    sif_layout.write_tree(tmp_path, files)
    d = tmp_path / ".singularity.d"
    for name in ("runscript", "test", "startscript", "env/10-docker2singularity.sh", "env/90-environment.sh",
                 "actions/run", "actions/exec", "actions/shell", "actions/test", "actions/start"):
        assert (d / name).stat().st_mode & 0o111, name
    for name in ("labels.json", "Singularity", "runscript.help"):
        assert not (d / name).stat().st_mode & 0o111, name
    assert (d / "libs").is_dir()
    assert {p.name: str(p.readlink()) for p in tmp_path.iterdir() if p.is_symlink()} == sif_layout.ROOT_LINKS
    labels = json.loads((d / "labels.json").read_text())
    assert labels["org.segbook.weights"] == "none" and labels["org.segbook.sif-builder"] == "test"
    assert labels["org.segbook.source-archive"] == "img (sha256:1)"  # the def's %labels over the image's
    assert (d / "Singularity").read_text() == kit_definition().text
    assert sorted(p.name for p in (d / "env").iterdir()) == ["01-base.sh", "10-docker2singularity.sh",
                                                            "90-environment.sh", "99-base.sh"]


def test_the_run_action_sources_the_environment_in_order_then_runs_the_runscript(tmp_path):
    """The action's own text, run against a copy of the tree (its paths made relative to that copy)."""
    files = sif_layout.layout(sif_layout.parse_definition(
        "Bootstrap: docker-archive\nFrom: x\n%environment\n    export ORDER=\"$ORDER 90\"\n"
        "%runscript\n    printf '%s|%s\\n' \"$ORDER\" \"$*\"\n"), {"Env": ["ORDER=10"]}, {})
    root = tmp_path / "root"
    rebased = {name: text.replace("/.singularity.d", f"{root}/.singularity.d") for name, text in files.items()}
    sif_layout.write_tree(root, rebased)
    proc = subprocess.run([str(root / ".singularity.d" / "actions" / "run"), "a", "b c"], capture_output=True,
                          text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert proc.stdout == "10 90|a b c\n"


def test_without_a_runscript_the_images_entrypoint_and_cmd_run(tmp_path):
    files = sif_layout.layout(sif_layout.parse_definition("Bootstrap: docker-archive\nFrom: x\n"),
                              {"Entrypoint": ["/bin/echo", "entry"], "Cmd": ["default arg"]}, {})
    script = tmp_path / "runscript"
    script.write_text(files[".singularity.d/runscript"])
    script.chmod(0o755)
    assert subprocess.run([str(script)], capture_output=True, text=True, check=True).stdout == "entry default arg\n"
    assert subprocess.run([str(script), "x"], capture_output=True, text=True, check=True).stdout == "entry x\n"
