"""Is this image the kit's? Its labels against this checkout, before a grid runs in it.

The kit's images carry `org.opencontainers.image.version` (the kit version) and
`org.segbook.lock.sha256` (sha256 of containers/requirements.lock). A grid submitted with an image
whose labels differ would compute with other code or other packages than the checkout that
planned it: refused unless --allow-image-mismatch, which the cells' receipts then record.

Docker/Podman images are read through the Docker SDK for Python (Podman serves the same API with
`podman system service`); a SIF with `apptainer inspect --json`. Inspection only: nothing runs.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from segbook import __version__
from segbook.core.errors import EnvironmentProblem, InputMissing, InvalidInput

LABEL_VERSION = "org.opencontainers.image.version"
LABEL_LOCK = "org.segbook.lock.sha256"
LOCK_FILE = Path(__file__).resolve().parents[2] / "containers" / "requirements.lock"


@dataclass(frozen=True)
class ImageCheck:
    image: str
    digest: str | None
    labels: dict
    expected: dict
    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences


def expected_labels(lock_file: Path = LOCK_FILE) -> dict:
    """What this checkout's image would say (the lock hash only where the lock file is at hand)."""
    import hashlib  # noqa: PLC0415

    expected = {LABEL_VERSION: __version__}
    if lock_file.is_file():
        expected[LABEL_LOCK] = hashlib.sha256(lock_file.read_bytes()).hexdigest()
    return expected


def engine_labels(image: str, base_url: str | None) -> tuple[str | None, dict]:
    """(image id, labels) of a Docker/Podman image through the Docker API at base_url."""
    import docker  # noqa: PLC0415 - only when an engine image is checked
    from docker.errors import DockerException, ImageNotFound  # noqa: PLC0415

    where = base_url or "the Docker API from DOCKER_HOST (or the default socket)"
    try:
        client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        try:
            found = client.images.get(image)
        finally:
            client.close()
    except ImageNotFound:
        raise EnvironmentProblem(f"image {image!r} not found through {where}",
                                 hint="build it (`make image`) or load it, or pass the right --image") from None
    except DockerException as exc:
        raise EnvironmentProblem(f"cannot read image labels through {where}: {exc}",
                                 hint="start the engine's API (Podman: `podman system service --time=0 "
                                      "unix:///PATH.sock`) and pass --docker-host unix:///PATH.sock") from None
    return found.id, dict(found.labels or {})


def sif_labels(sif: Path, binary: str = "apptainer") -> tuple[str, dict]:
    """(sha256 digest of the file, labels) of a SIF image, via `apptainer inspect --json`."""
    from segbook.core.hashing import sha256_file  # noqa: PLC0415

    if not sif.is_file():
        raise InputMissing(f"SIF image {sif} does not exist", hint="build it (see docs/hpc.md) or fix --image")
    try:
        proc = subprocess.run([binary, "inspect", "--json", "--labels", str(sif)], capture_output=True, text=True,
                              timeout=120, check=False)
    except FileNotFoundError:
        raise EnvironmentProblem(f"{binary} is not installed here, so the SIF's labels cannot be read",
                                 hint="run `segbook grid submit` on a node with Apptainer (`module load "
                                      "apptainer`), or set `apptainer:` in the site profile") from None
    if proc.returncode != 0:
        raise EnvironmentProblem(f"`{binary} inspect` failed on {sif}: {proc.stderr.strip()[:300]}",
                                 hint="is it a SIF image built from the kit's image (docs/hpc.md)?")
    return f"sha256:{sha256_file(sif)}", parse_inspect_json(proc.stdout, sif)


def parse_inspect_json(text: str, sif: Path) -> dict:
    """Labels from `apptainer inspect --json`: {"data": {"attributes": {"labels": ...}}}, or the
    same without the "data" wrapper (the form changed between Singularity and Apptainer releases)."""
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidInput(f"`apptainer inspect --json {sif}` printed no JSON") from None
    for holder in (data.get("data", {}) if isinstance(data, dict) else {}, data):
        attributes = holder.get("attributes") if isinstance(holder, dict) else None
        if isinstance(attributes, dict) and isinstance(attributes.get("labels"), dict):
            return {str(k): str(v) for k, v in attributes["labels"].items()}
    return {}


def compare(image: str, digest: str | None, labels: dict, expected: dict) -> ImageCheck:
    differences = [f"{key} is {labels.get(key, '(missing)')!r}, this checkout has {value!r}"
                   for key, value in expected.items() if labels.get(key) != value]
    return ImageCheck(image, digest, labels, expected, differences)


def check_image(kind: str, image: str, *, allow_mismatch: bool, docker_host: str | None = None,
                apptainer: str = "apptainer") -> ImageCheck:
    """Read the image's labels; refuse (65) an image that is not this kit's unless allowed."""
    digest: str | None  # an engine may report none
    if kind == "apptainer":
        digest, labels = sif_labels(Path(image), apptainer)
    else:
        digest, labels = engine_labels(image, docker_host)
    result = compare(image, digest, labels, expected_labels())
    if not result.matches and not allow_mismatch:
        raise InvalidInput(f"image {image} is not this kit's: {'; '.join(result.differences)}",
                           hint="build the image from this checkout (docs/hpc.md), or pass --allow-image-mismatch "
                                "to use it anyway (every cell's receipt then records SEGBOOK_IMAGE_MISMATCH=1)")
    return result
