"""The SegBook protocol's numbers, defined once (every command, the grid and the splits use these).

The training schedule is nnU-Net's default, which SegBook kept: 1000 epochs x 250 iterations.
One seed, 12345, pins everything the kit draws: the held-out split of every lock, and the
training RNGs in deterministic mode (nnU-Net's own cross-validation split uses the same number).
"""

from dataclasses import dataclass, fields

from segbook.core.errors import UsageProblem

DEFAULT_SEED = 12345
# the training seeds every RNG: numpy's legacy np.random.seed takes 0..2**32-1 only (torch.manual_seed
# up to 2**64-1, random.seed anything), so that is the range every one of them accepts as given
SEED_MIN, SEED_MAX = 0, 2**32 - 1
PROTOCOL_EPOCHS = 1000
PROTOCOL_ITERATIONS = 250
PLAN_CHOICES = ("auto", "paper", "nnunet")  # --plan: auto = the paper's where the catalog has one (docs/plans.md)


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """How a cell trains: the flags `finetune` and `grid plan` share, their defaults defined here once.

    Keyword-only, so that a request can inherit it and keep its own required fields first.
    """

    epochs: int = PROTOCOL_EPOCHS
    iterations_per_epoch: int = PROTOCOL_ITERATIONS
    seed: int = DEFAULT_SEED
    deterministic: bool = True
    threads: int | None = None  # None: a fixed count when deterministic, else torch's own
    data_workers: int | None = None  # None: a fixed count when deterministic, else one per spare core
    device: str = "auto"

    def __post_init__(self):
        # a library caller gets the CLI's refusal (exit 2) now, not a failure in every cell after prepare
        check_seed(self.seed)

    def training_options(self) -> dict:
        """These fields alone, to pass on to another request that inherits them."""
        return {f.name: getattr(self, f.name) for f in fields(TrainingOptions)}


def check_seed(seed) -> int:
    """`seed` if every RNG the kit seeds takes it (SEED_MIN..SEED_MAX), else UsageProblem."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not SEED_MIN <= seed <= SEED_MAX:
        raise UsageProblem(f"--seed must be a whole number from {SEED_MIN} to {SEED_MAX} (2**32-1, the range "
                           f"numpy, torch and Python all accept), got {str(seed)[:40]}",
                           hint=f"the protocol's seed is {DEFAULT_SEED}")
    return seed
