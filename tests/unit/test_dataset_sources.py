"""Where every catalog dataset comes from: the manifests' `source` against dataset_sources.csv, the
`datasets list` filters and columns, `datasets show`'s how-to lines, and the licence in the receipt."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import re
from pathlib import Path

import pytest

from segbook.catalog import load_catalog
from segbook.catalog.manifest import DatasetManifest
from segbook.core.errors import InvalidInput

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CSV = REPO / "manifests" / "reference" / "dataset_sources.csv"


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows() -> dict[str, dict]:
    with open(CSV, encoding="utf-8-sig", newline="") as handle:
        return {r["task_id"]: r for r in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def catalog():
    return [m for m in load_catalog() if m.kind == "catalog"]


def test_counts_of_known_access_licence_landing_and_fetch(catalog, rows):
    assert len(catalog) == 87
    access = sum(m.source["access"] != "unknown" for m in catalog)
    licence = sum(m.source["licence"] != "unknown" for m in catalog)
    landing = sum(bool(m.source.get("landing")) for m in catalog)
    fetchable = sum(bool(m.source.get("fetch")) for m in catalog)
    # the csv's own counts: nothing padded, nothing lost
    assert access == sum(r["access"] != "unknown" for r in rows.values()) == 78
    assert licence == sum(not r["licence"].startswith("unknown") for r in rows.values()) == 49
    assert (landing, fetchable) == (86, 33)


def test_every_fact_is_the_csvs(catalog, rows):
    for m in catalog:
        row, src = rows[m.task_id], m.source
        assert src["access"] == row["access"] and src["host"] == row["host_kind"], m.task_id
        assert (src["licence"] == "unknown") == row["licence"].startswith("unknown"), m.task_id
        if src["licence"] != "unknown":
            assert row["licence"].startswith(src["licence"]), m.task_id
        if src.get("landing") and not src["landing"].startswith("https://doi.org/"):
            assert src["landing"] in row["landing_url"], m.task_id


def test_fetch_only_where_open_and_every_id_is_in_the_sources(catalog, rows):
    methods = {}
    for m in catalog:
        src, cell = m.source, rows[m.task_id]["landing_url"]
        if src.get("fetch"):
            assert src["access"] == "open", m.task_id
            methods[src["fetch"]] = methods.get(src["fetch"], 0) + 1
        for record in src.get("zenodo") or []:
            assert re.search(rf"zenodo\.org/records?/{record['record']}\b", cell), m.task_id
        for item in src.get("files") or []:
            assert item["url"] in cell, m.task_id
        for name in (src.get("idc") or {}).get("collections", []) + (src.get("idc") or {}).get("analysis_results", []):
            assert name in cell or m.task_id == "Task701_LNQ2023" and name == "mediastinal_lymph_node_seg", m.task_id
        if src.get("huggingface"):
            assert src["huggingface"]["revision"] is None and not src.get("fetch"), m.task_id  # none is pinned
    assert methods == {"https": 12, "zenodo": 9, "idc": 12}


def test_msd_checksums_are_monais(catalog):
    # read from MONAI's source (the test extra), not imported: importing monai takes seconds
    origin = Path(importlib.util.find_spec("monai").origin).parent / "apps" / "datasets.py"
    decathlon = next(node for node in ast.walk(ast.parse(origin.read_text()))
                     if isinstance(node, ast.ClassDef) and node.name == "DecathlonDataset")
    tables = {t.id: ast.literal_eval(node.value) for node in decathlon.body if isinstance(node, ast.Assign)
              for t in node.targets if isinstance(t, ast.Name) and t.id in ("resource", "md5")}
    msd = [m for m in catalog if m.nnunet_id <= 10]
    assert len(msd) == 10
    for m in msd:
        (item,) = m.source["files"]
        task = item["name"].removesuffix(".tar")
        assert (item["url"], item["md5"]) == (tables["resource"][task], tables["md5"][task])


def test_licence_cells_keep_their_source_and_note():
    block = _script("manifest_sources").split_licence
    assert block("CC BY 4.0 [IDC v25] (RDH says TCIA Restricted - conflicting)") == {
        "licence": "CC BY 4.0", "licence_source": "IDC v25", "licence_note": "(RDH says TCIA Restricted - conflicting)"}
    assert block('unknown (nnU-Net v1 dataset.json: "see challenge website")') == {
        "licence": "unknown", "licence_note": '(nnU-Net v1 dataset.json: "see challenge website")'}
    assert block("unknown") == {"licence": "unknown"}


@pytest.mark.parametrize("change, problem", [
    ({"access": "registration", "fetch": "https", "files": [{"name": "a.zip", "url": "https://x/a.zip"}]},
     "is not fetched by the kit"),
    ({"fetch": "huggingface", "huggingface": {"repo": "a/b", "revision": "main"}}, "commit id"),
    ({"fetch": "https", "files": [{"name": "../a.zip", "url": "https://x/a.zip"}]}, "plain file name"),
    ({"fetch": "https", "files": [{"name": "a.zip", "url": "https://x/a.zip", "md5": "XYZ"}]}, "hex md5"),
    ({"fetch": "zenodo"}, "source.zenodo: missing"),
    ({"fetch": "ftp"}, "'ftp' is not one of"),
])
def test_the_schema_refuses_a_fetch_it_cannot_honour(change, problem):
    data = load_catalog().get("Task009_Spleen").as_dict()
    raw = {k: data[k] for k in ("task_id", "nnunet_id", "display_name", "kind", "modality", "target", "channels",
                                "cases", "source", "prepare")}
    raw.update(schema="segbook-manifest/1", region=data["regions"], labels={0: "background", 1: "Spleen"})
    raw["source"] = {k: v for k, v in raw["source"].items() if k not in ("fetch", "files")} | change
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        DatasetManifest.from_dict(raw)


@pytest.mark.parametrize("args, count", [(["--access", "open"], 40), (["--access", "registration"], 31),
                                         (["--access", "dua"], 7), (["--access", "unknown"], 9),
                                         (["--fetchable"], 33), (["--fetchable", "--modality", "MRI"], None)])
def test_list_filters_by_access_and_fetchability(cli_runner, catalog, args, count):
    result = cli_runner("datasets", "list", *args, "--format", "json")
    rows = json.loads(result.stdout)
    if count is None:  # filters combine
        count = sum(1 for m in catalog if m.source.get("fetch") and m.modality == "MRI")
    assert len(rows) == count
    if "--fetchable" in args:
        assert all(r["fetch"] in ("https", "zenodo", "idc", "huggingface") and r["access"] == "open" for r in rows)


def test_list_shows_access_licence_and_fetch(cli_runner):
    rows = {r["task_id"]: r for r in json.loads(cli_runner("datasets", "list", "--format", "json").stdout)}
    assert (rows["Task009_Spleen"]["licence"], rows["Task009_Spleen"]["fetch"]) == ("CC BY-SA 4.0", "https")
    assert (rows["Task034_Instance22"]["access"], rows["Task034_Instance22"]["fetch"]) == ("dua", "no")
    header = cli_runner("datasets", "list").stdout.splitlines()[0].split()
    assert {"access", "licence", "fetch"} <= set(header)


def test_show_says_how_to_get_the_data(cli_runner):
    open_lines = [ln.strip() for ln in cli_runner("datasets", "show", "Task614_LUNA16").stdout.splitlines()]
    assert any(ln.startswith("get: `segbook datasets fetch Task614_LUNA16 --out DIR`") for ln in open_lines)
    assert "then: `segbook prepare Task614_LUNA16 --raw DIR` (licence: CC BY 3.0)" in open_lines
    gated = [ln.strip() for ln in cli_runner("datasets", "show", "Task039_Parse22").stdout.splitlines()]
    assert any(ln.startswith("get: needs a signed data-use agreement: https://parse2022.grand-challenge.org")
               for ln in gated)
    assert any(ln.startswith("put: unpack everything into one folder DIR") for ln in gated)


def test_the_receipt_carries_the_datasets_licence_and_access(tmp_path):
    from types import SimpleNamespace  # noqa: PLC0415

    import torch  # noqa: PLC0415

    from segbook.api import FinetuneRequest  # noqa: PLC0415
    from segbook.core.configurations import Configuration  # noqa: PLC0415
    from segbook.core.hashing import sha256_json  # noqa: PLC0415
    from segbook.core.layout import RunLayout  # noqa: PLC0415
    from segbook.core.settings import Settings  # noqa: PLC0415
    from segbook.evaluate import evaluate_folder  # noqa: PLC0415
    from segbook.pipeline import stages  # noqa: PLC0415
    from segbook.pipeline.run_receipt import write_run_receipt  # noqa: PLC0415

    out = tmp_path / "out"
    configuration = Configuration("stunet-s", "scratch")
    request = FinetuneRequest(dataset="Demo", configuration=configuration, out_root=out, settings=Settings(),
                              command=["segbook", "finetune", "Demo"])
    located = stages.locate_dataset(request)
    dataset = stages.prepare(request, located, lambda message: None)
    assert (dataset.licence, dataset.access) == ("Apache-2.0", "embedded")
    layout = RunLayout(out, dataset.task_id, configuration.name, "all")
    layout.predictions_dir.mkdir(parents=True)
    plans = tmp_path / "plans.json"
    plans.write_text("{}")
    checkpoint = layout.results_dir / "checkpoint_final.pth"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"network_weights": {"w": torch.ones(1)}}, checkpoint)
    summary = {"patch_size": [8, 8, 8], "spacing": [1.0, 1.0, 1.0], "batch_size": 2, "strides": []}
    planned = SimpleNamespace(plans_path=plans, plans_sha256=sha256_json({}), plans_name="nnUNetPlans",
                              report={"plans": "nnUNetPlans", "used": summary, "nnunet": summary, "reference": None})
    trained = SimpleNamespace(weights=None, final_checkpoint=checkpoint, resumed=False,
                              config=SimpleNamespace(seed=1, threads=1, data_workers=1))
    metrics = evaluate_folder(dataset.test_labels, dataset.test_labels, dataset.labels, cases=list(dataset.split.test))
    _, body = write_run_receipt(request, dataset, layout, "cpu", planned, trained, {}, metrics, {})
    assert (body["dataset"]["licence"], body["dataset"]["access"]) == ("Apache-2.0", "embedded")
