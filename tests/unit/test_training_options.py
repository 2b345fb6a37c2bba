"""One cell spec: how a cell trains is TrainingOptions (core/protocol.py), defined once and carried
unchanged from the command line through the grid file, the task's argv and the trainer's config into
the receipt. Each shape is checked against the fields themselves, so a new field that some shape
forgets fails here (the receipt side: tests/integration/test_cell_options.py)."""

from __future__ import annotations

import dataclasses
import json

import click
import pytest

from segbook.api.finetune import FinetuneRequest
from segbook.api.grid import PlanRequest as ApiPlanRequest
from segbook.cli.main import cli
from segbook.core.errors import ExitCode, InvalidInput
from segbook.core.protocol import (
    DEFAULT_SEED,
    PROTOCOL_EPOCHS,
    PROTOCOL_ITERATIONS,
    TrainingOptions,
    option_argv,
    option_fields,
    options_from_values,
)
from segbook.grid.cells import Cell
from segbook.grid.commands import finetune_args
from segbook.grid.gridfile import GridEntry, GridSettings, read_grid, render_body, write_grid
from segbook.grid.plan import PlanRequest as GridPlanRequest
from segbook.nnunet.train_config import TrainConfig

pytestmark = pytest.mark.unit

BASE = {f.name: f.default for f in dataclasses.fields(TrainingOptions)}
# every field away from its default, None-able ones set: what a careless shape would drop
UNUSUAL = TrainingOptions(plan="nnunet", epochs=3, iterations_per_epoch=7, seed=2**32 - 1, deterministic=False,
                          threads=3, data_workers=0, device="cpu", checkpoint_minutes=0.25)


def _command(*path):
    command = cli
    for name in path:
        command = command.get_command(click.Context(command), name)  # the group imports its commands lazily
    return command


def _parsed_options(path, argv) -> TrainingOptions:
    """What the real click command makes of `argv` (its parameters, before the command body runs)."""
    command = _command(*path)
    ctx = command.make_context(command.name, list(argv))
    return TrainingOptions(**{f.name: ctx.params[f.name] for f in option_fields()})


def test_the_protocol_numbers_are_the_defaults():
    assert (BASE["epochs"], BASE["iterations_per_epoch"], BASE["seed"]) == (
        PROTOCOL_EPOCHS, PROTOCOL_ITERATIONS, DEFAULT_SEED)
    assert all(getattr(UNUSUAL, name) != default for name, default in BASE.items())  # UNUSUAL covers every field


@pytest.mark.parametrize("request_type", [FinetuneRequest, ApiPlanRequest, GridPlanRequest])
def test_every_training_request_inherits_the_defaults_unchanged(request_type):
    assert issubclass(request_type, TrainingOptions)
    own = {f.name: f.default for f in dataclasses.fields(request_type)}
    assert {name: own[name] for name in BASE} == BASE  # a re-declared field with its own default fails here


def test_options_pass_on_between_requests_as_one_value():
    plan = ApiPlanRequest(grid_dir="g", **UNUSUAL.as_dict())
    inner = GridPlanRequest(grid_dir="g", out_root="o", **plan.as_dict())
    assert inner.options == plan.options == UNUSUAL


@pytest.mark.parametrize("path", [("finetune",), ("grid", "plan")])
def test_both_commands_offer_every_option_with_its_default(path):
    params = {p.name: p for p in _command(*path).params if isinstance(p, click.Option)}
    for f in option_fields():
        assert f.name in params, f"{' '.join(path)} has no flag for {f.name}"
        assert params[f.name].default == f.default, f.name
        assert params[f.name].help == f.metadata["help"], f.name


@pytest.mark.parametrize("options", [TrainingOptions(), UNUSUAL], ids=["defaults", "unusual"])
def test_a_tasks_argv_parses_back_to_the_same_options(options):
    argv = option_argv(options)
    assert _parsed_options(("finetune",), ["Demo", *argv]) == options
    assert _parsed_options(("grid", "plan"), argv) == options


def test_the_grid_file_carries_every_option_and_the_cells_argv_gives_it_back(tmp_path):
    settings = GridSettings(out_root=str(tmp_path / "out"), trust_unpinned=True, options=UNUSUAL)
    entry = GridEntry(Cell("Task999_SegBookDemo", "stunet-s_ft", "all"), "/raw", "/w/s.model")
    write_grid(tmp_path, settings, [entry])
    grid = read_grid(tmp_path)
    assert grid.settings == settings
    argv = finetune_args(grid.entries[0], grid.settings, raw="/raw", out="/out", weights="/w/s.model")
    assert "--trust-unpinned" in argv and "--plan" in argv
    assert _parsed_options(("finetune",), argv[1:]) == UNUSUAL


