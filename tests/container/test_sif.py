"""The SIF `make sif` builds without Apptainer: siftool reads it, its partition is the image's root file
system plus Apptainer's /.singularity.d, and that file system runs the kit (its %test passes)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.container.conftest import podman_limits

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import repro_engine  # noqa: E402 - the check's own SIF reader
import sif_layout  # noqa: E402


def siftool(*args: str) -> str:
    proc = subprocess.run(["siftool", *args], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def image_config(image: str) -> dict:
    return json.loads(subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True,
                                     check=True).stdout)[0]


@pytest.fixture(scope="module")
def sif_root(sif, tmp_path_factory):
    with repro_engine.mounted_sif(sif, tmp_path_factory.mktemp("sif-root")) as root:
        yield root


def test_siftool_reads_the_sif_in_apptainers_layout(sif, image):
    assert sif.read_bytes()[:32].rstrip(b"\0") == b"#!/usr/bin/env run-singularity\n"  # ./segbook.sif runs
    assert os.stat(sif).st_mode & stat.S_IXUSR
    assert "Primary Architecture: amd64" in siftool("header", str(sif))
    rows = [[cell.strip() for cell in line.split("|")] for line in siftool("list", str(sif)).splitlines()
            if line[:1].isdigit()]
    assert [(row[1], row[4]) for row in rows] == [("1", "Def.FILE"), ("1", "JSON.Generic"),
                                                  ("1", "FS (Squashfs/*System/amd64)")]
    start = int(rows[2][3].split("-")[0])
    assert start % 4096 == 0 and start == repro_engine.sif_partition_offset(sif)
    definition = siftool("dump", "1", str(sif))
    assert definition.startswith("# Apptainer definition") and "Bootstrap: docker-archive" in definition
    image_id = "sha256:" + image_config(image)["Id"]
    assert f"org.segbook.source-archive {image} ({image_id})" in definition  # {{ ARCHIVE }} filled in
    inspected = json.loads(siftool("dump", "2", str(sif)))["data"]["attributes"]
    assert inspected["labels"]["org.segbook.sif-source-image-id"] == image_id
    assert inspected["labels"]["org.opencontainers.image.title"] == "segbook"
    assert inspected["runscript"] == "#!/bin/sh\nexec /opt/venv/bin/segbook \"$@\"\n"
    assert "SEGBOOK_RUNTIME=apptainer" in inspected["environment"]["90-environment.sh"]


def test_the_partition_is_the_images_file_system_plus_singularity_d(sif_root, image):
    def tree(root: Path) -> dict[str, tuple[int, int, int]]:
        found = {}
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                info = path.lstat()
                found[str(path.relative_to(root))] = (info.st_mode, info.st_uid,
                                                      info.st_size if stat.S_ISREG(info.st_mode) else 0)
        return found

    mounted = subprocess.run(["podman", "image", "mount", image], capture_output=True, text=True, check=True)
    try:
        original = tree(Path(mounted.stdout.strip()))
    finally:
        subprocess.run(["podman", "image", "unmount", image], capture_output=True, check=False)
    in_sif = tree(sif_root)
    added = {path for path in in_sif if path not in original}
    assert {path.split("/")[0] for path in added} == {sif_layout.SINGULARITY_D, *sif_layout.ROOT_LINKS}
    assert {path: in_sif[path] for path in original} == original  # every file: type, mode, owner, size
    config = image_config(image)
    definition = sif_layout.parse_definition((REPO / "containers" / "segbook.def").read_text(),
                                             {"ARCHIVE": f"{image} (sha256:{config['Id']})"})
    assert set(sif_layout.layout(definition, config, {})) <= added
    labels = json.loads((sif_root / ".singularity.d" / "labels.json").read_text())
    for key, value in config["Config"]["Labels"].items():  # the image's labels, the def's %labels over them
        assert labels[key] == definition.labels.get(key, value), key
    assert (sif_root / ".singularity.d" / "Singularity").read_text() == definition.text
    assert os.readlink(sif_root / "singularity") == ".singularity.d/runscript"


def test_the_sifs_own_test_section_passes_in_its_file_system(sif, sif_root, podman):
    """`apptainer test segbook.sif`: the %test section (segbook --version, the imports, datasets and weights
    list), run by the SIF's own action script in its own file system, as the host uid, read-only."""
    proc = subprocess.run([podman, "run", "--rm", "--runtime", "runc", *podman_limits(), "--network", "none",
                           "--read-only", "--tmpfs", "/tmp", "--user", f"{os.getuid()}:{os.getgid()}",
                           "-e", f"APPTAINER_CONTAINER={sif}", "--rootfs", f"{sif_root}:O",
                           "/.singularity.d/actions/test"], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "segbook, version" in proc.stdout
    env = subprocess.run([podman, "run", "--rm", "--runtime", "runc", *podman_limits(), "--network", "none",
                          "--read-only", "--rootfs", f"{sif_root}:O", "/.singularity.d/actions/exec", "env"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    values = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)
    assert values["SEGBOOK_RUNTIME"] == "apptainer" and values["PATH"].startswith("/opt/venv/bin:")
    assert values["SEGBOOK_MANIFESTS"] == "/opt/segbook/manifests"


def test_build_sif_refuses_to_replace_a_sif_and_a_def_it_cannot_build(image, sif, tmp_path):
    script = [sys.executable, str(REPO / "scripts" / "build_sif.py"), "--image", image]
    existing = tmp_path / "old.sif"
    existing.write_bytes(b"keep me")
    proc = subprocess.run([*script, "--out", str(existing)], capture_output=True, text=True, check=False)
    assert proc.returncode == 73 and existing.read_bytes() == b"keep me"
    assert proc.stderr.splitlines()[0].startswith("error: ") and proc.stderr.splitlines()[1].startswith("hint: ")
    bad = tmp_path / "bad.def"
    bad.write_text("Bootstrap: docker-archive\nFrom: x\n%post\n    apt-get install -y curl\n")
    proc = subprocess.run([*script, "--out", str(tmp_path / "new.sif"), "--definition", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 65 and "%post" in proc.stderr and not (tmp_path / "new.sif").exists()
    assert sorted(tmp_path.iterdir()) == sorted([existing, bad])  # no half-built SIF left behind
