"""Hostile inputs a probe found: each is refused with its documented exit code and two short lines.

ci init through a linked .github, dataset.json entries leading out of --raw, a YAML alias bomb in a
site profile, a trickling or lying weights server, a seed no RNG takes.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from segbook.core.errors import EnvironmentProblem, InvalidInput
from segbook.grid.profile import load_profile
from tests.helpers.loopback import LoopbackServer, QuietHandler

pytestmark = [pytest.mark.unit, pytest.mark.security]

IMAGE = "ghcr.io/lab/segbook:0.1.0@sha256:" + "0123456789abcdef" * 4


def assert_two_lines(result, code: int, *fragments: str) -> list[str]:
    """The documented exit code and exactly `error: ...` / `hint: ...` on stderr (click's Result)."""
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output[-2000:]}"
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines


# -- 1. ci init never writes outside --repo --------------------------------------------------
@pytest.mark.parametrize("link, path", [
    (".github", ".github/workflows/segbook-reproduce.yml"),
    (".github/workflows", ".github/workflows/segbook-reproduce.yml"),
    ("ci", "ci/x.yml"),
], ids=["linked .github", "linked workflows", "linked folder of --path"])
def test_ci_init_refuses_a_link_out_of_the_repo(tmp_path, cli_runner, link, path):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    (repo / link).symlink_to(elsewhere, target_is_directory=True)
    result = cli_runner("ci", "init", "--repo", repo, "--image", IMAGE, "--path", path)
    assert_two_lines(result, 2, "outside the repository")
    assert list(elsewhere.rglob("*")) == []


def test_ci_init_never_writes_through_a_link_at_the_final_name(tmp_path, cli_runner):
    repo, victim = tmp_path / "repo", tmp_path / "victim.yml"
    victim.write_text("a colleague's file\n")
    target = repo / ".github" / "workflows" / "segbook-reproduce.yml"
    target.parent.mkdir(parents=True)
    target.symlink_to(victim)
    for extra in ((), ("--force",)):
        assert_two_lines(cli_runner("ci", "init", "--repo", repo, "--image", IMAGE, *extra), 2, "outside")
    assert victim.read_text() == "a colleague's file\n"


def test_ci_init_a_dangling_link_at_the_final_name_creates_nothing_outside(tmp_path, cli_runner):
    repo, victim = tmp_path / "repo", tmp_path / "created-by-kit.yml"
    target = repo / ".github" / "workflows" / "segbook-reproduce.yml"
    target.parent.mkdir(parents=True)
    target.symlink_to(victim)
    assert_two_lines(cli_runner("ci", "init", "--repo", repo, "--image", IMAGE, "--force"), 2, "outside")
    assert not victim.exists()


def test_ci_init_follows_links_that_stay_inside_the_repo(tmp_path, cli_runner):
    repo = tmp_path / "repo"
    (repo / "meta" / "github").mkdir(parents=True)
    (repo / ".github").symlink_to(repo / "meta" / "github", target_is_directory=True)
    result = cli_runner("ci", "init", "--repo", repo, "--image", IMAGE)
    assert result.exit_code == 0, result.output
    written = repo / "meta" / "github" / "workflows" / "segbook-reproduce.yml"
    assert IMAGE in written.read_text()
    assert sorted(p.name for p in written.parent.iterdir()) == [written.name]  # no temporary left
    assert_two_lines(cli_runner("ci", "init", "--repo", repo, "--image", IMAGE), 73, "already exists")


# -- 2. an MSD dataset.json may only name files inside --raw ---------------------------------
PROSTATE = "Task005_Prostate"


def _msd_with(tmp_path, manifests_copy, change):
    """An MSD download whose dataset.json entry 0 is rewritten by change(entry, outside_folder)."""
    from tests.helpers.fakes import msd_tree  # noqa: PLC0415 - SimpleITK only when used

    raw = msd_tree(tmp_path / "raw", 8, channels=2)
    outside = tmp_path / "outside"
    outside.mkdir()
    for kind in ("imagesTr", "labelsTr"):  # real volumes: the old code prepared them without a word
        (raw / kind / "prostate_00.nii.gz").rename(outside / f"{kind}.nii.gz")
    meta = json.loads((raw / "dataset.json").read_text())
    change(meta["training"][0], outside)
    (raw / "dataset.json").write_text(json.dumps(meta))
    manifest = manifests_copy(PROSTATE) / "datasets" / f"{PROSTATE}.yaml"
    return ["prepare", manifest, "--raw", raw, "--out", tmp_path / "out", "--lock", "--quiet"]


