"""Small helpers shared by the benchmarks: a result table, printed as Markdown and saved as JSON.

A result is a plain dict: {"name", "title", "columns", "rows", "notes", "raw"}; `run_all.py`
collects them from each benchmark's --json file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import sys


def markdown_table(result: dict) -> str:
    lines = [f"### {result['title']}", "", "| " + " | ".join(result["columns"]) + " |",
             "|" + "---|" * len(result["columns"])]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in result["rows"]]
    lines += [""] + [f"- {note}" for note in result.get("notes", [])]
    return "\n".join(lines).rstrip() + "\n"


def emit(result: dict, json_path: str | None) -> None:
    """Print the table on stdout; write the whole result as JSON where asked."""
    print("\n" + markdown_table(result), flush=True)
    if json_path:
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=1)


def progress(name: str, message: str) -> None:
    print(f"[{name}] {message}", file=sys.stderr, flush=True)


def peak_rss_gib(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 2**20, 2)  # ru_maxrss is in KiB on Linux


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_line() -> str:
    """Where and when: CPU, cores, Python, torch (imported lazily), date."""
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), cpu)
    except OSError:
        pass
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{now}; {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
            f"torch {torch_version}; load average {load_average()}")
