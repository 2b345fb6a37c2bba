#!/usr/bin/env python3
"""Build the Apptainer SIF from the kit image without Apptainer (Debian's squashfs-tools and siftool).

What `apptainer build segbook.sif containers/segbook.def` writes, from the same image:
1. the image's root file system, read in place from the engine's store (`podman image mount`),
   plus the `/.singularity.d` tree Apptainer adds (scripts/sif_layout.py: the def file, labels,
   runscript, test, help, the environment scripts and the actions), packed by `mksquashfs` (gzip,
   the compression every Apptainer and squashfuse reads);
2. a SIF made with `siftool` (the reference SIF implementation): the def file (Def.FILE), the
   inspect metadata (JSON.Generic) and the squashfs as the primary system partition (amd64), all in
   object group 1, behind Apptainer's launch line, so `./segbook.sif` runs with Apptainer installed.
Built under a temporary name beside OUT and renamed when complete; an existing OUT is kept unless
--force. `make sif` calls this where Apptainer is missing (docs/containers.md says what only a real
Apptainer proves).

Exit codes: 0 built; 2 usage; 65 the def file or the image cannot be built this way; 73 OUT exists
(no --force) or cannot be written; 78 a tool or the image is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import sif_layout  # the sibling module, found from this script's folder

from segbook.core.hashing import sha256_file

REPO = Path(__file__).resolve().parents[1]
EXIT_USAGE, EXIT_DATAERR, EXIT_CANTCREAT, EXIT_CONFIG = 2, 65, 73, 78
TOOLS = {"mksquashfs": "squashfs-tools", "siftool": "siftool"}
# the SIF's 32-byte launch field, as Apptainer writes it: the file runs as `./image.sif ARGS`
LAUNCH_SCRIPT = b"#!/usr/bin/env run-singularity\n"
SIF_GROUP = "1"  # Apptainer puts the def, the metadata and the system partition in object group 1
ARCHITECTURES = {"amd64": "2", "arm64": "4", "ppc64le": "6", "s390x": "11", "riscv64": "12"}  # siftool --partarch


class BuildFailure(Exception):
    def __init__(self, code: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.hint = code, hint


def log(message: str) -> None:
    print(f"[build-sif] {message}", file=sys.stderr, flush=True)


def run(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    start = time.monotonic()
    proc = subprocess.run(cmd, check=False, **kwargs)
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()[-1:] if kwargs.get("capture_output") else []
        raise BuildFailure(EXIT_CONFIG, f"{what} failed (exit {proc.returncode}): {' '.join(detail) or cmd[0]}",
                           f"rerun the command to see its output: {' '.join(cmd)}")
    log(f"{what}: {time.monotonic() - start:.0f} s")
    return proc


def check_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(sorted({TOOLS[tool] for tool in missing}))
        raise BuildFailure(EXIT_CONFIG, f"{', '.join(missing)} not installed (needed to build a SIF without Apptainer)",
                           f"apt-get install {packages}, or install Apptainer and run `make sif`")


def inspect(engine: str, image: str) -> dict:
    proc = subprocess.run([engine, "image", "inspect", image], capture_output=True, text=True, check=False,
                          timeout=120)
    if proc.returncode != 0:
        raise BuildFailure(EXIT_CONFIG, f"image {image!r} not found by {engine}", "build it first: make image")
    found = json.loads(proc.stdout)
    return found[0] if isinstance(found, list) else found


@contextmanager
def mounted_image(engine: str, image: str) -> Iterator[Path]:
    """The image's root file system, read-only, straight from the engine's store (no copy)."""
    if engine != "podman":
        raise BuildFailure(EXIT_USAGE, f"--engine {engine} cannot mount an image's file system",
                           "build the SIF with --engine podman (podman load -i an image saved from docker)")
    if os.geteuid() != 0:
        raise BuildFailure(EXIT_CONFIG, "podman image mount needs root (rootless podman keeps the layers in a "
                                        "user namespace)", "run it as: podman unshare make sif")
    proc = run([engine, "image", "mount", image], "mount the image", capture_output=True, text=True)
    try:
        yield Path(proc.stdout.strip())
    finally:
        subprocess.run([engine, "image", "unmount", image], capture_output=True, check=False)


def squash(rootfs: Path, staging: Path, dest: Path, level: int, processors: int) -> None:
    """The image's files, then the /.singularity.d tree appended into the same root."""
    clash = [name for name in (*sif_layout.ROOT_LINKS, sif_layout.SINGULARITY_D) if os.path.lexists(rootfs / name)]
    if clash:
        raise BuildFailure(EXIT_DATAERR, f"the image already has {', '.join('/' + c for c in clash)}",
                           "build from an OCI image that was not converted from a SIF")
    quiet = [] if sys.stderr.isatty() else ["-no-progress"]
    run(["mksquashfs", str(rootfs), str(dest), "-noappend", "-no-recovery", "-comp", "gzip",
         "-Xcompression-level", str(level), "-processors", str(processors), *quiet],
        f"mksquashfs the image's file system (gzip level {level}, {processors} cores)",
        stdout=subprocess.DEVNULL if quiet else None)
    run(["mksquashfs", str(staging), str(dest), "-no-recovery", "-no-progress"], "append /.singularity.d",
        capture_output=True, text=True)