def _relative_escape(entry, outside):
    entry.update(image="../outside/imagesTr.nii.gz", label="./labelsTr/../../outside/labelsTr.nii.gz")


def _absolute(entry, outside):
    entry.update(image=str(outside / "imagesTr.nii.gz"), label=str(outside / "labelsTr.nii.gz"))


def _linked_folder(entry, outside):
    raw = outside.parent / "raw"
    (raw / "imagesTr" / "linked").symlink_to(outside, target_is_directory=True)
    entry.update(image="./imagesTr/linked/imagesTr.nii.gz", label="./imagesTr/linked/labelsTr.nii.gz")


@pytest.mark.parametrize("change", [_relative_escape, _absolute, _linked_folder],
                         ids=["../ entries", "absolute entries", "a link out of the folder"])
def test_msd_entries_outside_raw_are_refused(tmp_path, cli_runner, manifests_copy, change):
    result = cli_runner(*_msd_with(tmp_path, manifests_copy, change))
    assert_two_lines(result, 65, "training[0].image", "points outside the download folder")
    assert not (tmp_path / "out" / "nnUNet_raw").exists() or not any((tmp_path / "out" / "nnUNet_raw").iterdir())


def test_msd_entries_that_are_no_file_names_are_invalid_not_a_bug(tmp_path, cli_runner, manifests_copy):
    def no_label(entry, outside):
        entry.update(image="./imagesTr/prostate_01.nii.gz", label=7)

    assert_two_lines(cli_runner(*_msd_with(tmp_path, manifests_copy, no_label)), 65, "training[0].label")


