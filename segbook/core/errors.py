"""Every failure the kit reports on purpose, each with its documented exit code.

The CLI turns a SegbookError into two lines (`error: ...`, `hint: ...`) and its exit code;
anything else is a bug (exit 70) and its traceback goes to the log file.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    DIFFERENCES = 1  # verification found differences
    USAGE = 2  # bad command line
    DATA_INVALID = 65  # invalid input data or manifest
    INPUT_MISSING = 66  # input file/folder missing
    INTERNAL = 70  # a bug in the kit
    OUTPUT_BLOCKED = 73  # output not writable, or would overwrite a result
    INTERRUPTED = 75  # interrupted but resumable (SIGTERM, preemption)
    ENVIRONMENT = 78  # wrong environment/configuration (versions, GPU)


class SegbookError(Exception):
    """An expected failure: a one-line message, a hint, and an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL
    default_hint = "run with --verbose or read the log file for details"

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint

    def __reduce__(self):  # rebuilt with its hint when a worker process sends it back (prepare --jobs)
        return (type(self), (self.message, self.hint))


class Differences(SegbookError):
    """Something differs from what was recorded; `details` lists each difference, one line each
    (the CLI prints them before the two-line error)."""

    exit_code = ExitCode.DIFFERENCES
    default_hint = "the files on disk do not match what was recorded"

    def __init__(self, message: str, hint: str | None = None, details: tuple[str, ...] = ()):
        super().__init__(message, hint=hint)
        self.details = details

    def __reduce__(self):
        return (type(self), (self.message, self.hint, self.details))


class UsageProblem(SegbookError):
    exit_code = ExitCode.USAGE
    default_hint = "see --help"


class InvalidInput(SegbookError):
    exit_code = ExitCode.DATA_INVALID
    default_hint = "check the dataset or manifest named in the message"


class InputMissing(SegbookError):
    exit_code = ExitCode.INPUT_MISSING
    default_hint = "check the path"


class OutputBlocked(SegbookError):
    exit_code = ExitCode.OUTPUT_BLOCKED
    default_hint = "choose another --out, fix its permissions, or pass --force to replace the result"


class InternalFailure(SegbookError):
    """A step the kit ran did not produce what it must (nnU-Net wrote no plans, no checkpoint, no
    prediction): not the user's input, so 70; the CLI also leaves a crash log, as for any bug."""

    exit_code = ExitCode.INTERNAL
    default_hint = "this is a bug or a failed nnU-Net step; read the run's log file"


class Interrupted(SegbookError):
    exit_code = ExitCode.INTERRUPTED
    default_hint = "run the same command again to continue from the last checkpoint"


class EnvironmentProblem(SegbookError):
    exit_code = ExitCode.ENVIRONMENT
    default_hint = "run `segbook doctor` to see what is wrong with this environment"


def error_for_exit_code(code: int, message: str, hint: str | None = None) -> SegbookError:
    """The SegbookError a child process reported by exit code (see segbook.core.childreport)."""
    for cls in (Differences, UsageProblem, InvalidInput, InputMissing, OutputBlocked, Interrupted,
                EnvironmentProblem):
        if cls.exit_code == code:
            return cls(message, hint)
    return SegbookError(message, hint)


# the OSErrors that mean "the disk (or quota, or the process's file-size limit) cannot take this write": 73
DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
               errno.EFBIG: "file too large for the file system or the process's limit",
               errno.EROFS: "read-only file system"}


def disk_error(exc: BaseException) -> OSError | None:
    """The disk-full OSError behind `exc`, also where a library wrapped it (torch's zip writer raises
    a RuntimeError whose context is the OSError); None when it is something else."""
    seen: BaseException | None = exc
    for _ in range(8):  # a short chain; never loop on a cycle
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in DISK_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def disk_full_error(error: OSError, hint: str, filename: str | None = None) -> OutputBlocked:
    """The 73 a disk-full OSError stands for, naming the file written (`filename`, else the error's)."""
    target = filename if filename is not None else error.filename
    where = f" writing {target}" if target else ""
    return OutputBlocked(f"{DISK_ERRNOS[error.errno or 0]}{where}", hint=hint)
