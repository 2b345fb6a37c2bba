"""`segbook doctor`: whether this environment can run the kit, as rows of checks (segbook.doctor)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segbook.core.errors import EnvironmentProblem
from segbook.core.settings import Settings
from segbook.doctor import FAIL, Check, run_checks


@dataclass(frozen=True)
class DoctorOutcome:
    rows: list[Check]  # in display order

    @property
    def failed(self) -> list[str]:
        """The names of the checks that say the kit will fail here."""
        return [row.name for row in self.rows if row.status == FAIL]

    def raise_for_failure(self) -> None:
        if self.failed:
            raise EnvironmentProblem(f"doctor: {len(self.failed)} problem(s): {', '.join(self.failed)}",
                                     hint="fix the rows marked XX above")


def doctor(settings: Settings, *, out_root: Path | None = None, weights_dir: Path | None = None,
           registry: Path | None = None, require_gpu: bool = False, hash_weights: bool = True) -> DoctorOutcome:
    """Every check (none raises: a problem is a row); out_root and weights_dir default to the settings'.
    No network traffic is sent: reachability is read from the routing table and proxy settings."""
    return DoctorOutcome(run_checks(settings=settings, out_root=out_root, weights_dir=weights_dir,
                                    registry=registry, require_gpu=require_gpu, hash_weights=hash_weights))
