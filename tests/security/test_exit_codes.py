"""Bad input and blocked output get their documented exit code and two lines, never 70."""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from segbook.convert.archive import ArchiveLimits, unpack
from segbook.core.errors import ExitCode, InvalidInput, OutputBlocked
from tests.helpers import run_segbook
from tests.security.builders import REPO, assert_two_lines, demo_manifest, raw_tree

pytestmark = [pytest.mark.unit, pytest.mark.security]


def test_the_readme_table_is_the_exit_code_enum():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}


# -- archives ---------------------------------------------------------------------------------
def _tar(path, members: list[tuple[str, bytes | None]], mode="w:gz"):
    """members: (name, bytes) for files, (name, None) for folders."""
    with tarfile.open(path, mode) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def _prepare_archive(tmp_path, archive, *extra):
    return run_segbook("prepare", str(demo_manifest(tmp_path)), "--raw", str(archive), "--out",
                       str(tmp_path / "out"), "--lock", "--quiet", *extra, timeout=300)


@pytest.mark.parametrize("members, words", [
    ([("data", b"a file"), ("data/case.nii.gz", b"inside it")], "clashes"),
    ([("data/case.nii.gz", b"x"), ("data", b"a file named like the folder")], "clashes"),
    ([("data/x", b"1"), ("data/x", b"2")], "clashes"),
    ([(".", b"a file named like the target")], "target folder"),
], ids=["file then folder", "folder then file", "same name twice", "dot file"])
def test_malformed_tars_are_refused(tmp_path, members, words):
    result = _prepare_archive(tmp_path, _tar(tmp_path / "download.tar.gz", members))
    assert_two_lines(result, 65, words)
    assert not (tmp_path / "out" / "downloads").exists() or not any((tmp_path / "out" / "downloads").iterdir())


def test_a_dot_folder_member_is_fine(tmp_path):
    """`tar -C dir -cf x.tar .` writes a './' folder member: that is the target itself, not an error."""
    archive = _tar(tmp_path / "x.tar", [("./", None), ("./a.txt", b"hello")], mode="w")
    target = unpack(archive, tmp_path / "target")
    assert (target / "a.txt").read_text() == "hello"


def test_a_tar_bomb_is_refused_before_it_is_written(tmp_path):
    """20 MB of zeros packs into ~20 kB: over the limit given, refused before one byte lands."""
    archive = _tar(tmp_path / "bomb.tar.gz", [("raw/zeros.nii.gz", bytes(20_000_000))])
    assert archive.stat().st_size < 100_000
    result = _prepare_archive(tmp_path, archive, "--max-unpacked-size", "1 MB")
    assert_two_lines(result, 65, "more than 1,000,000 bytes")
    downloads = tmp_path / "out" / "downloads"
    assert not downloads.exists() or not any(downloads.rglob("*.nii.gz"))


def test_too_many_members_are_refused(tmp_path):
    archive = _tar(tmp_path / "many.tar", [(f"f{i}", b"") for i in range(50)], mode="w")
    assert_two_lines(_prepare_archive(tmp_path, archive, "--max-members", "10"), 65, "50 members")


def test_the_default_limits_refuse_what_cannot_fit_the_disk(tmp_path):
    archive = _tar(tmp_path / "x.tar", [("a.bin", bytes(1000))], mode="w")
    with pytest.raises(InvalidInput, match="more than 100 bytes"):
        unpack(archive, tmp_path / "a", limits=ArchiveLimits(max_total_bytes=100))
    room = os.statvfs(tmp_path)
    with pytest.raises(OutputBlocked, match="bytes free"):  # keep more free than the disk has
        unpack(archive, tmp_path / "b", limits=ArchiveLimits(keep_free_bytes=room.f_bavail * room.f_frsize + 1))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_zip_that_claims_a_folder_and_a_file_of_one_name(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/", b"")
        zf.writestr("data", b"a file")
    assert_two_lines(_prepare_archive(tmp_path, path), 65, "clashes")


# -- weights ----------------------------------------------------------------------------------
@pytest.fixture()
def http_folder(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/served/."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("name", ["../x.model", "sub/x.model", "..", "/tmp/x.model", ".hidden.model"])
def test_a_registry_file_name_with_a_path_is_refused(tmp_path, http_folder, name):
    served, url = http_folder
    (served / "x.model").write_bytes(b"\0" * 1000)
    registry = tmp_path / "weights.yaml"
    entry = {"scale": "S", "file": name, "url": f"{url}/x.model", "published_size": "1 kB"}
    registry.write_text(yaml.safe_dump({"schema": "segbook-weights/1", "weights": [entry]}))
    dest = tmp_path / "dest"
    result = run_segbook("weights", "fetch", "S", "--registry", str(registry), "--dest", str(dest),
                         "--trust-unpinned", "-q", timeout=300, env={"no_proxy": "*"})
    assert_two_lines(result, 65, "plain file name")
    written = [p for p in tmp_path.rglob("*x.model*") if p.parent != served]
    assert written == []


def test_a_download_larger_than_registered_is_refused(tmp_path, http_folder):
    served, url = http_folder
    (served / "small_ep4k.model").write_bytes(b"\0" * 5000)
    registry = tmp_path / "weights.yaml"
    entry = {"scale": "S", "file": "small_ep4k.model", "url": f"{url}/small_ep4k.model", "published_size": "1 kB"}
    registry.write_text(yaml.safe_dump({"schema": "segbook-weights/1", "weights": [entry]}))
    result = run_segbook("weights", "fetch", "S", "--registry", str(registry), "--dest", str(tmp_path / "dest"),
                         "-q", timeout=300, env={"no_proxy": "*"})
    assert_two_lines(result, 65, "larger than its limit")
    assert not list((tmp_path / "dest").iterdir())


# -- blocked output ---------------------------------------------------------------------------
def _finetune_command(out) -> list[str]:
    return [sys.executable, "-m", "segbook", "finetune", "Demo", "--out", str(out), "--epochs", "1",
            "--iterations-per-epoch", "1", "--device", "cpu"]


def test_an_unwritable_run_folder_is_73(tmp_path):
    """runs/<task>/ not writable: mode 0555 for a normal user; for root (whom modes do not stop), a
    read-only bind mount in a private mount namespace. The run folder is created in there."""
    out = tmp_path / "out"
    task = out / "runs" / "Task999_SegBookDemo"
    task.mkdir(parents=True)
    if os.geteuid() != 0:
        task.chmod(0o555)
        command, words = _finetune_command(out), "permission denied"
    else:
        probe = subprocess.run(["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"',
                                "sh", str(task)], capture_output=True, timeout=30) if shutil.which("unshare") else None
        if probe is None or probe.returncode != 0:
            pytest.skip("running as root without a private mount namespace: cannot make a folder unwritable")
        script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
        command, words = ["unshare", "-m", "sh", "-c", script, "sh", str(task), *_finetune_command(out)], "read-only"
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("[segbook]")]
    assert result.returncode == 73, result.stderr
    assert len(lines) == 2 and lines[0].startswith(f"error: {words}") and lines[1].startswith("hint:"), lines
    assert str(task) in lines[0]


def test_a_raw_file_that_cannot_be_read_is_not_a_bug(tmp_path):
    raw = raw_tree(tmp_path / "raw")
    result = run_segbook("prepare", str(demo_manifest(tmp_path)), "--raw", str(raw / "dataset.json"), "--out",
                         str(tmp_path / "out"), "--lock", "--quiet", timeout=300)
    assert result.returncode in (65, 66) and "internal error" not in result.stderr
