#!/usr/bin/env python3
"""Add `--hash=sha256:...` lines to a pip-compile lock, from the index's own hashes.

Why not `pip-compile --generate-hashes`: pip-tools asks PyPI's JSON API for hashes and, where that
API is not served (mirrors, proxies that only speak the simple API), downloads EVERY file of every
pinned release to hash it (gigabytes for torch and the CUDA wheels). The simple API (PEP 691 JSON)
already lists a sha256 for each file, so this reads those, and hashes local wheel folders
(--find-links) directly. The result has the same layout as pip-compile's --generate-hashes output and
works with `pip install --require-hashes`.

Usage: lock_hashes.py LOCK [--index URL]... [--find-links DIR]... [--cert CAFILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import ssl
import sys
import urllib.request
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]+\])?==([^\s\\;]+)(.*)$")  # extras kept
ACCEPT = "application/vnd.pypi.simple.v1+json"


def name_version(filename: str) -> tuple[str, Version] | None:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        return None
    return canonicalize_name(name), version


def index_hashes(index: str, name: str, version: Version, context: ssl.SSLContext) -> set[str]:
    url = f"{index.rstrip('/')}/{name}/"
    request = urllib.request.Request(url, headers={"Accept": ACCEPT})  # noqa: S310 - index from the maintainer
    try:
        with urllib.request.urlopen(request, timeout=60, context=context) as response:  # noqa: S310
            data = json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return set()
        raise
    found = set()
    for item in data.get("files", []):
        parsed = name_version(item["filename"])
        sha = item.get("hashes", {}).get("sha256")
        if parsed and parsed[1] == version and sha and not item.get("yanked"):
            found.add(sha)
    return found


def local_hashes(folders: list[Path], name: str, version: Version) -> set[str]:
    found = set()
    for folder in folders:
        for path in sorted(folder.glob("*")):
            parsed = name_version(path.name)
            if parsed == (name, version):
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    for block in iter(lambda h=handle: h.read(1 << 20), b""):
                        digest.update(block)
                found.add(digest.hexdigest())
    return found


def add_hashes(lines: list[str], indexes: list[str], folders: list[Path], context: ssl.SSLContext) -> list[str]:
    out = []
    for line in lines:
        match = PIN.match(line.rstrip("\n"))
        if not match:
            if not line.lstrip().startswith("--hash="):  # re-running replaces old hashes
                out.append(line)
            continue
        raw_name, extras, raw_version, rest = match.groups()
        rest = re.sub(r"\s*--hash=\S+", "", rest)
        name, version = canonicalize_name(raw_name), Version(raw_version)
        hashes = local_hashes(folders, name, version)
        for index in indexes:
            hashes |= index_hashes(index, name, version, context)
        if not hashes:
            sys.exit(f"lock_hashes: no file found for {name}=={version} in {indexes} or {folders}")
        out.append(f"{raw_name}{extras or ''}=={raw_version}{rest.rstrip()} \\\n")
        ordered = sorted(hashes)
        for i, sha in enumerate(ordered):
            tail = " \\\n" if i < len(ordered) - 1 else "\n"
            out.append(f"    --hash=sha256:{sha}{tail}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--index", action="append", default=[], help="simple index URL (repeatable)")
    parser.add_argument("--find-links", action="append", default=[], type=Path, help="wheel folder (repeatable)")
    parser.add_argument("--cert", default=None, help="CA bundle for the index")
    args = parser.parse_args(argv)
    indexes = args.index or ["https://pypi.org/simple"]
    folders = [f for f in args.find_links if f.is_dir()]
    context = ssl.create_default_context(cafile=args.cert)
    lines = args.lock.read_text().splitlines(keepends=True)
    # join pip-compile's continuation lines so each pin is one line before hashing
    joined, buffer = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            buffer += line.rstrip()[:-1].rstrip() + " "
            continue
        joined.append(buffer + line if buffer else line)
        buffer = ""
    result = add_hashes([j if j.endswith("\n") else j + "\n" for j in joined], indexes, folders, context)
    tmp = args.lock.with_suffix(".tmp")
    tmp.write_text("".join(result))
    tmp.replace(args.lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
