#!/usr/bin/env python3
"""Reproduction check: the same deterministic run natively, in a container, and from the Apptainer SIF.

1. builds the image (make image: Podman with runc on the debootstrap base, or `--engine docker`: the
   Docker CLI against the Docker API that DOCKER_HOST names; layers are cached) and, with Podman,
   the SIF from it (make sif: Apptainer, or squashfs-tools + siftool where Apptainer is missing);
2. makes a small pre-trained STU-Net-S checkpoint (official v1 format) to mount read-only at /weights;
3. runs `segbook finetune Demo` (deterministic, tiny schedule, CPU) three times:
   native (this checkout's venv); in the container through run.sh (--network none --read-only
   --tmpfs /tmp, an arbitrary uid 4242); and the third leg, the way Apptainer runs it (host uid,
   read-only root, a clean environment, HOME pointing at a folder that does not exist, explicit
   binds). With Podman that leg ("sif") runs the SIF file itself: its squashfs partition mounted
   from the file (squashfuse at the offset `siftool list` gives) and its own
   /.singularity.d/actions/run, so the file a cluster user copies is the file this check ran. With
   `--engine docker` (or --no-sif) it runs the image instead ("apptainer-like": see
   scripts/repro_engine.py and docs/ci.md);
4. compares every hash of the three receipts (split, plans, pre-trained weights, final weights, each
   prediction) and re-checks each receipt against its files with `segbook verify`;
5. writes WORK/summary.json and WORK/summary.md (the table, the verdict, timings) and a report of
   the three receipts in WORK/report/ (what CI uploads).
Exit 0 when everything agrees, 1 when a hash differs (the table says which), 78 when the
environment cannot run the check (no engine, no Docker API, no SIF tools, build failed).

Usage: scripts/repro_check.py [--engine podman|docker] [--skip-build] [--sif FILE | --no-sif] [--work DIR] ...
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import repro_engine  # the sibling module, found from this script's folder

from segbook.core.hashing import sha256_file
from segbook.verify.compared import compared_hashes, union_of_names

REPO = Path(__file__).resolve().parents[1]
EXIT_DIFFERENCES, EXIT_ENVIRONMENT = 1, 78


def run_names(runner: str, sif: bool = True) -> tuple[str, str, str]:
    """Column names: native, the CLI that ran the container (podman or docker), then the Apptainer leg:
    "sif" (the SIF's own file system) or "apptainer-like" (the image, run as Apptainer would)."""
    return ("native", runner, "sif" if sif else "apptainer-like")


RUNS = run_names("podman")


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


def receipt_of(out: Path) -> Path:
    found = sorted(out.glob("runs/*/*/receipt.json"))
    if len(found) != 1:
        log(f"expected one receipt under {out}, found {len(found)}")
        sys.exit(70)
    return found[0]


def hashes_of(receipt: dict) -> dict[str, object]:
    """Every hash determinism promises, flattened: name -> value (verify --against compares the same list)."""
    return compared_hashes(receipt)


def hash_rows(receipts: dict[str, dict]) -> list[dict]:
    """One row per hash: its name, the value in each receipt (run order), and whether all agree."""
    tables = {name: hashes_of(r) for name, r in receipts.items()}
    rows = []
    for key in union_of_names(*tables.values()):
        values = [tables[name].get(key) for name in receipts]
        rows.append({"hash": key, "values": values, "agree": values[0] is not None and len(set(values)) == 1})
    return rows


def compare(receipts: dict[str, dict]) -> list[str]:
    """Print one row per hash; return the names of the hashes that differ (or are missing)."""
    print(f"{'hash':<36}" + "".join(f"{name:<18}" for name in receipts) + "agree")
    for row in hash_rows(receipts):
        cells = "".join(f"{str(v or 'MISSING')[:16]:<18}" for v in row["values"])
        print(f"{row['hash']:<36}{cells}{'yes' if row['agree'] else 'NO'}")
    return [row["hash"] for row in hash_rows(receipts) if not row["agree"]]


def expected_runtimes(runner: str, image_id: str, sif_digest: str | None) -> dict[str, tuple[str, str]]:
    """Run name -> the runtime kind and digest its receipt must record. run.sh names the engine; a plain
    run of the image says "container" (the image's default); the SIF says apptainer and its file's sha256."""
    third = ("sif", ("apptainer", sif_digest)) if sif_digest else ("apptainer-like", ("container", image_id))
    return {runner: (runner, image_id), third[0]: third[1]}


def check_runtime_record(receipts: dict[str, dict], expected: dict[str, tuple[str, str]]) -> list[str]:
    """The container receipts must say where they ran: runtime kind and the image's (or SIF's) digest."""
    problems = []
    for name, (kind, digest) in expected.items():
        runtime = receipts[name].get("runtime", {})
        if runtime.get("kind") != kind or runtime.get("image_digest") != digest:
            problems.append(f"{name} receipt records runtime {runtime.get('kind')!r} digest "
                            f"{runtime.get('image_digest')!r}, expected {kind} {digest}")
    return problems


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="podman", choices=["podman", "docker"],
                        help="CLI that builds, inspects and runs the image (docker: through DOCKER_HOST's API)")
    parser.add_argument("--podman-runtime", default="runc", help="OCI runtime for podman ('' = default)")
    parser.add_argument("--image", default=None, help="image name (default: make's IMAGE)")
    parser.add_argument("--base-image", default=None, help="base image (default: the debootstrap base)")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--work", type=Path, default=REPO / "build" / "repro-check")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--skip-build", action="store_true", help="use the image (and the SIF) as they are")
    parser.add_argument("--sif", type=Path, default=REPO / "build" / "segbook.sif",
                        help="the SIF the Apptainer leg runs (podman; built by make sif unless --skip-build)")
    parser.add_argument("--no-sif", action="store_true",
                        help="run the Apptainer leg from the image instead of the SIF (what --engine docker does)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (CI uploads it)")
    return parser.parse_args(argv)


