#!/usr/bin/env python3
"""Reproduction check: the same deterministic run natively, in Podman, and the way Apptainer runs it.

1. builds the image (make image: Podman with runc on the debootstrap base; layers are cached);
2. makes a small pre-trained STU-Net-S checkpoint (official v1 format) to mount read-only at /weights;
3. runs `segbook finetune Demo` (deterministic, tiny schedule, CPU) three times:
   native (this checkout's venv); Podman through run.sh (--network none --read-only --tmpfs /tmp,
   an arbitrary uid 4242); Apptainer-style with Podman (host uid, read-only image, only the image's
   environment, HOME pointing at a folder that does not exist, explicit binds);
4. compares every hash of the three receipts (split, plans, pre-trained weights, final weights, each
   prediction) and re-checks each receipt against its files with `segbook verify`.
Exit 0 when everything agrees, 1 when a hash differs (the table says which), 78 when the
environment cannot run the check (no podman, build failed).

Usage: scripts/repro_check.py [--skip-build] [--work DIR] [--epochs N] [--iterations N] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = ("native", "podman", "apptainer-like")
CONTAINER_UID = "4242:4242"  # any uid: the image must not care who it runs as
EXIT_DIFFERENCES, EXIT_ENVIRONMENT = 1, 78


def log(message: str) -> None:
    print(f"[repro-check] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], *, what: str, env: dict | None = None) -> float:
    """Run a command in the foreground (its output streams through); return its duration."""
    log(f"{what}: {shlex.join(cmd)}")
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, check=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        log(f"{what} FAILED with exit code {proc.returncode} after {took:.0f} s")
        sys.exit(proc.returncode if proc.returncode in (EXIT_DIFFERENCES, EXIT_ENVIRONMENT) else 70)
    log(f"{what}: done in {took:.0f} s")
    return took


def finetune_args(out: str, weights: str, args) -> list[str]:
    return ["finetune", "Demo", "--out", out, "--model", "stunet-s", "--init", "pretrained",
            "--weights", weights, "--trust-unpinned", "--epochs", str(args.epochs),
            "--iterations-per-epoch", str(args.iterations), "--seed", "12345", "--deterministic",
            "--device", "cpu"]


def make_checkpoint(path: Path, python: str) -> float:
    """A briefly pre-trained STU-Net-S in the official v1 format (the demo's own pre-training)."""
    code = ("import sys; from pathlib import Path; from segbook.demo.pretrain import pretrain_stunet_s; "
            "pretrain_stunet_s(Path(sys.argv[1]), seed=12345, steps=2, progress=print)")
    return run([python, "-c", code, str(path)], what="pre-train demo checkpoint")


def podman_runtime_flags(args) -> list[str]:
    """OCI runtime and the --ulimit flags run.sh passes (this process's hard limits: the engines'
    defaults are higher than a sandbox lets a container raise them to)."""
    import resource  # noqa: PLC0415

    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    nproc = 32768 if nproc == resource.RLIM_INFINITY or nproc > 32768 else nproc
    flags = ["--runtime", args.podman_runtime] if args.podman_runtime else []
    flags += ["--ulimit", f"nproc={nproc}:{nproc}"]
    if nofile != resource.RLIM_INFINITY:
        flags += ["--ulimit", f"nofile={nofile}:{nofile}"]
    return flags


def apptainer_like(args, out: Path, weights: Path, image_id: str) -> list[str]:
    """What `apptainer run --containall --cleanenv --no-home --bind ...` gives, emulated with Podman:
    the host uid, a read-only image, only the image's environment, no home, private /tmp, binds."""
    home = f"/home/{os.getuid()}-not-mounted"
    return ["podman", "run", "--rm", *podman_runtime_flags(args), "--network", "none", "--read-only",
            "--tmpfs", "/tmp:rw,exec", "--shm-size", "2g",  # noqa: S108 - the container's private /tmp
            "--user", f"{os.getuid()}:{os.getgid()}",
            "--security-opt", "no-new-privileges", "--cap-drop", "ALL",
            "-e", f"HOME={home}", "-e", f"SEGBOOK_IMAGE={args.image}", "-e", f"SEGBOOK_IMAGE_DIGEST={image_id}",
            "-v", f"{out}:/output:rw", "-v", f"{weights}:/weights:ro", "--workdir", "/output",
            args.image, *finetune_args("/output", "/weights/demo_stunet_s.model", args)]


def receipt_of(out: Path) -> Path:
    found = sorted(out.glob("runs/*/*/receipt.json"))
    if len(found) != 1:
        log(f"expected one receipt under {out}, found {len(found)}")
        sys.exit(70)
    return found[0]


def hashes_of(receipt: dict) -> dict[str, str | None]:
    """Every hash determinism promises, flattened: name -> value."""
    hashes = receipt["hashes"]
    flat = {"split": hashes.get("split"), "plans": hashes.get("plans"), "final_weights": hashes.get("final_weights")}
    pretrained = hashes.get("pretrained_weights") or {}
    flat["pretrained_weights.file_sha256"] = pretrained.get("file_sha256")
    flat["pretrained_weights.tensor_sha256"] = pretrained.get("tensor_sha256")
    for case, value in sorted((hashes.get("predictions") or {}).items()):
        flat[f"prediction {case}"] = value
    flat["dataset"] = receipt.get("dataset", {}).get("dataset_sha256")
    return flat


def compare(receipts: dict[str, dict]) -> list[str]:
    """Print one row per hash; return the names of the hashes that differ (or are missing)."""
    tables = {name: hashes_of(r) for name, r in receipts.items()}
    keys = sorted(set().union(*tables.values()))
    differing = []
    print(f"{'hash':<36}" + "".join(f"{name:<18}" for name in receipts) + "agree")
    for key in keys:
        values = [tables[name].get(key) for name in receipts]
        agree = values[0] is not None and len(set(values)) == 1
        if not agree:
            differing.append(key)
        cells = "".join(f"{(v or 'MISSING')[:16]:<18}" for v in values)
        print(f"{key:<36}{cells}{'yes' if agree else 'NO'}")
    return differing


# run.sh names the engine; a plain run of the image says "container" (the image's default)
EXPECTED_KIND = {"podman": "podman", "apptainer-like": "container"}


def check_runtime_record(receipts: dict[str, dict], image_id: str) -> list[str]:
    """The container receipts must say where they ran: runtime kind and the image's digest."""
    problems = []
    for name, kind in EXPECTED_KIND.items():
        runtime = receipts[name].get("runtime", {})
        if runtime.get("kind") != kind or runtime.get("image_digest") != image_id:
            problems.append(f"{name} receipt records runtime {runtime.get('kind')!r} digest "
                            f"{runtime.get('image_digest')!r}, expected {kind} {image_id}")
    return problems


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="podman", choices=["podman"], help="only podman runs here")
    parser.add_argument("--podman-runtime", default="runc", help="OCI runtime for podman ('' = default)")
    parser.add_argument("--image", default=None, help="image name (default: make's IMAGE)")
    parser.add_argument("--base-image", default=None, help="base image (default: the debootstrap base)")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--work", type=Path, default=REPO / "build" / "repro-check")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--skip-build", action="store_true", help="use the image as it is")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("podman") is None:
        log("error: podman is not installed; hint: apt-get install podman runc debootstrap")
        return EXIT_ENVIRONMENT
    timings: dict[str, float] = {}
    make = ["make", "-f", "mk/containers.mk", "image", f"PODMAN_RUNTIME={args.podman_runtime}"]
    make += [f"IMAGE={args.image}"] if args.image else []
    make += [f"BASE_IMAGE={args.base_image}"] if args.base_image else []
    if not args.skip_build:
        timings["build"] = run(make, what="build image")
    if args.image is None:
        query = ["make", "-s", "-f", "mk/containers.mk", "--eval", "print-image:\n\t@echo $(IMAGE)", "print-image"]
        args.image = subprocess.run(query, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    inspect = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", args.image],
                             capture_output=True, text=True, check=False)
    if inspect.returncode != 0:
        log(f"error: image {args.image} not found; hint: make image")
        return EXIT_ENVIRONMENT
    image_id = "sha256:" + inspect.stdout.strip().removeprefix("sha256:")

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    outs = {name: work / name for name in RUNS}
    weights = work / "weights"
    for folder in (*outs.values(), weights):
        folder.mkdir(parents=True)
    os.chmod(outs["podman"], 0o777)  # noqa: S103 - written by uid 4242 inside the container
    timings["pretrain"] = make_checkpoint(weights / "demo_stunet_s.model", args.python)
    os.chmod(weights, 0o755)  # noqa: S103 - read by uid 4242 inside the container

    timings["native"] = run([args.python, "-m", "segbook", *finetune_args(
        str(outs["native"]), str(weights / "demo_stunet_s.model"), args)], what="native run")
    run_sh = [str(REPO / "run.sh"), "--runtime", "podman", "--image", args.image, "--user", CONTAINER_UID,
              "--output", str(outs["podman"]), "--weights", str(weights), "--"]
    env = dict(os.environ, SEGBOOK_PODMAN_RUNTIME=args.podman_runtime)
    timings["podman"] = run([*run_sh, *finetune_args("/output", "/weights/demo_stunet_s.model", args)],
                            what="podman run (run.sh)", env=env)
    timings["apptainer-like"] = run(apptainer_like(args, outs["apptainer-like"], weights, image_id),
                                    what="apptainer-like run")

    receipt_paths = {name: receipt_of(out) for name, out in outs.items()}
    receipts = {name: json.loads(path.read_text()) for name, path in receipt_paths.items()}
    differing = compare(receipts)
    problems = check_runtime_record(receipts, image_id)
    for name, path in receipt_paths.items():
        others = [str(p) for n, p in receipt_paths.items() if n != name]
        verify = [args.python, "-m", "segbook", "verify", str(path)] + [a for o in others for a in ("--against", o)]
        if subprocess.run(verify, cwd=REPO, check=False).returncode != 0:
            problems.append(f"segbook verify failed for the {name} receipt ({path})")
    total = sum(timings.values())
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + f"; total {total:.0f} s")
    for problem in problems:
        log(f"problem: {problem}")
    if differing or problems:
        if differing:
            log(f"DIFFERENT: {', '.join(differing)}")
        log(f"work folder kept for inspection: {work}")
        return EXIT_DIFFERENCES
    log(f"all {len(hashes_of(receipts['native']))} hashes agree across {', '.join(RUNS)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
