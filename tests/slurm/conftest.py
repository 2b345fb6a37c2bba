"""A real single-node Slurm for the grid tests: munged, slurmctld and slurmd from Debian's packages.

Everything lives in one temporary folder (a private munge key and socket, slurm.conf, state, spool,
logs) and on free ports, so it never touches a Slurm or munge the machine may already run. The
cluster is started once per session and stopped at the end, also when a test fails. Tests get
SLURM_CONF in their environment. If it cannot start, the tests FAIL with the daemons' logs; they
skip only where the packages are not installed and this is not CI (CI installs them: make test-deps).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import in_ci

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scontrol", "scancel")
START_TIMEOUT_S = 90


def _find(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _real_memory_mb() -> int:
    with open("/proc/meminfo", encoding="utf-8") as handle:
        total_kb = next(int(line.split()[1]) for line in handle if line.startswith("MemTotal:"))
    return max(1024, total_kb // 1024 - 1024)


@dataclass
class SlurmCluster:
    base: Path
    conf: Path
    processes: dict

    @property
    def env(self) -> dict:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60,
                                env={**os.environ, **self.env})
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr}")
        return result

    def logs(self) -> str:
        parts = []
        for log in sorted((self.base / "log").glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-40:]
            parts.append(f"--- {log.name} (last lines)\n" + "\n".join(tail))
        return "\n".join(parts)


def _slurm_conf(base: Path, host: str, ports: list[int], user: str) -> str:
    return "\n".join([
        "ClusterName=segbooktest",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ports[0]}",
        f"SlurmdPort={ports[1]}",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={base / 'munge' / 'munge.socket'}",
        f"SlurmUser={user}",
        f"SlurmdUser={user}",
        f"StateSaveLocation={base / 'state'}",
        f"SlurmdSpoolDir={base / 'spool'}",
        f"SlurmctldPidFile={base / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={base / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={base / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={base / 'log' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "MpiDefault=none",
        "ReturnToService=2",
        "JobCompType=jobcomp/none",
        "AccountingStorageType=accounting_storage/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MaxJobCount=10000",
        "MaxArraySize=10001",
        "MinJobAge=600",
        "KillWait=10",
        "InactiveLimit=0",
        f"NodeName={host} NodeAddr=127.0.0.1 CPUs=2 RealMemory={_real_memory_mb()} State=UNKNOWN",
        f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def _start(cluster: SlurmCluster, name: str, argv: list[str]) -> None:
    log = open(cluster.base / "log" / f"{name}.out", "w", encoding="utf-8")  # lives with the daemon
    cluster.processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                               env={**os.environ, **cluster.env}, start_new_session=True)


def _wait_idle(cluster: SlurmCluster) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    state = ""
    while time.monotonic() < deadline:
        for name, proc in cluster.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited {proc.returncode} while Slurm was starting")
        result = cluster.run("sinfo", "--noheader", "--format=%t", check=False)
        state = result.stdout.strip()
        if result.returncode == 0 and state in ("idle", "idle~", "mix", "alloc"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the node did not become idle within {START_TIMEOUT_S} s (sinfo: {state!r})")


def _stop(cluster: SlurmCluster) -> None:
    if "slurmctld" in cluster.processes and cluster.processes["slurmctld"].poll() is None:
        cluster.run("scancel", "--me", check=False)  # jobs first, so their steps end with them
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and cluster.run("squeue", "--me", "--noheader", check=False).stdout.strip():
            time.sleep(0.5)
    for name in ("slurmd", "slurmctld", "munged"):
        proc = cluster.processes.get(name)
        if proc is None or proc.poll() is not None:
            continue
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="session")
def slurm_cluster():
    missing = [n for n in DAEMONS + CLIENTS if not _find(n)]
    if missing:
        message = f"Slurm/munge not installed ({', '.join(missing)} missing; Debian: slurm-wlm munge)"
        if in_ci():
            pytest.fail(message + ": CI must run these tests (make test-deps installs them)")
        pytest.skip(message)
    # not pytest's tmp_path: munged wants every folder above its socket searchable by everyone
    base = Path(tempfile.mkdtemp(prefix="segbook-slurm-", dir="/tmp"))
    base.chmod(0o755)
    for sub in ("munge", "state", "spool", "log", "run"):
        (base / sub).mkdir()
    (base / "munge").chmod(0o755)
    key_dir = base / "munge-key"
    key_dir.mkdir(mode=0o700)
    host = socket.gethostname().split(".")[0]
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
    conf = base / "slurm.conf"
    conf.write_text(_slurm_conf(base, host, _free_ports(2), user))
    cluster = SlurmCluster(base, conf, {})
    try:
        subprocess.run([_find("mungekey"), "--create", "--keyfile", str(key_dir / "munge.key")], check=True,
                       capture_output=True, text=True)
        munge = base / "munge"
        _start(cluster, "munged", [_find("munged"), "--foreground", "--force", f"--socket={munge / 'munge.socket'}",
                                   f"--key-file={key_dir / 'munge.key'}", f"--pid-file={munge / 'munged.pid'}",
                                   f"--log-file={base / 'log' / 'munged.log'}", f"--seed-file={munge / 'seed'}"])
        deadline = time.monotonic() + 20
        while not (munge / "munge.socket").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        _start(cluster, "slurmctld", [_find("slurmctld"), "-D", "-i", "-f", str(conf)])
        _start(cluster, "slurmd", [_find("slurmd"), "-D", "-f", str(conf)])
        _wait_idle(cluster)
    except (OSError, subprocess.SubprocessError, RuntimeError, AssertionError) as exc:
        logs = cluster.logs() + "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')[-2000:]}"
                                        for p in (base / "log").glob("*.out"))
        _stop(cluster)
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start a single-node Slurm: {exc}\n{logs}")
    try:
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def slurm_environment(slurm_cluster, monkeypatch):
    """Every test here talks to the fixture's cluster (segbook's own squeue/sbatch calls too)."""
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.conf))
    return slurm_cluster
