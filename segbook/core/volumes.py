"""The one way the kit reads and writes image volumes: prepare, evaluate, verify and hashing.

Reading refuses, with an error naming the file (InvalidInput 65, or InputMissing 66 for a file
that is not there): anything but a regular file (a FIFO would block the reader for ever, a
dangling link is a missing file), a truncated or corrupt stream, NaN/inf voxels, and a voxel
size, origin or direction that is not finite (or a voxel size that is not positive) -- in the
NIfTI header itself too, because ITK silently replaces a NaN or zero voxel size by 1.0 mm.

Writing checks what was written: SimpleITK does not raise when a write fails half-way (a full
disk, a quota), it leaves a truncated file. A written NIfTI is scanned again, and a short or
missing file is OutputBlocked (73) naming it.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from segbook.core.errors import InputMissing, InvalidInput, OutputBlocked
from segbook.core.nifti import nifti_problem

DAMAGED_HINT = "the file is damaged or holds invalid values; copy or download it again"
WRITE_FAILED_HINT = "free some space (or quota) on that disk, or choose another --out"
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def first_line(exc: Exception) -> str:
    """The useful line of an ITK exception (they span many lines)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Description:" in ln or "ERROR" in ln.upper()]
    text = (useful or lines or [type(exc).__name__])[-1]
    return text.split("Description:")[-1].strip()[:160]


def check_regular_file(path: Path, shown: str | None = None) -> None:
    """Raise unless `path` is (a link to) a regular file; never opens it."""
    path = Path(path)
    shown = shown or str(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.lexists(path):
            raise InputMissing(f"{shown} is a symbolic link to a missing file ({os.readlink(path)})",
                               hint="restore the file it points to, or remove the link") from None
        raise InputMissing(f"{shown} does not exist", hint="check the path") from None
    except PermissionError as exc:
        raise InputMissing(f"{shown} cannot be read ({exc.strerror})", hint="check its permissions") from exc
    except OSError as exc:  # ELOOP, ENAMETOOLONG, ENOTDIR ...
        raise InvalidInput(f"{shown} cannot be opened ({exc.strerror})", hint="check the path") from exc
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise InvalidInput(f"{shown} is {kind}, not a regular file: refusing to read it",
                           hint="replace it by the image file it stands for")


def decoded_problem(image) -> str | None:
    """What is wrong with an image SimpleITK decoded: geometry and float voxels must be finite."""
    import SimpleITK as sitk  # noqa: PLC0415 - keep SimpleITK out of import time

    spacing, origin, direction = image.GetSpacing(), image.GetOrigin(), image.GetDirection()
    for what, values in (("spacing", spacing), ("origin", origin), ("direction", direction)):
        if not np.isfinite(values).all():
            return f"has a {what} that is not finite {tuple(values)}"
    if min(spacing) <= 0:
        return f"has a spacing that is not positive {tuple(spacing)}"
    array = sitk.GetArrayViewFromImage(image)
    if array.dtype.kind in "fc" and not np.isfinite(array).all():
        return "has NaN or infinite voxels"
    return None


def read_volume(path: Path, shown: str | None = None):
    """Read an image file as a SimpleITK image, or raise naming the file (`shown`, else its path)."""
    import SimpleITK as sitk  # noqa: PLC0415

    path = Path(path)
    shown = shown or str(path)
    check_regular_file(path, shown)
    problem = nifti_problem(path)
    if problem:
        raise InvalidInput(f"{shown} {problem}", hint=DAMAGED_HINT)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InvalidInput(f"cannot read {shown} ({first_line(exc)})", hint=DAMAGED_HINT) from exc
    problem = decoded_problem(image)
    if problem:
        raise InvalidInput(f"{shown} {problem}", hint=DAMAGED_HINT)
    return image


@contextmanager
def _c_stderr_captured() -> Iterator[list[str]]:
    """Collect what C libraries print on file descriptor 2 (the NIfTI writer reports a failed write
    there, e.g. '** ERROR: NWAD: wrote only 0 of 196608 bytes'): the CLI's contract is two lines."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        sink = tempfile.TemporaryFile()  # closed below
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2, or no room for the sink: write uncaptured
        yield lines
        return
    with sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(ln.strip() for ln in sink.read().decode(errors="replace").splitlines() if ln.strip())


def write_volume(image, path: Path, *, compress: bool = True) -> Path:
    """Write `image` to `path` and check the file is complete (OutputBlocked 73 if it is not)."""
    import SimpleITK as sitk  # noqa: PLC0415

    path = Path(path)
    with _c_stderr_captured() as said:
        try:
            sitk.WriteImage(image, str(path), compress)
        except RuntimeError as exc:
            raise OutputBlocked(f"cannot write {path} ({first_line(exc)})", hint=WRITE_FAILED_HINT) from exc
    problem = _written_problem(path)
    if problem:
        path.unlink(missing_ok=True)  # never leave a short file behind under a real name
        detail = f" ({said[-1][:120]})" if said else ""
        raise OutputBlocked(f"writing {path} failed silently: the file {problem}{detail}", hint=WRITE_FAILED_HINT)
    if said:  # a successful write that printed something: pass it on, it was not ours to swallow
        print("\n".join(said), file=sys.stderr)
    return path


def _written_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
    except OSError:
        return "was not created"
    if size == 0:
        return "is empty"
    return nifti_problem(path)
