"""The benchmark grid: many cells (dataset x configuration x fold), one `segbook finetune` each.

    cells      what a cell is, its resource class and run folder
    selection  --datasets / --configs / --folds -> cells, in a stable order
    datamap    data.yaml: where each dataset's raw download lives
    preflight  every problem of a grid, found in one pass before anything is written
    gridfile   the grid file: one line per cell, with its own content hash
    cost       GPU-hours and disk, estimated from segbook/data/throughput.yaml
    profile    the site profile (partition, account, GPU syntax, ...), validated
    commands   the argv of one cell: native, or in Apptainer / Podman / Docker
    images     an image's labels (Docker SDK, `apptainer inspect`) against this checkout
    slurm      job-array scripts and sbatch/squeue/sacct/scontrol calls
    submit     write a submission folder and submit it
    status     where every cell stands, from run folders and Slurm
    ledger     our Dice next to the paper's for every cell, and its renderings

Nothing here imports torch or nnunetv2: the grid commands run on login nodes.
"""
