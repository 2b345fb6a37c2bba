"""IDC collections through the optional idc-index package (s5cmd from IDC's public buckets, no account).

idc-index is not one of the kit's dependencies (it bundles s5cmd and an index of several hundred MB):
it is imported only here, and its absence is an EnvironmentProblem naming the pip command. The
manifest pins the IDC release; series come from the collections' own (non-analysis) series plus the
analysis results the manifest names, so unrelated analysis results (AI segmentations) stay out.
"""

from __future__ import annotations

import re
from pathlib import Path

from segbook.core.download import check_room
from segbook.core.errors import EnvironmentProblem, InvalidInput

INSTALL = "pip install idc-index"
_ID = re.compile(r"^[a-z0-9_]+$")


def client():
    try:
        from idc_index import IDCClient  # noqa: PLC0415 - optional, see the module docstring
    except ImportError as exc:
        raise EnvironmentProblem("fetching from IDC needs the optional package idc-index, which is not installed",
                                 hint=f"`{INSTALL}` into this environment (it is not in the kit's lock), then "
                                      "run the same fetch again") from exc
    return IDCClient()


def _quoted(values: list[str]) -> str:
    bad = [v for v in values if not _ID.match(v)]
    if bad:  # the manifest schema allows no other characters; never let one into the SQL
        raise InvalidInput(f"IDC id {bad[0][:60]!r} is not an IDC id", hint="fix the manifest's source.idc")
    return ", ".join(f"'{v}'" for v in values)


def selection_query(spec: dict) -> str:
    """SQL over idc-index's `index` table: the collections' own series and the named analysis results."""
    results = spec.get("analysis_results") or []
    wanted = "analysis_result_id IS NULL" + (f" OR analysis_result_id IN ({_quoted(results)})" if results else "")
    return ("SELECT SeriesInstanceUID, series_size_MB FROM index "  # noqa: S608 - ids checked against _ID
            f"WHERE collection_id IN ({_quoted(spec['collections'])}) AND ({wanted})")


def fetch_collections(spec: dict, raw_dir: Path, *, progress) -> int:
    """Download the selected series into `raw_dir`; the number of series."""
    idc = client()
    version = str(idc.get_idc_version()).lstrip("v")
    if version != str(spec["version"]):
        raise EnvironmentProblem(f"idc-index holds IDC v{version}; the manifest pins IDC v{spec['version']}",
                                 hint=f"pip install 'idc-index-data=={spec['version']}.*' to fetch the pinned release")
    try:
        series = idc.sql_query(selection_query(spec))
    except Exception as exc:  # duckdb's errors are not ours to enumerate: say which step failed
        raise EnvironmentProblem(f"idc-index could not select the series ({type(exc).__name__}: {str(exc)[:160]})",
                                 hint="upgrade idc-index (`pip install -U idc-index`)") from exc
    uids = list(series["SeriesInstanceUID"])
    if not uids:
        raise EnvironmentProblem(f"IDC v{version} has no series for {', '.join(spec['collections'])}",
                                 hint="the collection ids in the manifest do not match this IDC release")
    check_room(raw_dir, int(float(series["series_size_MB"].sum()) * 10**6), f"{len(uids)} IDC series")
    progress(f"fetch: {len(uids)} series from IDC v{version} ({', '.join(spec['collections'])})")
    idc.download_from_selection(seriesInstanceUID=uids, downloadDir=str(raw_dir))
    return len(uids)