def build_and_inspect(args, timings: dict) -> str:
    """Build (unless --skip-build) with the engine's CLI; return the image id; exit 78 if there is none."""
    make = ["make", "-f", "mk/containers.mk", "image", f"ENGINE={args.engine}", f"PODMAN_RUNTIME={args.podman_runtime}"]
    make += [f"IMAGE={args.image}"] if args.image else []
    make += [f"BASE_IMAGE={args.base_image}"] if args.base_image else []
    if not args.skip_build:
        timings["build"] = run(make, what=f"build image ({args.engine})")
    if args.image is None:
        query = ["make", "-s", "-f", "mk/containers.mk", "--eval", "print-image:\n\t@echo $(IMAGE)", "print-image"]
        args.image = subprocess.run(query, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    found = repro_engine.image_id(args.engine, args.image)
    if found is None:
        log(f"error: image {args.image} not found by {args.engine}; hint: make image ENGINE={args.engine}")
        sys.exit(EXIT_ENVIRONMENT)
    log(f"image {args.image} = {found} ({args.engine} image inspect)")
    return found


def sif_leg(args, timings: dict) -> str | None:
    """The SIF's sha256 digest when the Apptainer leg runs the SIF (built first unless --skip-build), else None."""
    if args.no_sif or args.engine != "podman":
        return None
    args.sif = args.sif.resolve()
    if not args.skip_build:
        make = ["make", "-f", "mk/containers.mk", "sif", f"IMAGE={args.image}", f"SIF={args.sif}"]
        timings["sif"] = run(make, what="build the SIF (make sif)")
    problem = repro_engine.sif_problem(args.engine, args.sif)
    if problem:
        log(f"error: {problem}")
        sys.exit(EXIT_ENVIRONMENT)
    digest = "sha256:" + sha256_file(args.sif)
    log(f"SIF {args.sif} = {digest}")
    return digest


def run_all(args, runner: str, image_id: str, sif_digest: str | None, work: Path,
            timings: dict) -> dict[str, Path]:
    """The three runs; returns run name -> its output folder."""
    names = run_names(runner, sif=sif_digest is not None)
    outs = {name: work / name for name in names}
    weights = work / "weights"
    for folder in (*outs.values(), weights):
        folder.mkdir(parents=True)
    os.chmod(outs[runner], 0o777)  # noqa: S103 - written by uid 4242 inside the container
    timings["pretrain"] = make_checkpoint(weights / "demo_stunet_s.model", args.python)
    os.chmod(weights, 0o755)  # noqa: S103 - read by uid 4242 inside the container
    timings["native"] = run([args.python, "-m", "segbook", *finetune_args(
        str(outs["native"]), str(weights / "demo_stunet_s.model"), args)], what="native run")
    run_sh = [str(REPO / "run.sh"), "--runtime", runner, "--image", args.image, "--user",
              repro_engine.CONTAINER_UID, "--output", str(outs[runner]), "--weights", str(weights), "--"]
    env = dict(os.environ, SEGBOOK_PODMAN_RUNTIME=args.podman_runtime)
    timings[runner] = run([*run_sh, *finetune_args("/output", "/weights/demo_stunet_s.model", args)],
                          what=f"{runner} run (run.sh)", env=env)
    inside = finetune_args("/output", "/weights/demo_stunet_s.model", args)
    if sif_digest is None:
        app = repro_engine.apptainer_like(runner, args.podman_runtime, args.image, image_id, outs[names[2]],
                                          weights, inside)
        timings[names[2]] = run(app, what="apptainer-like run (the image)")
        return outs
    with repro_engine.mounted_sif(args.sif, work / "sif-root") as rootfs:
        app = repro_engine.sif_run(runner, args.podman_runtime, args.image, args.sif, sif_digest, rootfs,
                                   outs[names[2]], weights, inside)
        timings[names[2]] = run(app, what="SIF run (its squashfs, its /.singularity.d/actions/run)")
    return outs


def write_outputs(work: Path, summary: dict, receipt_paths: dict, python: str) -> None:
    """summary.json, summary.md (the hash table) and a report of the receipts (what CI uploads)."""
    (work / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    names = list(receipt_paths)
    lines = [f"# Reproduction check: {summary['verdict']}", "",
             f"image `{summary['image']}` ({summary['image_id']}); built/inspected with {summary['engine']}, "
             f"containers run with {summary['runner']}"
             + (f"; SIF `{summary['sif']}` ({summary['sif_digest']})" if summary.get("sif") else ""), "",
             "| hash | " + " | ".join(names) + " | agree |", "|---|" + "---|" * (len(names) + 1)]
    for row in summary["hashes"]:
        lines.append(f"| {row['hash']} | " + " | ".join(str(v or "MISSING")[:16] for v in row["values"])
                     + f" | {'yes' if row['agree'] else 'NO'} |")
    lines += ["", "Problems: " + ("; ".join(summary["problems"]) or "none"),
              "Timings (s): " + ", ".join(f"{k} {v:.0f}" for k, v in summary["timings"].items()), ""]
    (work / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    report = [python, "-m", "segbook", "report", *map(str, receipt_paths.values()), "--out-root", str(work),
              "--out", str(work / "report"), "--no-verify", "--force"]
    if subprocess.run(report, cwd=REPO, check=False).returncode != 0:
        log("warning: the report of the receipts could not be built (the check's verdict stands)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problem = repro_engine.engine_problem(args.engine)
    if problem:
        log(f"error: {problem}")
        return EXIT_ENVIRONMENT
    runner = args.engine
    if runner == "docker" and repro_engine.docker_api_is_podman():
        log("the Docker API here is Podman's (podman system service): every build, inspect and run goes "
            "through it with the docker CLI")
    timings: dict[str, float] = {}
    image_id = build_and_inspect(args, timings)
    sif_digest = sif_leg(args, timings)
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    outs = run_all(args, runner, image_id, sif_digest, work, timings)

    receipt_paths = {name: receipt_of(out) for name, out in outs.items()}
    receipts = {name: json.loads(path.read_text()) for name, path in receipt_paths.items()}
    differing = compare(receipts)
    problems = check_runtime_record(receipts, expected_runtimes(runner, image_id, sif_digest))
    for name, path in receipt_paths.items():
        others = [str(p) for n, p in receipt_paths.items() if n != name]
        verify = [args.python, "-m", "segbook", "verify", str(path)] + [a for o in others for a in ("--against", o)]
        if subprocess.run(verify, cwd=REPO, check=False).returncode != 0:
            problems.append(f"segbook verify failed for the {name} receipt ({path})")
    total = sum(timings.values())
    log("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()) + f"; total {total:.0f} s")
    for problem in problems:
        log(f"problem: {problem}")
    verdict = "DIFFERENT" if differing or problems else "all hashes agree"
    summary = {"verdict": verdict, "engine": args.engine, "runner": runner, "image": args.image,
               "image_id": image_id, "sif": str(args.sif) if sif_digest else None, "sif_digest": sif_digest,
               "differing": differing, "problems": problems, "timings": timings,
               "receipts": {n: str(p) for n, p in receipt_paths.items()}, "hashes": hash_rows(receipts)}
    write_outputs(work, summary, receipt_paths, args.python)
    if differing or problems:
        if differing:
            log(f"DIFFERENT: {', '.join(differing)}")
        log(f"work folder kept for inspection: {work}")
        return EXIT_DIFFERENCES
    log(f"all {len(hashes_of(receipts['native']))} hashes agree across {', '.join(outs)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
