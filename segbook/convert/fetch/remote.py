"""One file of a dataset download: where it comes from and the checksum its host publishes (if any)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.download import with_mirror
from segbook.core.errors import InvalidInput


@dataclass(frozen=True)
class RemoteFile:
    name: str  # a plain file name (checked by the manifest schema, or by zenodo.record_files)
    url: str  # what is fetched: the origin with the mirror's scheme and host
    origin: str  # the URL as the manifest or the host states it
    size: int | None = None
    algorithm: str | None = None  # md5 | sha256: the published checksum's
    digest: str | None = None

    def as_record(self, seen: dict) -> dict:
        """What the fetch stamp keeps of this file: its origin, size and checksum (published, else as seen)."""
        return {"name": self.name, "url": self.origin, "size": self.size, **seen,
                "checksum": "published" if self.digest else "recorded (the host publishes none)"}


def https_files(source: dict, mirror: str | None) -> list[RemoteFile]:
    """The manifest's `files`, with the mirror applied."""
    out = []
    for item in source["files"]:
        algorithm = "sha256" if item.get("sha256") else ("md5" if item.get("md5") else None)
        out.append(RemoteFile(item["name"], with_mirror(item["url"], mirror), item["url"], item.get("size"),
                              algorithm, item.get(algorithm) if algorithm else None))
    return out


def file_digest(path: Path, algorithm: str) -> str:
    """pooch's hashing (the library the kit uses for hashed retrieval), in its hex form."""
    import pooch  # noqa: PLC0415 - only a fetch needs it

    return pooch.file_hash(str(path), alg=algorithm)


def verify(part: Path, remote: RemoteFile) -> dict:
    """{algorithm: digest} once size and published checksum agree (a sha256 of the bytes where the host publishes
    none: the dataset's lock pins the content at prepare); else InvalidInput (65) and the file is gone."""
    size = part.stat().st_size
    problem = None
    if remote.size is not None and size != remote.size:
        problem = f"is {size:,} bytes, not the {remote.size:,} its host publishes"
    elif remote.digest is not None:
        assert remote.algorithm is not None  # both constructors set a digest only with its algorithm
        actual = file_digest(part, remote.algorithm)
        if actual != remote.digest.lower():
            problem = f"does not match its published {remote.algorithm} ({remote.digest}; this copy: {actual})"
    if problem:
        part.unlink(missing_ok=True)  # damaged or wrong: a rerun starts from scratch
        raise InvalidInput(f"{remote.name} from {remote.url} {problem}; it was deleted, nothing was unpacked",
                           hint="run the fetch again; if it fails again, the host (or the --mirror) serves "
                                "another file than the one published")
    if remote.digest is not None:
        return {remote.algorithm: remote.digest.lower()}
    return {"sha256": file_digest(part, "sha256")}
