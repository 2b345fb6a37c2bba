"""The training flags `finetune` and `grid plan` share are defined once (core/protocol.TrainingOptions):
every request that trains a cell inherits them, and the command line offers the same defaults."""

from __future__ import annotations

import dataclasses

import click
import pytest

from segbook.api.finetune import FinetuneRequest
from segbook.api.grid import PlanRequest as ApiPlanRequest
from segbook.cli.main import cli
from segbook.core.protocol import DEFAULT_SEED, PROTOCOL_EPOCHS, PROTOCOL_ITERATIONS, TrainingOptions
from segbook.grid.plan import PlanRequest as GridPlanRequest

pytestmark = pytest.mark.unit

BASE = {f.name: f.default for f in dataclasses.fields(TrainingOptions)}


def test_the_protocol_numbers_are_the_defaults():
    assert (BASE["epochs"], BASE["iterations_per_epoch"], BASE["seed"]) == (
        PROTOCOL_EPOCHS, PROTOCOL_ITERATIONS, DEFAULT_SEED)


@pytest.mark.parametrize("request_type", [FinetuneRequest, ApiPlanRequest, GridPlanRequest])
def test_every_training_request_inherits_the_defaults_unchanged(request_type):
    assert issubclass(request_type, TrainingOptions)
    own = {f.name: f.default for f in dataclasses.fields(request_type)}
    assert {name: own[name] for name in BASE} == BASE  # a re-declared field with its own default fails here


def test_options_pass_on_between_requests():
    plan = ApiPlanRequest(grid_dir="g", epochs=3, seed=7, threads=1, device="cpu")
    inner = GridPlanRequest(grid_dir="g", out_root="o", **plan.training_options())
    assert inner.training_options() == plan.training_options()
    assert (inner.epochs, inner.iterations_per_epoch, inner.seed) == (3, PROTOCOL_ITERATIONS, 7)


@pytest.mark.parametrize("path", [("finetune",), ("grid", "plan")])
def test_the_command_line_offers_the_same_defaults(path):
    command = cli
    for name in path:
        command = command.get_command(click.Context(command), name)  # the group imports its commands lazily
    params = {p.name: p for p in command.params if isinstance(p, click.Option)}
    for name in ("epochs", "iterations_per_epoch", "seed"):
        assert params[name].default == BASE[name], name
