"""Read STU-Net / nnU-Net checkpoints safely, fit them to a network, and hash them over their tensors.

Torch only (nnunetv2 is never imported). Files are unpickled with ``weights_only=True`` and an
allow-list of exactly the numpy scalar types nnU-Net's training logs put into them; anything else a
pickle asks for is refused before it runs.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from segbook.core.errors import InputMissing, InvalidInput
from segbook.models.official_format import save_official_v1_checkpoint, save_v2_checkpoint
from segbook.models.stunet import SCALES

__all__ = [
    "Checkpoint", "PretrainedInfo", "adapt_pretrained", "checkpoint_tensor_hash",
    "load_checkpoint_state_dict", "load_pretrained_into", "read_checkpoint", "read_training_checkpoint",
    "save_official_v1_checkpoint", "save_v2_checkpoint", "tensor_hash", "unwrap_model",
]

HEAD_PREFIX = "seg_outputs."
FIRST_LAYER_KEYS = ("conv_blocks_context.0.0.conv1.weight", "conv_blocks_context.0.0.conv3.weight")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DDP and torch.compile wrappers
TENSOR_HASH_VERSION = b"segbook-tensor-hash/1\n"
_SHOW = 3  # names listed per kind of mismatch in an error message
# phrases of torch's weights-only unpickler when a pickle asks for something not allowed
_UNSAFE_MARKERS = ("GLOBAL", "global", "allowlist", "Can only build", "blocked")


def _numpy_scalar_globals() -> list:
    """The globals a numpy scalar pickles to: its constructor (numpy 1.x and 2.x module names),
    numpy.dtype, and the numeric dtype classes (their state is restored with BUILD)."""
    from numpy._core.multiarray import scalar  # noqa: PLC0415 - numpy >= 2 (1.26 has this alias too)

    dtype_classes = [getattr(np.dtypes, name) for name in (
        "BoolDType", "Int8DType", "Int16DType", "Int32DType", "Int64DType", "UInt8DType",
        "UInt16DType", "UInt32DType", "UInt64DType", "Float16DType", "Float32DType", "Float64DType",
        "LongLongDType", "ULongLongDType", "LongDType", "ULongDType",
    ) if hasattr(np.dtypes, name)]
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtype_classes]


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint file holds that the kit uses."""

    path: Path
    format: str  # "nnunet-v1" (.model), "nnunet-v2" (.pth) or "state-dict" (a bare state_dict)
    state_dict: dict[str, torch.Tensor]
    epoch: int | None = None


@dataclass
class PretrainedInfo:
    """What :func:`load_pretrained_into` did, for logs and receipts."""

    path: str
    format: str
    tensor_sha256: str  # hash of the checkpoint's weights as stored (heads included)
    tensors_loaded: int
    heads_dropped: list[str] = field(default_factory=list)
    channels_repeated: int = 1  # k when the 1-channel first layer was repeated k times
    epoch: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _torch_load(path: Path):
    """torch.load with weights_only=True; mmap for zip files so optimizer state stays on disk."""
    use_mmap = zipfile.is_zipfile(path)
    with torch.serialization.safe_globals(_numpy_scalar_globals()):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=use_mmap)


RUN_CHECKPOINT_HINT = "pass --force to start the run over"


def _load_object(path: Path, damaged_hint: str | None = None):
    if not path.exists():
        raise InputMissing(f"checkpoint {path} does not exist",
                           hint="check the path given to --weights, or run `segbook weights`")
    if not path.is_file():
        raise InvalidInput(f"checkpoint {path} is not a file", hint="pass the .model or .pth file itself")
    try:
        return _torch_load(path)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        unsafe = [line for line in lines if any(marker in line for marker in _UNSAFE_MARKERS)]
        if unsafe:
            detail = unsafe[0].removeprefix("WeightsUnpickler error:").strip()[:160]
            raise InvalidInput(
                f"refusing to unpickle {path}: it is not a plain checkpoint ({detail})",
                hint="only tensors, plain containers and numpy scalars are loaded; "
                     "get the file from its official source") from exc
        raise _corrupt(path, exc, damaged_hint) from exc
    except Exception as exc:  # any other parse failure (zip, struct, EOF, ...) is a damaged file
        raise _corrupt(path, exc, damaged_hint) from exc


