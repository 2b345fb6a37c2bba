"""`segbook datasets fetch` against HTTP servers on 127.0.0.1 that answer as the real hosts do (never the internet).

The server holds files in memory and speaks Range, redirects, Zenodo's records JSON, a cut connection and a
slow body; `--mirror` (or SEGBOOK_MIRROR) points every URL of a manifest at it.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from segbook.convert.fetch import dataset as fetch_module
from segbook.convert.fetch.dataset import STAMP, WORK
from tests.helpers.loopback import LoopbackServer, QuietHandler

pytestmark = pytest.mark.unit

MSD_URL = "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task09_Spleen.tar"


class DataServer(LoopbackServer):
    """Files by path; Range; redirects; a one-time cut; a stall before the body."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header) of every GET
        self.cut_after: int | None = None
        self.stall_s = 0.0
        server = self

        class Handler(QuietHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                body = self.send_range(data)
                if body is None:
                    return
                try:
                    if server.stall_s:
                        self.wfile.write(body[:10])
                        self.wfile.flush()
                        time.sleep(server.stall_s)
                        body = body[10:]
                    if server.cut_after is not None:
                        body, server.cut_after = body[: server.cut_after], None
                        self.close_connection = True
                    self.wfile.write(body)
                except OSError:  # the client gave up (the slow-server test)
                    pass

        self.serve(Handler)

    def zenodo_record(self, record: int, files: dict[str, bytes], checksums: dict[str, str] | None = None):
        """Serve /api/records/N as Zenodo does, each file under its links.self path."""
        entries = []
        for name, data in files.items():
            link = f"https://zenodo.org/api/records/{record}/files/{name}/content"
            self.files[f"/api/records/{record}/files/{name}/content"] = data
            md5 = (checksums or {}).get(name) or hashlib.md5(data).hexdigest()
            entries.append({"id": f"id-{name}", "key": name, "size": len(data), "checksum": f"md5:{md5}",
                            "links": {"self": link}})
        self.files[f"/api/records/{record}"] = json.dumps({"id": record, "files": entries}).encode()


@pytest.fixture()
def server():
    with DataServer() as srv:
        yield srv


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def user_manifest(tmp_path: Path, source: dict) -> Path:
    """A stand-alone manifest (like `segbook datasets init` writes) whose source is `source`."""
    data = {"schema": "segbook-manifest/1", "kind": "user", "task_id": "Task501_Fetched", "nnunet_id": 501,
            "display_name": "Fetched", "modality": "CT", "target": "lesion", "region": ["Others"],
            "channels": [{"name": "CT", "normalization": "CTNormalization"}],
            "labels": {0: "background", 1: "lesion"}, "cases": {"paper": None, "train": None, "test": None},
            "source": {"homepage": None, "landing": "https://example.org/data", "licence": "CC BY 4.0",
                       "access": "open", "url": None, **source},
            "prepare": {"layouts": [{"kind": "nnunet"}]}}
    path = tmp_path / "Task501_Fetched.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def https_manifest(tmp_path: Path, data: bytes, *, name="data.zip", url="https://files.example.org/d/data.zip",
                   **checks) -> Path:
    return user_manifest(tmp_path, {"fetch": "https", "files": [{"name": name, "url": url, **checks}]})


def nothing_left(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def test_zenodo_record_files_and_checksums_come_from_the_records_api(tmp_path, server, cli_runner):
    archive = zip_bytes({"Data/case_1.txt": b"one", "Data/case_2.txt": b"two"})
    server.zenodo_record(4242, {"Data.zip": archive, "README.md": b"# notes"})
    manifest = user_manifest(tmp_path, {"fetch": "zenodo", "zenodo": [{"record": 4242}]})
    out = tmp_path / "raw"
    result = cli_runner("datasets", "fetch", manifest, "--out", out, "--mirror", server.address, "-q")
    assert result.exit_code == 0, result.output
    assert (out / "Data" / "case_2.txt").read_bytes() == b"two" and (out / "README.md").read_bytes() == b"# notes"
    assert not (out / WORK).exists() and not (out / "Data.zip").exists()  # unpacked, then the archive dropped
    stamp = json.loads((out / STAMP).read_text())
    assert {f["name"]: f["md5"] for f in stamp["files"]} == {
        "Data.zip": hashlib.md5(archive).hexdigest(), "README.md": hashlib.md5(b"# notes").hexdigest()}
    assert f"next: segbook prepare {manifest} --raw {out}" in result.output
    paths = [path for path, _ in server.requests]
    assert paths[0] == "/api/records/4242" and len(paths) == 3
    again = cli_runner("datasets", "fetch", manifest, "--out", out, "--mirror", server.address, "-q")
    assert again.exit_code == 0 and "already fetched" in again.output
    assert [path for path, _ in server.requests][3:] == ["/api/records/4242"]  # the list again, no file


def test_a_record_without_a_named_file_is_refused(tmp_path, server, cli_runner):
    server.zenodo_record(7, {"other.zip": zip_bytes({"a": b"a"})})
    manifest = user_manifest(tmp_path, {"fetch": "zenodo", "zenodo": [{"record": 7, "files": ["wanted.zip"]}]})
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "--mirror", server.address)
    assert result.exit_code == 65 and "no longer holds wanted.zip" in result.stderr
    assert nothing_left(tmp_path / "raw")


