"""The SegBook protocol's numbers, and the one description of how a cell trains (TrainingOptions).

The training schedule is nnU-Net's default, which SegBook kept: 1000 epochs x 250 iterations.
One seed, 12345, pins everything the kit draws: the held-out split of every lock, and the
training RNGs in deterministic mode (nnU-Net's own cross-validation split uses the same number).

TrainingOptions is carried unchanged from the command line (segbook.cli.options builds the flags
from its fields), through the grid file (one `@name value` line per field), a grid task's argv
(`option_argv`), the pipeline and the trainer's config (TrainConfig.options), into the receipt
(`configuration.options`). A new option is one field here, with its help text, plus the code
that uses it; its default must be what the kit did before it existed, so that older grid files
and train configs, which lack it, still mean what they meant (docs/grid.md).
"""

import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields

from segbook.core.errors import UsageProblem

DEFAULT_SEED = 12345
# the training seeds every RNG: numpy's legacy np.random.seed takes 0..2**32-1 only (torch.manual_seed
# up to 2**64-1, random.seed anything), so that is the range every one of them accepts as given
SEED_MIN, SEED_MAX = 0, 2**32 - 1
PROTOCOL_EPOCHS = 1000
PROTOCOL_ITERATIONS = 250
PLAN_CHOICES = ("auto", "paper", "nnunet")  # --plan: auto = the paper's where the catalog has one (docs/plans.md)
DEVICE_CHOICES = ("auto", "cpu", "cuda")
DEFAULT_CHECKPOINT_MINUTES = 30.0


def _option(default, help_text: str, *, minimum=None, maximum=None, choices=None, same_run: bool = True):
    """A TrainingOptions field and what its command-line flag needs. same_run=False: a resumed run may use
    another value, because the option changes no bits, or because what it resolves to is compared
    instead (TrainConfig's seed, threads and data workers in effect)."""
    return field(default=default, metadata={"help": help_text, "minimum": minimum, "maximum": maximum,
                                            "choices": choices, "same_run": same_run})


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """How a cell trains: every flag `finetune` and `grid plan` share, with its default, defined here once.

    Keyword-only, so that a request can inherit it and keep its own required fields first.
    """

    plan: str = _option("auto", "Patch size and target spacing: the paper's reference plan for this dataset "
                                "(paper; what auto picks when the catalog has one) or nnU-Net 2.8.1's own planner "
                                "(nnunet; auto's choice for datasets without one). Either way nnU-Net plans the "
                                "rest (see docs/plans.md).", choices=PLAN_CHOICES)
    epochs: int = _option(PROTOCOL_EPOCHS, "Training epochs (SegBook protocol: 1000).", minimum=1)
    iterations_per_epoch: int = _option(PROTOCOL_ITERATIONS, "Training iterations per epoch (SegBook protocol: "
                                                             "250).", minimum=1)
    seed: int = _option(DEFAULT_SEED, "The one seed every RNG is derived from (recorded in the receipt). "
                                      f"{SEED_MIN} to {SEED_MAX}.",
                        minimum=SEED_MIN, maximum=SEED_MAX, same_run=False)
    deterministic: bool = _option(True, "Seed every RNG, deterministic kernels, fixed threads and batch order: "
                                        "two runs give bit-identical weights and predictions on the same device "
                                        "class.")
    threads: int | None = _option(None, "Compute threads (default: 2 in deterministic mode, torch's default "
                                         "otherwise).", minimum=1, same_run=False)
    data_workers: int | None = _option(None, "Augmentation worker processes (default: 2 in deterministic mode, "
                                              "else cores-1 up to 4). Part of what makes a run reproducible.",
                                       minimum=0, same_run=False)
    device: str = _option("auto", "Where to train and predict.", choices=DEVICE_CHOICES, same_run=False)
    checkpoint_minutes: float = _option(DEFAULT_CHECKPOINT_MINUTES, "Also write a checkpoint every N minutes of "
                                        "training, whatever the epoch (0: only nnU-Net's own every-50-epochs "
                                        "checkpoints and the one written on SIGTERM/SIGUSR1/Ctrl-C).",
                                        minimum=0, same_run=False)

    def __post_init__(self):
        # a library caller gets the CLI's refusal (exit 2) now, not a failure in every cell after prepare
        check_seed(self.seed)

    @property
    def options(self) -> "TrainingOptions":
        """These fields alone (a request that inherits them passes them on as one value)."""
        return TrainingOptions(**{f.name: getattr(self, f.name) for f in fields(TrainingOptions)})

    def as_dict(self) -> dict:
        return asdict(self.options)

    def for_same_run(self) -> dict:
        """The fields that change what a run produces (may a run made with `other` continue this one?)."""
        return {f.name: getattr(self, f.name) for f in fields(TrainingOptions) if f.metadata["same_run"]}


