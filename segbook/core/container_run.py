"""The one command line that runs the kit's image: used by run.sh, the grid, repro-check and `ci init`.

Every hardening flag, mount and limit is decided here, once, so a cell run by the grid on a cluster,
a run through run.sh on a workstation, the reproduction check and a paper's CI workflow start the
image the same way. The mount contract: /input raw data (read-only), /output everything written,
/weights the checkpoints (read-only).

Standard library only, and runnable from a checkout without installing the kit
(`PYTHONPATH=CHECKOUT python3 -m segbook.core.container_run ... -- SEGBOOK_ARGS`, which run.sh does):
it prints the argv NUL-separated, so no path is ever parsed by a shell.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from segbook.core.errors import EnvironmentProblem, InvalidInput, SegbookError, UsageProblem

ENGINES = ("docker", "podman", "apptainer")
INPUT, OUTPUT, WEIGHTS, MODEL = "/input", "/output", "/weights", "/model"
MOUNT_POINTS = (INPUT, OUTPUT, WEIGHTS, MODEL)  # the image creates each (containers/Dockerfile)
# docker/podman: no network, a read-only image with a private executable /tmp, no new privileges,
# no capabilities (Apptainer's --containall --cleanenv --no-home is the same idea in its own words)
HARDENING = ("--network", "none", "--read-only", "--tmpfs", "/tmp:rw,exec", "--shm-size", "2g",  # noqa: S108
             "--security-opt", "no-new-privileges", "--cap-drop", "ALL")
APPTAINER_ISOLATION = ("--containall", "--cleanenv", "--no-home")
NPROC_CAP = 32768  # podman refuses more processes than this for itself
BIND_UNSAFE = (":", ",")  # the engines' -v and Apptainer's --bind split on these


@dataclass(frozen=True)
class Mount:
    host: str
    inside: str  # INPUT, OUTPUT, WEIGHTS or MODEL
    writable: bool = False


@dataclass(frozen=True)
class ContainerRun:
    """Everything that differs between two runs of the image; the rest is fixed above."""

    engine: str  # one of ENGINES
    image: str  # image reference (docker/podman) or SIF file (apptainer)
    mounts: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()  # set inside the container
    pass_env: tuple[str, ...] = ()  # docker/podman: passed through from the caller's environment when set
    user: str | None = None  # docker/podman uid:gid; Apptainer always runs as the caller
    gpu: bool = False
    limits: tuple[str, ...] = ()  # docker/podman: from limit_flags(), where the engine runs
    binary: str | None = None  # default: the engine's name


def container_argv(run: ContainerRun, segbook_args: Sequence[str]) -> list[str]:
    """The argv that runs `segbook SEGBOOK_ARGS` in the image (InvalidInput for a path no engine can bind)."""
    if run.engine not in ENGINES:
        raise UsageProblem(f"unknown container engine {run.engine!r}", hint=f"one of {', '.join(ENGINES)}")
    for mount in run.mounts:
        bindable(mount.host, f"the folder for {mount.inside}")
    binary = run.binary or run.engine
    if run.engine == "apptainer":
        argv = [binary, "run", *APPTAINER_ISOLATION, "--pwd", OUTPUT, *(["--nv"] if run.gpu else [])]
        for mount in run.mounts:
            argv += ["--bind", f"{mount.host}:{mount.inside}" + ("" if mount.writable else ":ro")]
        for name, value in run.env:
            if "," in value:  # --env splits its value on commas
                raise InvalidInput(f"{name} value {value!r} contains ',', which apptainer --env cannot pass",
                                   hint="move or symlink the file to a path without commas")
            argv += ["--env", f"{name}={value}"]
        return [*argv, run.image, *segbook_args]
    argv = [binary, "run", "--rm", *run.limits, *HARDENING]
    if run.user:
        argv += ["--user", run.user]
    argv += ["--workdir", OUTPUT]
    for mount in run.mounts:
        argv += ["-v", f"{mount.host}:{mount.inside}:{'rw' if mount.writable else 'ro'}"]
    for name, value in run.env:
        argv += ["-e", f"{name}={value}"]
    for name in run.pass_env:
        argv += ["-e", name]
    if run.gpu:
        argv += ["--device", "nvidia.com/gpu=all"] if run.engine == "podman" else ["--gpus", "all"]
    return [*argv, run.image, *segbook_args]


def bindable(path: str, what: str) -> str:
    if any(ch in path for ch in BIND_UNSAFE):
        raise InvalidInput(f"{what} {path!r} contains ':' or ',', which container bind options cannot express",
                           hint="move or symlink it to a path without them, or run natively")
    return path


def limit_flags(engine: str, *, podman_behind_docker: bool = False, oci_runtime: str | None = None) -> tuple[str, ...]:
    """This process's hard limits as --ulimit, and podman's OCI runtime when one is named.

    The engines ask for about a million open files (and podman for more processes than it allows
    itself); where raising a hard limit is not permitted (sandboxes, CI runners, some clusters) the
    container would not even start ("error setting rlimit type 6"; behind Podman's Docker API the
    docker CLI says only "unable to upgrade to tcp, received 409"). So the container gets the
    caller's own limits. Computed where the engine runs: a rendered CI workflow passes none.
    """
    if engine == "apptainer":
        return ()
    flags: list[str] = ["--runtime", oci_runtime] if engine == "podman" and oci_runtime else []
    if engine == "podman" or podman_behind_docker:
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = NPROC_CAP if nproc == resource.RLIM_INFINITY or nproc > NPROC_CAP else nproc
        flags += ["--ulimit", f"nproc={nproc}:{nproc}"]
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile != resource.RLIM_INFINITY:
        flags += ["--ulimit", f"nofile={nofile}:{nofile}"]
    return tuple(flags)


def docker_server_components(docker: str = "docker") -> str | None:
    """The Docker API server's component names (e.g. "Engine" or "Podman Engine"), None if unreachable."""
    if shutil.which(docker) is None:
        return None
    proc = subprocess.run([docker, "version", "--format", "{{range .Server.Components}}{{.Name}};{{end}}"],
                          capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout.strip() if proc.returncode == 0 else None


def docker_api_is_podman(docker: str = "docker") -> bool:
    return "Podman" in (docker_server_components(docker) or "")


def podman_oci_runtime(podman: str, image: str, configured: str | None) -> str | None:
    """The OCI runtime podman should use: the configured one, else runc where the default crun cannot
    set the container's rlimits here (some sandboxes), else podman's own default (None)."""
    if configured:
        return configured
    if shutil.which("runc") is None:
        return None
    info = subprocess.run([podman, "info", "--format", "{{.Host.OCIRuntime.Name}}"], capture_output=True, text=True,
                          check=False, timeout=120)
    if info.stdout.strip() != "crun":
        return None
    probe = subprocess.run([podman, "run", "--rm", "--network", "none", *limit_flags("podman"), "--entrypoint",
                            "/bin/true", image], capture_output=True, text=True, check=False, timeout=300)
    return "runc" if "rlimit" in probe.stdout + probe.stderr else None


def host_limits(engine: str, image: str, *, binary: str | None = None,
                oci_runtime: str | None = None) -> tuple[str, ...]:
    """limit_flags() for `engine` on this host: Podman's OCI runtime resolved (podman_oci_runtime), and
    whether a docker CLI talks to Podman's API (then nproc too). What run.sh, the grid and repro-check pass."""
    binary = binary or engine
    if engine == "podman":
        return limit_flags(engine, oci_runtime=podman_oci_runtime(binary, image, oci_runtime))
    return limit_flags(engine, podman_behind_docker=engine == "docker" and docker_api_is_podman(binary))


# ---- the command line run.sh calls ---------------------------------------------------------------

def _mount(text: str) -> Mount:
    host, sep, rest = text.rpartition(":")
    host, sep2, inside = host.rpartition(":")
    if not (sep and sep2 and host) or rest not in ("ro", "rw") or inside not in MOUNT_POINTS:
        raise UsageProblem(f"--mount wants HOST:{{{','.join(MOUNT_POINTS)}}}:ro|rw, got {text!r}")
    return Mount(host, inside, rest == "rw")


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageProblem(f"--env wants NAME=VALUE, got {text!r}")
    return name, value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m segbook.core.container_run",
                                     description="Print, NUL-separated, the argv that runs segbook in the kit's image.")
    parser.add_argument("--engine", required=True, choices=ENGINES)
    parser.add_argument("--image", required=True)
    parser.add_argument("--binary", help="the engine's executable (default: its name)")
    parser.add_argument("--mount", action="append", default=[], type=_mount, metavar="HOST:INSIDE:ro|rw")
    parser.add_argument("--env", action="append", default=[], type=_pair, metavar="NAME=VALUE")
    parser.add_argument("--user", help="uid:gid inside the container (docker/podman)")
    parser.add_argument("--gpu", action="store_true")
    parser.add_argument("--host-limits", action="store_true",
                        help="pass this process's hard limits (and podman's OCI runtime) to the engine")
    parser.add_argument("--oci-runtime", default="", help="podman's OCI runtime (default: detected)")
    parser.add_argument("segbook_args", nargs="*")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except UsageProblem as exc:  # argparse calls the type functions while parsing
        return _fail(exc)
    try:
        limits = host_limits(args.engine, args.image, binary=args.binary,
                             oci_runtime=args.oci_runtime or None) if args.host_limits else ()
        run = ContainerRun(args.engine, args.image, tuple(args.mount), tuple(args.env), user=args.user,
                           gpu=args.gpu, limits=limits, binary=args.binary)
        command = container_argv(run, args.segbook_args)
    except (SegbookError, OSError, subprocess.SubprocessError) as exc:
        return _fail(exc if isinstance(exc, SegbookError) else EnvironmentProblem(str(exc)))
    sys.stdout.write("".join(f"{word}\0" for word in command))
    return 0


def _fail(exc: SegbookError) -> int:
    print(f"error: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
    return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