def test_a_cut_connection_resumes_with_a_range_request(tmp_path, server, cli_runner):
    data = zip_bytes({"big.bin": bytes(range(256)) * 4000})
    server.files["/d/data.zip"] = data
    manifest = https_manifest(tmp_path, data, md5=hashlib.md5(data).hexdigest())
    out = tmp_path / "raw"
    server.cut_after = 300_000
    first = cli_runner("datasets", "fetch", manifest, "--out", out, "--mirror", server.address, "-q")
    assert first.exit_code == 78 and "ended early" in first.stderr
    part = out / WORK / ".data.zip.part"
    assert part.stat().st_size == 300_000 and not (out / "big.bin").exists()
    second = cli_runner("datasets", "fetch", manifest, "--out", out, "--mirror", server.address, "-q")
    assert second.exit_code == 0, second.output
    assert [r for _, r in server.requests] == [None, "bytes=300000-"]
    assert (out / "big.bin").read_bytes() == bytes(range(256)) * 4000


def test_a_redirect_is_followed_and_the_env_mirror_applies(tmp_path, server, cli_runner, monkeypatch):
    data = zip_bytes({"x/y.txt": b"moved"})
    server.redirects["/old/data.zip"] = "/new/data.zip"
    server.files["/new/data.zip"] = data
    manifest = https_manifest(tmp_path, data, url="https://files.example.org/old/data.zip",
                              sha256=hashlib.sha256(data).hexdigest())
    monkeypatch.setenv("SEGBOOK_MIRROR", server.address)
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "raw" / "x" / "y.txt").read_bytes() == b"moved"
    assert [p for p, _ in server.requests] == ["/old/data.zip", "/new/data.zip"]


def test_a_wrong_checksum_exits_65_and_leaves_nothing(tmp_path, server, cli_runner):
    data = zip_bytes({"a.txt": b"served"})
    server.files["/d/data.zip"] = data
    manifest = https_manifest(tmp_path, data, md5="0" * 32)
    out = tmp_path / "raw"
    result = cli_runner("datasets", "fetch", manifest, "--out", out, "--mirror", server.address)
    assert result.exit_code == 65, result.output
    assert "does not match its published md5" in result.stderr and "nothing was unpacked" in result.stderr
    assert nothing_left(out)


def test_an_unsafe_archive_is_refused_before_anything_is_written(tmp_path, server, cli_runner):
    data = zip_bytes({"../escape.txt": b"x"})
    server.files["/d/data.zip"] = data
    manifest = https_manifest(tmp_path, data, sha256=hashlib.sha256(data).hexdigest())
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "--mirror", server.address)
    assert result.exit_code == 65 and "outside the target folder" in result.stderr
    assert not (tmp_path / "escape.txt").exists() and not [p for p in (tmp_path / "raw").iterdir()
                                                            if not p.name.startswith(".")]


def test_a_stalled_server_times_out(tmp_path, server, cli_runner, monkeypatch):
    monkeypatch.setattr(fetch_module, "STALL_S", 0.5)
    data = zip_bytes({"a.txt": b"slow" * 100})
    server.files["/d/data.zip"] = data
    server.stall_s = 3.0
    manifest = https_manifest(tmp_path, data, md5=hashlib.md5(data).hexdigest())
    started = time.monotonic()
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "--mirror", server.address, "-q")
    assert time.monotonic() - started < 3.0
    assert result.exit_code == 78 and "no data for 0.5 s" in result.stderr


def test_no_room_for_the_download_exits_73_with_the_numbers(tmp_path, server, cli_runner, monkeypatch):
    import shutil  # noqa: PLC0415

    data = zip_bytes({"a.txt": b"x" * 1000})
    server.files["/d/data.zip"] = data
    manifest = https_manifest(tmp_path, data, size=len(data))
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("segbook.core.download.shutil.disk_usage", lambda path: usage._replace(free=10))
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "--mirror", server.address)
    assert result.exit_code == 73, result.output
    assert f"({2 * len(data):,} bytes)" in result.stderr and "(10 bytes) free" in result.stderr
    assert server.requests == []