# -- 3. a site profile can neither explode nor flood the error line --------------------------
BILLION_LAUGHS = "\n".join(  # 7 levels of 9 under a real key (checked first): 9**7 strings once expanded
    ["partition:", '  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"  - &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]" for i in range(6)]) + "\n"


def _profile_error(path) -> InvalidInput:
    started = time.monotonic()
    with pytest.raises(InvalidInput) as caught:
        load_profile(path)
    assert time.monotonic() - started < 5, "the profile check took too long"
    error = caught.value
    assert error.exit_code == 65
    assert len(error.message) + len(error.hint) < 1000, len(error.message)
    return error


def test_a_yaml_alias_bomb_profile_is_refused_quickly_in_a_short_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(BILLION_LAUGHS)
    assert "aliases are expanded" in _profile_error(path).message


def test_a_huge_value_is_shown_cut_short(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(f"partition: {'x' * 5000} y\nmodules: [{', '.join(['[1, 2, 3]'] * 1000)}]\n")
    assert "partition: 'xxx" in _profile_error(path).message
    path.write_text(f"? {'k' * 5000}\n: 1\n")  # an unknown (explicit, long) key is named, cut short too
    assert "unknown key" in _profile_error(path).message


def test_an_oversized_or_too_deep_profile_is_refused(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("# padding\n" * 120_000 + "partition: gpu\n")
    assert "larger than" in _profile_error(path).message
    path.write_text("partition: " + "[" * 100_000 + "]" * 100_000 + "\n")
    _profile_error(path)


def test_the_alias_bomb_through_grid_submit_is_exit_65(tmp_path, cli_runner):
    path = tmp_path / "site.yaml"
    path.write_text(BILLION_LAUGHS)
    grid = tmp_path / "grid"
    planned = cli_runner("grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--grid", grid,
                         "--out", tmp_path / "out", "--device", "cpu")
    assert planned.exit_code == 0, planned.output
    started = time.monotonic()
    result = cli_runner("grid", "submit", grid, "--profile", path, "--dry-run")
    assert time.monotonic() - started < 10
    assert len(result.stderr) < 1000, f"{len(result.stderr):,} characters: {result.stderr[:300]}"
    assert_two_lines(result, 65, "site profile")


# -- 4. a weights server can neither stall a fetch forever nor crash it ----------------------
class HostileServer(LoopbackServer):
    """127.0.0.1 only; each mode misbehaves in one way, every reply bounded in bytes and time."""

    def __init__(self, mode: str, *, every_s: float = 0.25, at_most: int = 60):
        self.stop = threading.Event()
        outer = self

        class Handler(QuietHandler):
            def trickle(self, data: bytes):
                for byte in data[:at_most]:  # one byte at a time, never faster than every_s
                    if outer.stop.wait(every_s):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()

            def do_GET(self):
                try:
                    if mode == "slow headers":
                        self.trickle(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Pad: " + b"x" * 200)
                        return
                    self.send_response(200)
                    self.send_header("Content-Length", "abc" if mode == "bad length" else "1000")
                    self.end_headers()
                    if mode == "bad length":
                        self.wfile.write(b"\0" * 1000)
                    else:
                        self.trickle(b"\0" * 1000)
                except OSError:  # the client gave up: that is the point
                    pass
                self.close_connection = True

        self.serve(Handler)
        self.url = f"{self.address}/small_ep4k.model"

    def __exit__(self, *exc):
        self.stop.set()  # trickling handlers stop at once
        super().__exit__(*exc)


def _registry(tmp_path):
    entry = {"scale": "S", "file": "small_ep4k.model", "url": "http://127.0.0.1:9/small_ep4k.model",
             "published_size": "117 MB"}
    path = tmp_path / "weights.yaml"
    path.write_text(json.dumps({"schema": "segbook-weights/1", "weights": [entry]}))
    return path


@pytest.mark.parametrize("mode", ["slow body", "slow headers"])
def test_a_trickling_server_meets_the_deadline(tmp_path, cli_runner, monkeypatch, mode):
    from segbook.weights import fetch  # noqa: PLC0415

    monkeypatch.setattr(fetch, "DEADLINE_S", 1.5, raising=False)  # bytes every 0.25 s: never a stall
    monkeypatch.setattr(fetch, "STALL_S", 5.0, raising=False)
    with HostileServer(mode) as server:
        started = time.monotonic()
        result = cli_runner("weights", "fetch", "S", "--registry", _registry(tmp_path), "--dest", tmp_path / "w",
                            "--url", server.url, "-q")
        elapsed = time.monotonic() - started
    assert elapsed < 6, f"took {elapsed:.1f} s"
    assert_two_lines(result, 78, "deadline (1.5 s")


def test_the_deadline_is_a_parameter_and_a_stall_is_its_own_error(tmp_path):
    from segbook.weights.fetch import download  # noqa: PLC0415

    part = tmp_path / ".x.part"
    with HostileServer("slow body", every_s=2.0) as server:
        started = time.monotonic()
        with pytest.raises(EnvironmentProblem, match=r"no data for 0.5 s"):
            download(server.url, part, lambda message: None, deadline_s=30, stall_s=0.5)
        with pytest.raises(EnvironmentProblem, match=r"deadline \(1 s"):
            download(server.url, part, lambda message: None, deadline_s=1, stall_s=10)
    assert time.monotonic() - started < 8


def test_a_malformed_content_length_is_invalid_input_not_a_bug(tmp_path, cli_runner):
    with HostileServer("bad length") as server:
        result = cli_runner("weights", "fetch", "S", "--registry", _registry(tmp_path), "--dest", tmp_path / "w",
                            "--url", server.url, "-q")
    assert_two_lines(result, 65, "malformed Content-Length ('abc')")


# -- 5. a seed every RNG takes, or a usage error at once -------------------------------------
@pytest.mark.parametrize("seed", [2**64, 2**32, -1])
@pytest.mark.parametrize("command", [
    # a raw folder that is not there: were the seed let through, this stops before any training
    ["finetune", "Task009_Spleen", "--model", "stunet-s", "--init", "scratch", "--device", "cpu"],
    ["grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--device", "cpu"],
], ids=["finetune", "grid plan"])
def test_a_seed_out_of_range_is_a_usage_error(tmp_path, cli_runner, command, seed):
    extra = ["--grid", tmp_path / "grid"] if command[0] == "grid" else ["--raw", tmp_path / "missing"]
    result = cli_runner(*command, *extra, "--out", tmp_path / "out", "--seed", seed)
    assert result.exit_code == 2, result.output[-2000:]
    assert "--seed" in result.stderr and "0<=x<=4294967295" in result.stderr, result.stderr
    assert not (tmp_path / "grid").exists() and not (tmp_path / "out" / "nnUNet_raw").exists()


def test_the_largest_seed_is_planned_and_a_library_caller_is_refused_too(tmp_path, cli_runner):
    from segbook.api.grid import PlanRequest  # noqa: PLC0415
    from segbook.core.errors import UsageProblem  # noqa: PLC0415

    result = cli_runner("grid", "plan", "--datasets", "Demo", "--configs", "nnunet", "--device", "cpu",
                        "--grid", tmp_path / "grid", "--out", tmp_path / "out", "--seed", 2**32 - 1)
    assert result.exit_code == 0, result.output[-2000:]
    with pytest.raises(UsageProblem, match="from 0 to 4294967295") as caught:
        PlanRequest(grid_dir=tmp_path / "g2", seed=2**64)
    assert caught.value.exit_code == 2