def option_fields():
    return fields(TrainingOptions)


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def option_argv(options: TrainingOptions) -> list[str]:
    """The `segbook finetune` flags that give exactly `options` (the CLI parses them back to an equal
    value: tested); unset optional ones are left out, floats written with repr so they round-trip."""
    argv: list[str] = []
    for f in option_fields():
        value = getattr(options, f.name)
        if value is None:
            continue
        if isinstance(value, bool):
            argv.append(flag_of(f.name) if value else "--no-" + f.name.replace("_", "-"))
        else:
            argv += [flag_of(f.name), repr(value) if isinstance(value, float) else str(value)]
    return argv


def allowed_types(f) -> tuple[type, ...]:
    """The Python types a field's annotation allows (`int | None` -> (int, NoneType)); an int is a float."""
    hint = typing.get_type_hints(TrainingOptions)[f.name]  # real types, whether annotations are strings or not
    kinds = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return tuple(kinds) + ((int,) if float in kinds else ())


def options_from_values(values: dict, where: str, prefix: str = "") -> TrainingOptions:
    """TrainingOptions from recorded `name: value` pairs (a grid file, a train config), each checked
    against its field's type and range; a field not recorded takes its default (recorded before it
    existed). A wrong type or an unknown name is InvalidInput (65), naming it as `prefix + name` (the grid
    file's `@epochs`)."""
    from segbook.core.errors import InvalidInput  # noqa: PLC0415 - one import cycle less

    known = {f.name: f for f in option_fields()}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise InvalidInput(f"{where}: unknown training option(s) {', '.join(prefix + n for n in unknown)[:200]}",
                           hint="it was written by a newer kit: use that kit, or plan it again with this one")
    checked: dict[str, typing.Any] = {}
    for name, value in values.items():
        f = known[name]
        kinds = allowed_types(f)
        meta = f.metadata
        bad = not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
        if not bad and value is not None and not isinstance(value, bool):
            bad = ((meta["minimum"] is not None and value < meta["minimum"])
                   or (meta["maximum"] is not None and value > meta["maximum"])
                   or (meta["choices"] is not None and value not in meta["choices"]))
        if bad:
            raise InvalidInput(f"{where}: option {prefix}{name} is {json.dumps(value)[:40]}, which {flag_of(name)} "
                               "does not accept", hint="plan it again with `segbook grid plan` (a damaged or "
                                                       "hand-edited file)")
        checked[name] = float(value) if float in kinds and isinstance(value, int) else value  # JSON's 30 is 30.0
    return TrainingOptions(**checked)


def check_seed(seed) -> int:
    """`seed` if every RNG the kit seeds takes it (SEED_MIN..SEED_MAX), else UsageProblem."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_MIN <= seed <= SEED_MAX:
        raise UsageProblem(f"--seed must be a whole number from {SEED_MIN} to {SEED_MAX} (2**32-1, the range "
                           f"numpy, torch and Python all accept), got {str(seed)[:40]}",
                           hint=f"the protocol's seed is {DEFAULT_SEED}")
    return seed