def _legacy_grid(tmp_path, fmt: str, lines: list[str]):
    import hashlib  # noqa: PLC0415

    body = "\n".join([*lines, "task_id\tconfiguration\tfold\traw\tweights", "Task999_SegBookDemo\tnnunet\tall\t-\t-"])
    body += "\n"
    digest = hashlib.sha256(body.encode()).hexdigest()
    (tmp_path / "grid.tsv").write_text(f"# planned by an older kit\n#format {fmt}\n#sha256 {digest}\n{body}")


FORMAT_1_SETTINGS = ['@out_root\t"/scratch/out"', "@epochs\t4", "@iterations_per_epoch\t250", "@seed\t12345",
                     "@deterministic\ttrue", "@threads\tnull", "@data_workers\tnull", '@device\t"auto"',
                     "@checkpoint_minutes\tnull", "@trust_unpinned\tfalse"]


def test_a_format_1_grid_file_is_read_with_what_it_meant(tmp_path):
    _legacy_grid(tmp_path, "segbook-grid/1", FORMAT_1_SETTINGS)
    grid = read_grid(tmp_path)
    # format 1 had no plan line (cells used auto) and wrote null for finetune's checkpoint default
    assert grid.settings.options == TrainingOptions(epochs=4)
    assert grid.settings.out_root == "/scratch/out" and not grid.settings.trust_unpinned


def test_an_option_a_grid_file_lacks_takes_its_default(tmp_path):
    _legacy_grid(tmp_path, "segbook-grid/2", [line for line in FORMAT_1_SETTINGS if "@threads" not in line
                                               and "@checkpoint_minutes" not in line])
    assert read_grid(tmp_path).settings.options == TrainingOptions(epochs=4)


@pytest.mark.parametrize("fmt", ["segbook-grid/9", "segbook-grid/0"])
def test_a_grid_file_of_another_format_is_refused_with_how_to_replan(tmp_path, fmt):
    _legacy_grid(tmp_path, fmt, FORMAT_1_SETTINGS)
    with pytest.raises(InvalidInput, match=fmt) as caught:
        read_grid(tmp_path)
    assert "segbook grid plan" in caught.value.hint and "--force" in caught.value.hint
    assert caught.value.exit_code == ExitCode.DATA_INVALID


@pytest.mark.parametrize("line", ["@epochs\t0", "@seed\t-1", '@device\t"tpu"', '@epochs\t"4"', "@deterministic\t1",
                                  "@checkpoint_minutes\ttrue", '@plan\t"mine"', "@colour\t3"])
def test_a_wrong_option_in_a_grid_file_is_data_invalid(tmp_path, line):
    name = line.split("\t")[0]
    _legacy_grid(tmp_path, "segbook-grid/2", [x for x in FORMAT_1_SETTINGS if not x.startswith(name + "\t")] + [line])
    with pytest.raises(InvalidInput):
        read_grid(tmp_path)


def test_the_rendered_settings_are_exactly_the_fields(tmp_path):
    body = render_body(GridSettings("/o", False, TrainingOptions()), [])
    names = [line[1:].split("\t")[0] for line in body.splitlines() if line.startswith("@")]
    assert names == ["out_root", "trust_unpinned", *BASE]


def test_the_train_config_keeps_the_options_unchanged_and_reads_them_back(tmp_path):
    config = TrainConfig("stunet-s_scratch", "S", "scratch", None, UNUSUAL, 1, 0.01, None, 3, 0, False)
    config.save(tmp_path / "train_config.json")
    assert json.loads((tmp_path / "train_config.json").read_text())["options"] == UNUSUAL.as_dict()
    assert TrainConfig.load(tmp_path / "train_config.json") == config


def test_a_resumed_run_may_change_only_what_changes_no_bits():
    config = TrainConfig("nnunet", None, "default", None, TrainingOptions(), 1, 0.01, 1, 2, 2, False)
    timer = dataclasses.replace(config, options=dataclasses.replace(config.options, checkpoint_minutes=1.0,
                                                                    device="cpu"))
    assert config.same_results_as(timer)
    for change in ({"epochs": 2}, {"iterations_per_epoch": 3}, {"deterministic": False}, {"plan": "paper"}):
        other = dataclasses.replace(config, options=dataclasses.replace(config.options, **change))
        assert not config.same_results_as(other), change
    assert not config.same_results_as(dataclasses.replace(config, threads=1))  # the count in effect


def test_a_train_config_from_an_older_kit_is_a_clear_refusal(tmp_path):
    path = tmp_path / "train_config.json"
    path.write_text(json.dumps({"configuration": "nnunet", "epochs": 5, "checkpoint_minutes": None}))
    with pytest.raises(InvalidInput, match="not a train config this kit wrote") as caught:
        TrainConfig.load(path)
    assert "--force" in caught.value.hint


def test_options_from_values_refuses_an_unknown_name_with_the_newer_kit_hint():
    with pytest.raises(InvalidInput, match="unknown training option") as caught:
        options_from_values({"epochs": 3, "warp_speed": 9}, "grid.tsv")
    assert "newer kit" in caught.value.hint
