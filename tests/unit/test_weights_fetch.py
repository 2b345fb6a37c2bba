"""`segbook weights fetch` against a real HTTP server on 127.0.0.1 (Range support written here)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest
import torch
import yaml

from segbook.cli.errors import run_guarded
from segbook.cli.main import cli
from segbook.core.errors import EnvironmentProblem, InvalidInput, OutputBlocked
from segbook.core.hashing import sha256_file
from segbook.models.official_format import save_official_v1_checkpoint
from segbook.models.stunet import build_stunet
from segbook.weights import load_registry
from segbook.weights.fetch import fetch_entry, part_path
from segbook.weights.pin import pin_file
from tests.helpers.loopback import LoopbackServer, QuietHandler

pytestmark = pytest.mark.unit

STRIDES = [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 2]]


class CheckpointServer(LoopbackServer):
    """Serves files from memory; can ignore Range, or cut the body short once."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []  # the Range header of every GET, in order
        self.cut_after: int | None = None  # send only this many body bytes on the next GET
        self.honour_range = True
        server = self

        class Handler(QuietHandler):
            def do_GET(self):
                server.ranges.append(self.headers.get("Range"))
                data = server.files.get(self.path.lstrip("/"))
                if data is None:
                    self.send_error(404)
                    return
                body = self.send_range(data, server.honour_range)
                if body is None:
                    return
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)

        self.serve(Handler)
        self.url = self.address


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("served")
    out = {}
    for name, seed in (("good", 0), ("other", 1)):
        torch.manual_seed(seed)
        model = build_stunet("S", 1, 105, STRIDES)
        path = save_official_v1_checkpoint(model.state_dict(), folder / f"{name}.model", epoch=4000)
        out[name] = path.read_bytes()
    return out


@pytest.fixture()
def server(checkpoints):
    with CheckpointServer() as srv:
        srv.files["small_ep4k.model"] = checkpoints["good"]
        yield srv


def make_registry(tmp_path: Path, url: str, size: int, *, pinned_from: Path | None = None):
    entry = {"scale": "S", "file": "small_ep4k.model", "url": f"{url}/small_ep4k.model",
             "published_size": f"{size / 1e6:.0f} MB"}
    path = tmp_path / "weights.yaml"
    path.write_text(yaml.safe_dump({"schema": "segbook-weights/1", "weights": [entry]}))
    registry = load_registry(path)
    if pinned_from is not None:
        pin_file(registry, registry.for_scale("S"), pinned_from, pinned_by="test")
        registry = load_registry(path)
    return registry


@pytest.fixture()
def good_file(tmp_path, checkpoints) -> Path:
    path = tmp_path / "reference" / "small_ep4k.model"
    path.parent.mkdir()
    path.write_bytes(checkpoints["good"])
    return path


def test_interrupted_fetch_resumes_verifies_and_moves_into_place(tmp_path, server, good_file, monkeypatch):
    # a proxy in the environment must not see loopback traffic
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size, pinned_from=good_file)
    dest = tmp_path / "dest"
    server.cut_after = 5_000_000
    with pytest.raises(EnvironmentProblem, match="ended early"):
        fetch_entry(registry.for_scale("S"), dest)
    part = part_path(dest / "small_ep4k.model")
    assert part.stat().st_size == 5_000_000 and not (dest / "small_ep4k.model").exists()
    messages = []
    result = fetch_entry(registry.for_scale("S"), dest, progress=messages.append)
    assert server.ranges == [None, "bytes=5000000-"]
    assert (result.resumed_from, result.downloaded_bytes) == (5_000_000, good_file.stat().st_size - 5_000_000)
    assert result.check.ok and sha256_file(result.path) == sha256_file(good_file)
    assert not part.exists() and messages and "100%" in messages[-1]
    again = fetch_entry(registry.for_scale("S"), dest)
    assert again.skipped and len(server.ranges) == 2  # no new request


def test_server_ignoring_range_restarts_the_file(tmp_path, server, good_file):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size, pinned_from=good_file)
    dest = tmp_path / "dest"
    dest.mkdir()
    part_path(dest / "small_ep4k.model").write_bytes(b"junk" * 1000)
    server.honour_range = False
    result = fetch_entry(registry.for_scale("S"), dest)
    assert server.ranges == ["bytes=4000-"] and result.resumed_from == 0 and result.check.ok


def test_wrong_file_is_refused_and_discarded(tmp_path, server, good_file, checkpoints):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size, pinned_from=good_file)
    server.files["small_ep4k.model"] = checkpoints["other"]
    dest = tmp_path / "dest"
    with pytest.raises(InvalidInput, match="does not match the pinned") as info:
        fetch_entry(registry.for_scale("S"), dest)
    assert info.value.exit_code == 65
    assert list(dest.iterdir()) == []


def test_unpinned_download_waits_for_trust_without_downloading_again(tmp_path, server, good_file):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size)
    dest = tmp_path / "dest"
    with pytest.raises(InvalidInput, match="not pinned"):
        fetch_entry(registry.for_scale("S"), dest)
    assert not (dest / "small_ep4k.model").exists()
    result = fetch_entry(registry.for_scale("S"), dest, trust_unpinned=True)
    assert server.ranges[-1] == f"bytes={good_file.stat().st_size}-"  # answered 416: nothing re-sent
    assert result.downloaded_bytes == 0 and result.check.status == "unpinned"
    assert sha256_file(result.path) == sha256_file(good_file)


def test_truncated_source_is_refused_even_when_trusted(tmp_path, server, good_file):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size)
    server.files["small_ep4k.model"] = good_file.read_bytes()[: 2_000_000]
    with pytest.raises(InvalidInput, match="size"):
        fetch_entry(registry.for_scale("S"), tmp_path / "dest", trust_unpinned=True)
    assert list((tmp_path / "dest").iterdir()) == []


def test_existing_different_file_needs_force(tmp_path, server, good_file, checkpoints):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size, pinned_from=good_file)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "small_ep4k.model").write_bytes(checkpoints["other"])
    with pytest.raises(OutputBlocked):
        fetch_entry(registry.for_scale("S"), dest)
    assert fetch_entry(registry.for_scale("S"), dest, force=True).check.ok


def test_http_errors_and_unreachable_hosts_are_environment_problems(tmp_path, server, good_file):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size)
    entry = registry.for_scale("S")
    with pytest.raises(EnvironmentProblem, match="HTTP 404"):
        fetch_entry(entry, tmp_path / "a", url=f"{server.url}/missing.model")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(EnvironmentProblem, match="cannot reach"):
        fetch_entry(entry, tmp_path / "b", url=f"http://127.0.0.1:{closed}/small_ep4k.model")
    with pytest.raises(InvalidInput, match="only http"):
        fetch_entry(entry, tmp_path / "c", url="file:///etc/passwd")


def test_cli_fetch(tmp_path, server, good_file, capsys):
    registry = make_registry(tmp_path, server.url, good_file.stat().st_size, pinned_from=good_file)
    dest = tmp_path / "dest"
    args = ["weights", "fetch", "s", "--registry", str(registry.path), "--dest", str(dest), "-q"]
    assert run_guarded(cli, args) == 0
    out = capsys.readouterr().out
    assert "verified" in out and sha256_file(good_file) in out
    shutil.rmtree(dest)
    assert run_guarded(cli, ["weights", "fetch", "S", "B", "--url", "http://127.0.0.1:9/x"]) == 2