def assemble(sif: Path, definition: Path, metadata: Path, squashfs: Path, arch: str) -> None:
    run(["siftool", "new", str(sif)], "siftool new", capture_output=True, text=True)
    with open(sif, "r+b") as handle:  # siftool leaves the launch field empty; Apptainer fills it
        handle.write(LAUNCH_SCRIPT.ljust(32, b"\0"))
    run(["siftool", "add", "--datatype", "1", "--groupid", SIF_GROUP, "--filename", "Singularity", str(sif),
         str(definition)], "add the def file", capture_output=True, text=True)
    run(["siftool", "add", "--datatype", "6", "--groupid", SIF_GROUP, "--filename", "inspect-metadata.json",
         str(sif), str(metadata)], "add the inspect metadata", capture_output=True, text=True)
    run(["siftool", "add", "--datatype", "4", "--parttype", "2", "--partfs", "1", "--partarch", ARCHITECTURES[arch],
         "--groupid", SIF_GROUP, str(sif), str(squashfs)], "add the system partition", capture_output=True, text=True)
    run(["siftool", "list", str(sif)], "siftool list (the SIF reads back)", capture_output=True, text=True)


def build(args) -> Path:
    out = args.out.resolve()
    if out.exists() and not args.force:
        raise BuildFailure(EXIT_CANTCREAT, f"{out} exists", "pass --force to replace it (make sif does)")
    check_tools()
    image = inspect(args.engine, args.image)
    arch = image.get("Architecture") or "amd64"
    if arch not in ARCHITECTURES:
        raise BuildFailure(EXIT_DATAERR, f"the image is for {arch!r}", f"one of {', '.join(ARCHITECTURES)}")
    image_id = "sha256:" + str(image.get("Id", "")).removeprefix("sha256:")
    try:
        definition = sif_layout.parse_definition(args.definition.read_text(encoding="utf-8"),
                                                 {"ARCHIVE": f"{args.image} ({image_id})"})
    except (OSError, sif_layout.DefinitionError) as err:
        raise BuildFailure(EXIT_DATAERR, f"{args.definition}: {err}",
                           "fix the def file (see containers/segbook.def)") from err
    builder = {"org.segbook.sif-builder": "scripts/build_sif.py (squashfs-tools + siftool, no Apptainer)",
               "org.segbook.sif-source-image": args.image, "org.segbook.sif-source-image-id": image_id,
               "org.label-schema.build-arch": arch, "org.label-schema.schema-version": "1.0"}
    files = sif_layout.layout(definition, image, builder)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.build-") as tmp:
        work = Path(tmp)
        sif_layout.write_tree(work / "tree", files)
        (work / "Singularity").write_text(definition.text, encoding="utf-8")
        (work / "metadata.json").write_text(json.dumps(sif_layout.metadata(definition, files)), encoding="utf-8")
        with mounted_image(args.engine, args.image) as rootfs:
            squash(rootfs, work / "tree", work / "rootfs.squashfs", args.gzip_level, args.processors)
        assemble(work / "image.sif", work / "Singularity", work / "metadata.json", work / "rootfs.squashfs", arch)
        (work / "image.sif").chmod(0o755)
        os.replace(work / "image.sif", out)
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="the built kit image (e.g. localhost/segbook:0.1.0)")
    parser.add_argument("--out", type=Path, required=True, help="the SIF to write (e.g. build/segbook.sif)")
    parser.add_argument("--engine", default="podman", help="the engine whose store holds the image (podman)")
    parser.add_argument("--definition", type=Path, default=REPO / "containers" / "segbook.def",
                        help="the Apptainer def file whose labels, environment, runscript, test and help go in")
    parser.add_argument("--gzip-level", type=int, default=1, choices=range(1, 10), metavar="1-9",
                        help="gzip level of the squashfs (1: about 5x faster than 9, about 5%% larger; default 1)")
    parser.add_argument("--processors", type=int, default=os.cpu_count() or 1, help="mksquashfs threads")
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    try:
        out = build(args)
    except BuildFailure as err:
        print(f"error: {err}\nhint: {err.hint}", file=sys.stderr)
        return err.code
    except PermissionError as err:
        print(f"error: cannot write {err.filename}: permission denied\nhint: choose another --out", file=sys.stderr)
        return EXIT_CANTCREAT
    log(f"{out}: {out.stat().st_size / 2**30:.2f} GiB, sha256 {sha256_file(out)}, "
        f"built in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