def test_a_gated_dataset_is_refused_with_its_landing_page(tmp_path, cli_runner):
    out = tmp_path / "btcv"
    result = cli_runner("datasets", "fetch", "Task011_BTCV", "--out", out)
    assert result.exit_code == 66, result.output
    assert "needs an account (registration)" in result.stderr and "never works around" in result.stderr
    assert "https://www.synapse.org/#!Synapse:syn3193805/wiki/217789" in result.stderr
    assert f"unpack it into {out}" in result.stderr and "BTCV RawData" in result.stderr
    assert not out.exists()


def test_idc_without_idc_index_exits_78_naming_the_install(tmp_path, cli_runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "idc_index", None)  # as if not installed (it is not in the lock)
    result = cli_runner("datasets", "fetch", "Task104_Colorectal_Liver_Metastases", "--out", tmp_path / "crlm")
    assert result.exit_code == 78 and "pip install idc-index" in result.stderr


def test_idc_selects_the_pinned_release_and_the_named_analysis_results(tmp_path, monkeypatch):
    import types  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415

    from segbook.catalog import load_catalog  # noqa: PLC0415

    calls = {}

    class Client:
        def get_idc_version(self):
            return "v25"

        def sql_query(self, sql):
            calls["sql"] = sql
            return pd.DataFrame({"SeriesInstanceUID": ["1.2.3"], "series_size_MB": [1.5]})

        def download_from_selection(self, **kw):
            calls["download"] = kw
            (Path(kw["downloadDir"]) / "lidc_idri").mkdir()

    monkeypatch.setitem(sys.modules, "idc_index", types.SimpleNamespace(IDCClient=Client))
    manifest = load_catalog().get("Task105_DICOM_LIDC_IDRI_Nodules")
    fetched = fetch_module.fetch_dataset(manifest, tmp_path / "lidc")
    assert "collection_id IN ('lidc_idri')" in calls["sql"]
    assert "analysis_result_id IN ('dicom_lidc_idri_nodules')" in calls["sql"]
    assert calls["download"] == {"seriesInstanceUID": ["1.2.3"], "downloadDir": str(tmp_path / "lidc")}
    assert fetched.placed == ["lidc_idri"] and (tmp_path / "lidc" / STAMP).is_file()


def test_hugging_face_uses_the_pinned_revision_and_the_mirror_as_endpoint(tmp_path, cli_runner, monkeypatch):
    import huggingface_hub  # noqa: PLC0415

    seen = {}

    def snapshot(repo_id, **kw):
        seen.update(repo_id=repo_id, **kw)
        (Path(kw["local_dir"]) / "case_00000").mkdir(parents=True)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    manifest = user_manifest(tmp_path, {"fetch": "huggingface",
                                        "huggingface": {"repo": "someone/data", "revision": "a" * 40}})
    result = cli_runner("datasets", "fetch", manifest, "--out", tmp_path / "raw", "--mirror", "http://127.0.0.1:1")
    assert result.exit_code == 0, result.output
    assert seen == {"repo_id": "someone/data", "repo_type": "dataset", "revision": "a" * 40,
                    "local_dir": str(tmp_path / "raw"), "endpoint": "http://127.0.0.1:1"}


def test_fetch_then_prepare_an_msd_tar(tmp_path, server, cli_runner, monkeypatch):
    from tests.helpers.fakes import catalog_copy, msd_tree  # noqa: PLC0415 - SimpleITK only here

    tree = msd_tree(tmp_path / "build" / "Task09_Spleen", 8, channels=1, values=(0, 1), name="spleen")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(tree, arcname="Task09_Spleen")
    data = buffer.getvalue()
    manifests = catalog_copy(tmp_path, "Task009_Spleen")
    path = manifests / "datasets" / "Task009_Spleen.yaml"
    text = path.read_text()
    assert "md5: 410d4a301da4e5b2f6f86ec3ddba524e" in text and MSD_URL in text  # the mirror MONAI uses
    path.write_text(text.replace("410d4a301da4e5b2f6f86ec3ddba524e", hashlib.md5(data).hexdigest()))
    server.files["/Task09_Spleen.tar"] = data
    monkeypatch.setenv("SEGBOOK_MANIFESTS", str(manifests))
    raw = tmp_path / "spleen"
    fetched = cli_runner("datasets", "fetch", "spleen", "--out", raw, "--mirror", server.address)
    assert fetched.exit_code == 0, fetched.output
    assert (raw / "Task09_Spleen" / "dataset.json").is_file()
    assert f"next: segbook prepare Task009_Spleen --raw {raw}" in fetched.output
    assert "fetch Task09_Spleen.tar:" in fetched.stderr and "/s" in fetched.stderr  # bytes and rate
    prepared = cli_runner("prepare", "Task009_Spleen", "--raw", raw, "--out", tmp_path / "out", "--lock", "--quiet")
    assert prepared.exit_code == 0, prepared.output
    assert len(list((tmp_path / "out" / "nnUNet_raw" / "Dataset009_Spleen" / "imagesTr").iterdir())) > 0
