"""A Zenodo record's files, names, sizes and md5, from Zenodo's records API (`GET /api/records/{id}`).

The answer is untrusted: every file name must be plain, every checksum `md5:<hex>`, every link http(s);
the mirror replaces the scheme and host of the API and of each file link alike.
"""

from __future__ import annotations

import re

from segbook.catalog.source_schema import plain_name
from segbook.convert.fetch.remote import RemoteFile
from segbook.core.download import read_small, with_mirror
from segbook.core.errors import InputMissing, InvalidInput
from segbook.core.untrusted import parse_json

ZENODO = "https://zenodo.org"
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a record's JSON is a few kB; a few thousand files stay far below
_MD5 = re.compile(r"^md5:([0-9a-fA-F]{32})$")
_HINT = "the record's answer is not what Zenodo sends; check the --mirror, or download the files by hand"


def record_url(record: int, mirror: str | None) -> str:
    return with_mirror(f"{ZENODO}/api/records/{record}", mirror)


def _file(entry, where: str, mirror: str | None) -> RemoteFile:
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where}: a file entry is not an object", hint=_HINT)
    key, size, checksum = entry.get("key"), entry.get("size"), entry.get("checksum")
    link = (entry.get("links") or {}).get("self") if isinstance(entry.get("links"), dict) else None
    if not plain_name(key):
        raise InvalidInput(f"{where}: file name {str(key)[:80]!r} is not a plain file name", hint=_HINT)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"{where}: {key} has no valid size", hint=_HINT)
    match = _MD5.match(checksum) if isinstance(checksum, str) else None
    if not match:
        raise InvalidInput(f"{where}: {key} has no md5 checksum ({str(checksum)[:60]!r})", hint=_HINT)
    if not (isinstance(link, str) and link.startswith(("https://", "http://"))):
        raise InvalidInput(f"{where}: {key} has no http(s) download link", hint=_HINT)
    return RemoteFile(key, with_mirror(link, mirror), link, size, "md5", match.group(1).lower())


def record_files(spec: dict, mirror: str | None, *, landing: str, deadline_s: float,
                 stall_s: float) -> list[RemoteFile]:
    """The files of one record the manifest names (all of them when it names none)."""
    url = record_url(spec["record"], mirror)
    body = read_small(url, max_bytes=MAX_RECORD_BYTES, deadline_s=deadline_s, stall_s=stall_s,
                      accept="application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{url} did not answer UTF-8 JSON", hint=_HINT) from None
    data = parse_json(text, url, hint=_HINT)
    entries = data.get("files") if isinstance(data, dict) else None
    if not entries:  # a restricted record lists no files to the public
        raise InputMissing(f"Zenodo record {spec['record']} lists no public files",
                           hint=f"the files may be restricted: request access at {landing}, then put them "
                                "into the --out folder by hand")
    if not isinstance(entries, list):
        raise InvalidInput(f"{url}: files is not a list", hint=_HINT)
    files = [_file(entry, url, mirror) for entry in entries]
    wanted = spec.get("files")
    if not wanted:
        return files
    by_name = {f.name: f for f in files}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise InvalidInput(f"Zenodo record {spec['record']} no longer holds {', '.join(missing)}",
                           hint=f"the record changed since the manifest was written; see {landing}")
    return [by_name[name] for name in wanted]
