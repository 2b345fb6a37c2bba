"""The SegBook protocol's numbers, defined once (every command, the grid and the splits use these).

The training schedule is nnU-Net's default, which SegBook kept: 1000 epochs x 250 iterations.
One seed, 12345, pins everything the kit draws: the held-out split of every lock, and the
training RNGs in deterministic mode (nnU-Net's own cross-validation split uses the same number).
"""

DEFAULT_SEED = 12345
PROTOCOL_EPOCHS = 1000
PROTOCOL_ITERATIONS = 250
PLAN_CHOICES = ("auto", "paper", "nnunet")  # --plan: auto = the paper's where the catalog has one (docs/plans.md)
