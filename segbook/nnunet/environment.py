"""The environment of every nnU-Net process the kit starts.

nnU-Net reads its folders and options from environment variables at import time, so the kit
sets them for its child processes only and never changes its own environment.
"""

from __future__ import annotations

from pathlib import Path

from segbook.core.settings import ENV_TRAIN_CONFIG, process_environ

EXT_TRAINER_DIR = Path(__file__).parent / "ext_trainers"


def nnunet_environment(
    out_root: Path,
    results_dir: Path,
    *,
    threads: int | None,
    data_workers: int,
    train_config: Path | None = None,
    deterministic: bool = False,
) -> dict[str, str]:
    env = process_environ()
    out_root = out_root.resolve()
    env.update(
        {
            "nnUNet_raw": str(out_root / "nnUNet_raw"),
            "nnUNet_preprocessed": str(out_root / "nnUNet_preprocessed"),
            "nnUNet_results": str(results_dir.resolve()),
            "nnUNet_extTrainer": str(EXT_TRAINER_DIR),
            "nnUNet_n_proc_DA": str(data_workers),
            "nnUNet_compile": "false",  # torch.compile is slow to start and not bit-stable
            # every cache under the output root, so a read-only HOME is fine
            "MPLCONFIGDIR": str(out_root / ".cache" / "matplotlib"),
            "TORCH_HOME": str(out_root / ".cache" / "torch"),
            "XDG_CACHE_HOME": str(out_root / ".cache"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
    if deterministic:
        env["PYTHONHASHSEED"] = "0"
        env["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # needed by deterministic cuBLAS
    if train_config is not None:
        env[ENV_TRAIN_CONFIG] = str(train_config.resolve())
    return env