def _corrupt(path: Path, exc: Exception, hint: str | None = None) -> InvalidInput:
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
    return InvalidInput(f"checkpoint {path} is corrupt or truncated ({first[:160]})",
                        hint=hint or "download the file again and compare its sha256")


def _strip_wrapper_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    changed = True
    while changed and state_dict:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state_dict):
                state_dict = {key[len(prefix):]: value for key, value in state_dict.items()}
                changed = True
    return state_dict


def _as_state_dict(obj, path: Path) -> dict[str, torch.Tensor]:
    if not isinstance(obj, Mapping) or not obj:
        raise InvalidInput(f"checkpoint {path} holds no weights",
                           hint="expected an nnU-Net v1 .model or v2 .pth file")
    bad = [key for key, value in obj.items()
           if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise InvalidInput(f"checkpoint {path}: {len(bad)} weight entries are not tensors "
                           f"({', '.join(map(str, bad[:_SHOW]))})",
                           hint="expected an nnU-Net v1 .model or v2 .pth file")
    return _strip_wrapper_prefixes(dict(obj))


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read an nnU-Net v1 ``.model`` (``state_dict``), v2 ``.pth`` (``network_weights``) or bare
    state_dict file. Errors: InputMissing (no file), InvalidInput (unsafe, corrupt, no weights)."""
    path = Path(path)
    obj = _load_object(path)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        fmt, weights, epoch = "nnunet-v1", obj["state_dict"], obj.get("epoch")
    elif isinstance(obj, Mapping) and "network_weights" in obj:
        fmt, weights, epoch = "nnunet-v2", obj["network_weights"], obj.get("current_epoch")
    else:
        fmt, weights, epoch = "state-dict", obj, None
    epoch = int(epoch) if isinstance(epoch, int | np.integer) else None
    return Checkpoint(path=path, format=fmt, state_dict=_as_state_dict(weights, path), epoch=epoch)


def read_training_checkpoint(path: str | Path) -> dict:
    """A checkpoint nnU-Net's trainer wrote (weights, optimizer, logs), unpickled safely.

    nnU-Net loads these with full unpickling; the kit's trainer and predictor load them here
    instead, so a pickle planted in a run folder is refused (InvalidInput) before it runs."""
    path = Path(path)
    obj = _load_object(path, damaged_hint=RUN_CHECKPOINT_HINT)  # the kit wrote it: redo, not re-download
    if not isinstance(obj, Mapping) or "network_weights" not in obj:
        raise InvalidInput(f"checkpoint {path} is not an nnU-Net v2 training checkpoint (no network_weights)",
                           hint="pass --force to start the run over")
    _as_state_dict(obj["network_weights"], path)
    return dict(obj)


def load_checkpoint_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint file (see :func:`read_checkpoint`)."""
    return read_checkpoint(path).state_dict


def tensor_hash(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the tensors: for each key in sorted order, a header line
    ``key<TAB>dtype<TAB>[shape]<TAB>nbytes`` then the tensor's contiguous CPU bytes (viewed as
    uint8, so bf16/fp16 need no numpy conversion). The pickle layout, storage sharing, device and
    key order of the file do not matter; one changed value does."""
    digest = hashlib.sha256(TENSOR_HASH_VERSION)
    for key in sorted(state_dict):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            raise InvalidInput(f"cannot hash {key!r}: not a tensor")
        flat = value.detach().to("cpu").contiguous().reshape(-1)
        raw = flat.view(torch.uint8) if flat.numel() else torch.empty(0, dtype=torch.uint8)
        dtype = str(value.dtype).removeprefix("torch.")
        digest.update(f"{key}\t{dtype}\t{list(value.shape)}\t{raw.numel()}\n".encode())
        digest.update(raw.numpy().data)  # the array's memoryview: what memoryview(array) gives, typed as a buffer
    return digest.hexdigest()


def weights_tensor_hash(training_checkpoint: Mapping, path: Path) -> str:
    """:func:`tensor_hash` of the weights of a checkpoint already read by :func:`read_training_checkpoint`:
    what `checkpoint_tensor_hash(path)` gives, without reading the file a second time (so the weights
    hashed are the weights used)."""
    return tensor_hash(_as_state_dict(training_checkpoint["network_weights"], path))


def checkpoint_tensor_hash(path: str | Path) -> str:
    """:func:`tensor_hash` of a checkpoint file's weights."""
    return tensor_hash(load_checkpoint_state_dict(path))


def guess_scale(state_dict: Mapping[str, torch.Tensor]) -> str | None:
    """'S'/'B'/'L'/'H' from the first stage's width and depth, None if it is no STU-Net."""

    first = state_dict.get(FIRST_LAYER_KEYS[0])
    if first is None or first.dim() != 5:
        return None
    blocks = len({key.split(".")[2] for key in state_dict if key.startswith("conv_blocks_context.0.")})
    for name, (width, depth) in SCALES.items():
        if first.shape[0] == width and blocks == depth:
            return name
    return None


def _shortlist(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOW])
    return shown + (f", ... {len(items) - _SHOW} more" if len(items) > _SHOW else "")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain network inside torch.compile (``_orig_mod``) and DDP/DataParallel (``module``)
    wrappers; nnU-Net compiles its network by default on CUDA."""
    while True:
        inner = getattr(model, "_orig_mod", None)
        if inner is None:
            inner = getattr(model, "module", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def _fit(state_dict: Mapping[str, torch.Tensor], model: nn.Module):
    """Adapted weights, dropped head keys, repeat factor; InvalidInput listing every misfit."""
    target = unwrap_model(model).state_dict()
    heads = sorted(key for key in state_dict if key.startswith(HEAD_PREFIX))
    wanted = [key for key in target if not key.startswith(HEAD_PREFIX)]
    missing = [key for key in wanted if key not in state_dict]
    extra = [key for key in state_dict if key not in target and not key.startswith(HEAD_PREFIX)]
    misshaped, adapted, repeat = [], {}, 1
    for key in wanted:
        if key not in state_dict:
            continue
        value, shape = state_dict[key], tuple(target[key].shape)
        if tuple(value.shape) != shape and key in FIRST_LAYER_KEYS and value.dim() == 5 \
                and value.shape[1] == 1 and shape[1] > 1 and value.shape[2:] == shape[2:] \
                and value.shape[0] == shape[0]:
            # the released recipe for k input channels: the 1-channel filters, repeated k times
            value, repeat = value.repeat(1, shape[1], 1, 1, 1), shape[1]
        if tuple(value.shape) != shape:
            misshaped.append(f"{key}: checkpoint {tuple(state_dict[key].shape)} vs network {shape}")
            continue
        adapted[key] = value
    if missing or extra or misshaped:
        parts = [f"{len(items)} {kind} ({_shortlist(items)})"
                 for kind, items in (("missing", missing), ("unexpected", extra), ("mis-shaped", misshaped))
                 if items]
        found = guess_scale(state_dict)
        hint = (f"the checkpoint looks like STU-Net-{found}; choose the model of that scale"
                if found else "the checkpoint is not an STU-Net of this scale")
        raise InvalidInput(f"checkpoint does not fit this network: {', '.join(parts)}", hint=hint)
    return adapted, heads, repeat


def adapt_pretrained(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The pre-trained weights ready for ``model.load_state_dict(..., strict=False)``.

    Segmentation heads (``seg_outputs.*``) are dropped (the target task has its own classes); for
    k > 1 input channels the two 1-channel first-layer weights are repeated k times along the
    input-channel axis; every other key must exist on both sides with the same shape, else
    InvalidInput lists what is missing, unexpected and mis-shaped.
    """
    return _fit(state_dict, model)[0]


def load_pretrained_into(model: nn.Module, path: str | Path) -> PretrainedInfo:
    """Read a checkpoint, fit it (see :func:`adapt_pretrained`) and load it into ``model``
    (a torch.compile or DDP wrapper is looked through)."""
    checkpoint = read_checkpoint(path)
    model = unwrap_model(model)
    adapted, heads, repeat = _fit(checkpoint.state_dict, model)
    result = model.load_state_dict(adapted, strict=False)
    leftover = [key for key in result.missing_keys if not key.startswith(HEAD_PREFIX)]
    if leftover or result.unexpected_keys:  # _fit guarantees neither; keep the promise explicit
        raise InvalidInput(f"checkpoint {path} did not load fully ({_shortlist(leftover)})")
    return PretrainedInfo(path=str(path), format=checkpoint.format,
                          tensor_sha256=tensor_hash(checkpoint.state_dict), tensors_loaded=len(adapted),
                          heads_dropped=heads, channels_repeated=repeat, epoch=checkpoint.epoch)
