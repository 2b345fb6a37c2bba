"""The optional fields of a manifest's `source`: where the data lives and how `segbook datasets fetch` gets it.

Checked by segbook.catalog.schema (one call from _check_source). A fetch method is allowed only for a dataset
whose access is `open`: the kit never works around a registration or a data-use agreement.
"""

from __future__ import annotations

import re
from typing import TypeGuard

FETCH_METHODS = ("https", "zenodo", "huggingface", "idc")
TEXT_FIELDS = ("landing", "landing_text", "host", "licence_source", "licence_note", "checksums_from")
DIGESTS = {"md5": re.compile(r"^[0-9a-f]{32}$"), "sha256": re.compile(r"^[0-9a-f]{64}$")}
_REVISION = re.compile(r"^[0-9a-f]{40}$")  # a commit: a branch or tag name can move
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")


def plain_name(name: object) -> TypeGuard[str]:
    """A file name without folders, usable as is under the download folder."""
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def check_source_fields(c, source: dict) -> None:
    """`c` is schema._Checker; the first problem is its InvalidInput naming the field."""
    for key in TEXT_FIELDS:
        c.type(f"source.{key}", source.get(key), str, optional=True)
    method = source.get("fetch")
    if method is not None:
        c.choice("source.fetch", method, FETCH_METHODS)
        if source["access"] != "open":
            c.fail("source.fetch", f"a dataset whose access is {source['access']!r} is not fetched by the kit")
    _check_files(c, source.get("files"), required=method == "https")
    _check_zenodo(c, source.get("zenodo"), required=method == "zenodo")
    _check_hub(c, source.get("huggingface"), required=method == "huggingface")
    _check_idc(c, source.get("idc"), required=method == "idc")


def _missing(c, field: str, value, required: bool) -> bool:
    if value is None and required:
        c.fail(field, "missing (the fetch method needs it)")
    return value is None


def _check_files(c, files, required: bool) -> None:
    if _missing(c, "source.files", files, required):
        return
    c.type("source.files", files, list)
    if required and not files:
        c.fail("source.files", "an https fetch needs at least one file")
    for i, item in enumerate(files):
        where = f"source.files[{i}]"
        c.type(where, item, dict)
        if not plain_name(item.get("name")):
            c.fail(f"{where}.name", "must be a plain file name (no folders)")
        url = item.get("url")
        if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
            c.fail(f"{where}.url", "must be an http(s) URL")
        c.type(f"{where}.size", item.get("size"), int, optional=True)
        for algorithm, pattern in DIGESTS.items():
            value = item.get(algorithm)
            if value is not None and not (isinstance(value, str) and pattern.match(value)):
                c.fail(f"{where}.{algorithm}", f"must be a lower-case hex {algorithm} digest")


def _check_zenodo(c, records, required: bool) -> None:
    if _missing(c, "source.zenodo", records, required):
        return
    c.type("source.zenodo", records, list)
    if not records:
        c.fail("source.zenodo", "must list at least one record")
    for i, record in enumerate(records):
        where = f"source.zenodo[{i}]"
        c.type(where, record, dict)
        c.type(f"{where}.record", record.get("record"), int)
        names = record.get("files", [])
        c.type(f"{where}.files", names, list)
        if not all(plain_name(n) for n in names):
            c.fail(f"{where}.files", "must be plain file names of the record")


def _check_hub(c, hub, required: bool) -> None:
    if _missing(c, "source.huggingface", hub, required):
        return
    c.type("source.huggingface", hub, dict)
    if not (isinstance(hub.get("repo"), str) and _REPO.match(hub["repo"])):
        c.fail("source.huggingface.repo", "must be owner/name")
    revision = hub.get("revision")
    if revision is None and required:
        c.fail("source.huggingface.revision", "a Hugging Face fetch needs a pinned commit (40 hex digits)")
    if revision is not None and not (isinstance(revision, str) and _REVISION.match(revision)):
        c.fail("source.huggingface.revision", "must be a commit id (40 lower-case hex digits)")


def _check_idc(c, idc, required: bool) -> None:
    if _missing(c, "source.idc", idc, required):
        return
    c.type("source.idc", idc, dict)
    c.type("source.idc.version", idc.get("version"), int)
    for key in ("collections", "analysis_results"):
        values = idc.get(key, [])
        c.type(f"source.idc.{key}", values, list)
        if not all(isinstance(v, str) and re.match(r"^[a-z0-9_]+$", v) for v in values):
            c.fail(f"source.idc.{key}", "must be IDC ids (lower-case letters, digits, _)")
    if not idc.get("collections"):
        c.fail("source.idc.collections", "must name at least one collection")
