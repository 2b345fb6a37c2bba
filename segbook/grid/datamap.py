"""The data map (data.yaml): where each dataset's raw download lives, one line per dataset.

    Task009_Spleen: /data/msd/Task09_Spleen
    BTCV: /data/btcv/RawData            # any name the catalog knows
    KiTS2021: ../downloads/kits21       # relative: to the folder holding this file

Read with yaml.safe_load. The demo needs no entry (its data are generated).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from segbook.core.errors import ExitCode, UsageProblem
from segbook.grid.preflight import Problem, unknown_name


def load_data_map(path: Path | None, catalog) -> tuple[dict[str, Path], list[Problem]]:
    """task id -> absolute raw folder, and the problems found (unknown names, bad values)."""
    if path is None:
        return {}, []
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, [Problem(ExitCode.INPUT_MISSING, "data map missing", str(path))]
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {}, [Problem(ExitCode.DATA_INVALID, "data map not readable YAML", f"{path}: {first}")]
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return {}, [Problem(ExitCode.DATA_INVALID, "data map not a mapping of dataset -> folder", str(path))]
    found: dict[str, Path] = {}
    named_as: dict[str, str] = {}
    problems = []
    for name, value in data.items():
        try:
            task_id = catalog.get(str(name)).task_id
        except UsageProblem as exc:
            problems.append(Problem(ExitCode.USAGE, f"unknown dataset in {path.name}",
                                    unknown_name(exc)))
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(Problem(ExitCode.DATA_INVALID, f"not a folder path in {path.name}", f"{name}: {value!r}"))
            continue
        if task_id in found:
            problems.append(Problem(ExitCode.DATA_INVALID, f"dataset listed twice in {path.name}",
                                    f"{task_id} (as {named_as[task_id]!r} and {name!r})"))
            continue
        folder = Path(value).expanduser()
        found[task_id] = folder if folder.is_absolute() else (path.parent / folder).absolute()
        named_as[task_id] = str(name)
    return found, problems
