"""What happened to one run folder across invocations: OUT/runs/<task>/<config>/run_state.json.

A run (one cell) may take several invocations: preempted and requeued, interrupted by hand,
failed and rerun. Each invocation that works on the run appends an entry when it starts and
closes it when it ends (done, interrupted, failed). The receipt's ``resumed`` flag and
``segbook grid status`` (preempted k times, failed with this error) are read from here; the
trainer's own progress (epoch, iteration, latest checkpoint) is in train_state.json beside it.

Only the process holding the run's lock writes this file, always atomically.
"""

from __future__ import annotations

import os
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

from segbook.core.errors import InvalidInput
from segbook.core.fsio import atomic_write_json
from segbook.core.timefmt import now_iso
from segbook.core.untrusted import read_json

FORMAT = "segbook-run-state/1"
NAME = "run_state.json"
TRAIN_STATE_NAME = "train_state.json"  # written by the trainer process (segbook.nnunet)
OUTCOMES = ("running", "done", "interrupted", "failed")


@dataclass
class Invocation:
    started: str
    host: str
    pid: int
    slurm_job: str | None = None
    slurm_restarts: int = 0
    outcome: str = "running"  # until it ends; a crashed process leaves "running" with no lock held
    ended: str | None = None
    exit_code: int | None = None
    error: str | None = None
    continued: list[str] = field(default_factory=list)  # stages that continued earlier work

    @classmethod
    def from_dict(cls, data: dict) -> Invocation:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class RunState:
    invocations: list[Invocation] = field(default_factory=list)

    @property
    def resumed(self) -> bool:
        """True when any stage of this run continued from an earlier invocation's work."""
        return any(inv.continued for inv in self.invocations)

    @property
    def interruptions(self) -> int:
        return sum(1 for inv in self.invocations if inv.outcome == "interrupted")

    @property
    def last(self) -> Invocation | None:
        return self.invocations[-1] if self.invocations else None

    def as_dict(self) -> dict:
        return {"format": FORMAT, "invocations": [asdict(i) for i in self.invocations]}


def read_run_state(run_dir: Path) -> RunState:
    """The run's history; an absent or unreadable file is an empty history (never an error)."""
    try:
        data = read_json(Path(run_dir) / NAME)
        if data.get("format") != FORMAT:
            return RunState()
        return RunState([Invocation.from_dict(i) for i in data.get("invocations", []) if isinstance(i, dict)])
    except (OSError, ValueError, TypeError, AttributeError, KeyError, InvalidInput):
        return RunState()


def read_train_state(run_dir: Path) -> dict | None:
    """The trainer's last word: {"checkpoint", "epoch", "iteration", "epochs", "written"}, or None."""
    try:
        data = read_json(Path(run_dir) / TRAIN_STATE_NAME)
    except (OSError, ValueError, InvalidInput):
        return None
    return data if isinstance(data, dict) else None


class RunJournal:
    """The current invocation's entry in run_state.json (the caller holds the run lock)."""

    def __init__(self, run_dir: Path, *, slurm_job: str | None = None, slurm_restarts: int = 0):
        self.path = Path(run_dir) / NAME
        self.state = read_run_state(run_dir)
        self.entry = Invocation(started=now_iso(), host=socket.gethostname(), pid=os.getpid(),
                                slurm_job=slurm_job, slurm_restarts=slurm_restarts)
        # an earlier entry still "running" belongs to a process that died without a word (SIGKILL)
        for inv in self.state.invocations:
            if inv.outcome == "running":
                inv.outcome, inv.error = "interrupted", "the process ended without a word (killed?)"
        self.state.invocations.append(self.entry)
        self._save()

    def continued(self, stage: str) -> None:
        if stage not in self.entry.continued:
            self.entry.continued.append(stage)
            self._save()

    def end(self, outcome: str, exit_code: int, error: str | None = None) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(outcome)
        self.entry.outcome, self.entry.exit_code, self.entry.error = outcome, exit_code, error
        self.entry.ended = now_iso()
        self._save()

    def _save(self) -> None:
        atomic_write_json(self.path, self.state.as_dict())


def describe_train_state(state: dict | None) -> str:
    if not state:
        return "no checkpoint yet"
    done = f"{state.get('epoch')}/{state.get('epochs')} epochs"
    if state.get("iteration"):
        done += f" + {state.get('iteration')} iterations"
    return f"{state.get('checkpoint')} ({done})"
