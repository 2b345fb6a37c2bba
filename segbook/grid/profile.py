"""The site profile (--profile site.yaml): what adapts the job scripts to one cluster.

Every key is known and checked: a typo (`gpu_typ`) or a value sbatch would choke on is an error
(exit 65) naming the key, before any script is written. Per-class overrides sit under
`classes: {small|large|huge: {...}}`. An annotated example: docs/examples/site-profile.yaml.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

from segbook.core.errors import InputMissing, InvalidInput
from segbook.grid.cells import RESOURCE_CLASSES

_WORD = re.compile(r"^[A-Za-z0-9_.:@+-]+$")  # partition, account, qos, GPU type
_CONSTRAINT = re.compile(r"^[A-Za-z0-9_.,:|&\[\]*()+-]+$")
_TIME = re.compile(r"^(\d+-\d{1,2}(:\d{2}){0,2}|\d+(:\d{2}){0,2})$")
_MEM = re.compile(r"^\d+[KMGT]?$")
_SBATCH_OPTION = re.compile(r"^--[a-z][a-z0-9-]*(=[^\s'\"\\`$;]+)?$")
_MODULE = re.compile(r"^[A-Za-z0-9_.+/-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
GPU_REQUESTS = ("gres", "gpus", "none")  # --gres=gpu[:type]:N | --gpus=[type:]N | no GPU (CPU clusters, tests)
# options the kit's scripts set themselves: a profile may not change them
MAX_PROFILE_BYTES = 1 << 20  # a real profile is a few hundred bytes
MAX_PROFILE_NODES = 10_000  # YAML nodes after aliases are expanded (an alias bomb has billions)
SHOWN_CHARS = 80  # at most this much of any value goes into an error line
OWNED_OPTIONS = ("--array", "--output", "--error", "--open-mode", "--signal", "--requeue", "--no-requeue",
                 "--job-name", "--parsable")


@dataclass(frozen=True)
class ClassResources:
    """What one resource class asks Slurm for."""
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    gpu_request: str = "gres"
    gpus: int = 1
    gpu_type: str | None = None
    time: str = "24:00:00"
    mem: str = "32G"
    cpus: int = 8
    max_concurrent: int | None = None
    constraint: str | None = None
    extra_sbatch: tuple[str, ...] = ()


# the kit's defaults per class; a profile overrides them (top level for all, `classes:` per class)
DEFAULTS = {"small": ClassResources(), "large": ClassResources(mem="64G"), "huge": ClassResources(mem="128G")}
CLASS_KEYS = tuple(f.name for f in fields(ClassResources))


@dataclass(frozen=True)
class SiteProfile:
    classes: dict  # class name -> ClassResources
    modules: tuple[str, ...] = ()  # `module load` lines in every script
    env: tuple[tuple[str, str], ...] = ()  # exported in every script (quoted)
    requeue_limit: int = 10  # requeues after exit 75 (preemption, time limit) before a cell gives up
    signal_grace: int = 600  # seconds between Slurm's USR1 and the kill: an iteration + a checkpoint write
    apptainer: str = "apptainer"  # or singularity
    source: str = "(kit defaults)"

    def resources(self, resource_class: str) -> ClassResources:
        return self.classes[resource_class]


def time_hours(text: str) -> float:
    """A Slurm time limit in hours: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS (already validated)."""
    days, _, rest = text.rpartition("-") if "-" in text else ("0", "", text)
    parts = [int(p) for p in rest.split(":")]
    if "-" in text:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:  # MM or MM:SS
        hours, minutes, seconds = 0, parts[0], (parts[1] if len(parts) > 1 else 0)
    return int(days or 0) * 24 + hours + minutes / 60 + seconds / 3600


_REPR = reprlib.Repr()  # stops early at depth and length: never walks a huge (aliased) structure
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, SHOWN_CHARS, SHOWN_CHARS


def shown(value) -> str:
    """repr(value) cut to about SHOWN_CHARS characters, for error messages."""
    text = _REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _fail(where: str, key, message: str) -> InvalidInput:
    key = str(key) if len(str(key)) <= SHOWN_CHARS else str(key)[: SHOWN_CHARS - 1] + "…"
    return InvalidInput(f"site profile {where}: {key}: {message}",
                        hint="see docs/hpc.md and docs/examples/site-profile.yaml for every key and its format")


def _check_value(where: str, key: str, value):
    def need(ok: bool, what: str):
        if not ok:
            raise _fail(where, key, f"{shown(value)} is not {what}")
        return value

    name = key.rsplit(".", 1)[-1]
    if name in ("partition", "account", "qos", "gpu_type"):
        return need(value is None or (isinstance(value, str) and bool(_WORD.match(value))), "a plain name")
    if name == "constraint":
        return need(value is None or (isinstance(value, str) and bool(_CONSTRAINT.match(value))),
                    "a Slurm constraint")
    if name == "gpu_request":
        return need(value in GPU_REQUESTS, f"one of {', '.join(GPU_REQUESTS)}")
    if name in ("gpus", "cpus"):
        return need(isinstance(value, int) and not isinstance(value, bool) and value >= 1, "a whole number >= 1")
    if name == "max_concurrent":
        return need(value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1),
                    "a whole number >= 1")
    if name == "time":
        return need(isinstance(value, str) and bool(_TIME.match(value)), "a Slurm time (MM, HH:MM:SS, D-HH:MM:SS)")
    if name == "mem":
        return need(isinstance(value, str) and bool(_MEM.match(value)), "a Slurm memory size (e.g. 64G)")
    if name == "extra_sbatch":
        need(isinstance(value, list) and all(isinstance(v, str) and _SBATCH_OPTION.match(v) for v in value),
             "a list of single sbatch options like --mail-type=END")
        owned = [v for v in value if v.split("=")[0] in OWNED_OPTIONS]
        need(not owned, f"free of options the kit sets itself ({', '.join(OWNED_OPTIONS)})")
        return tuple(value)
    raise _fail(where, key, "unknown key")  # pragma: no cover - callers check names first


def _class_values(where: str, prefix: str, raw: dict) -> dict:
    values = {}
    for key, value in raw.items():
        if key not in CLASS_KEYS:
            raise _fail(where, f"{prefix}{key}", "unknown key")
        values[key] = _check_value(where, f"{prefix}{key}", value)
    return values


def _top_level(where: str, data: dict) -> tuple[dict, dict]:
    """The class-wide values and the other settings of the profile, checked."""
    shared: dict[str, object] = {}
    other: dict[str, object] = {}  # tuples, numbers and strings
    for key, value in data.items():
        if key in CLASS_KEYS:
            shared[key] = _check_value(where, key, value)
        elif key == "classes":
            continue
        elif key == "modules":
            if not (isinstance(value, list) and all(isinstance(v, str) and _MODULE.match(v) for v in value)):
                raise _fail(where, key, f"{shown(value)} is not a list of module names")
            other[key] = tuple(value)
        elif key == "env":
            if not (isinstance(value, dict) and all(isinstance(k, str) and _ENV_NAME.match(k) and isinstance(v, str)
                                                    and "\n" not in v for k, v in value.items())):
                raise _fail(where, key, f"{shown(value)} is not a mapping NAME: one-line string")
            other[key] = tuple(sorted(value.items()))
        elif key == "requeue_limit":
            if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1000):
                raise _fail(where, key, f"{shown(value)} is not a whole number 0-1000")
            other[key] = value
        elif key == "signal_grace":
            if not (isinstance(value, int) and not isinstance(value, bool) and 30 <= value <= 65535):
                raise _fail(where, key, f"{shown(value)} is not a number of seconds 30-65535")
            other[key] = value
        elif key == "apptainer":
            if not (isinstance(value, str) and _MODULE.match(value)):
                raise _fail(where, key, f"{shown(value)} is not a command name or path")
            other[key] = value
        else:
            raise _fail(where, key, "unknown key")
    return shared, other


def _expanded_nodes(node: yaml.Node, sizes: dict, visiting: set) -> int:
    """How many nodes the document has once every alias is expanded: counted, never built."""
    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in visiting:
        return MAX_PROFILE_NODES + 1  # a recursive anchor: infinite once expanded
    visiting.add(id(node))
    if isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = node.value if isinstance(node, yaml.SequenceNode) else []
    total = 1
    for child in children:
        total += _expanded_nodes(child, sizes, visiting)
        if total > MAX_PROFILE_NODES:
            break
    visiting.discard(id(node))
    sizes[id(node)] = total
    return total


def _safe_yaml(path: Path):
    """yaml.safe_load, refusing a file over MAX_PROFILE_BYTES or a document that aliases expand
    beyond MAX_PROFILE_NODES (a "billion laughs" is a few lines) before anything is built."""
    with open(path, "rb") as handle:
        raw = handle.read(MAX_PROFILE_BYTES + 1)
    if len(raw) > MAX_PROFILE_BYTES:
        raise InvalidInput(f"site profile {path} is larger than {MAX_PROFILE_BYTES:,} bytes",
                           hint="a site profile is a few lines; see docs/examples/site-profile.yaml")
    loader = yaml.SafeLoader(raw.decode("utf-8"))
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node, {}, set()) > MAX_PROFILE_NODES:
            raise InvalidInput(f"site profile {path} has more than {MAX_PROFILE_NODES:,} values once its YAML "
                               "aliases are expanded", hint="a site profile is a few lines; write its values "
                                                            "out (see docs/examples/site-profile.yaml)")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_profile(path: Path | None) -> SiteProfile:
    if path is None:
        return SiteProfile(classes=dict(DEFAULTS))
    path = Path(path)
    try:
        data = _safe_yaml(path)
    except FileNotFoundError:
        raise InputMissing(f"site profile {path} does not exist", hint="see docs/examples/site-profile.yaml") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise InvalidInput(f"site profile {path} is nested too deeply to be a site profile",
                           hint="see docs/examples/site-profile.yaml") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise InvalidInput(f"site profile {path} is not readable YAML: {first}",
                           hint="see docs/examples/site-profile.yaml") from None
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InvalidInput(f"site profile {path} is not a mapping", hint="see docs/examples/site-profile.yaml")
    shared, other = _top_level(str(path), data)
    per_class = data.get("classes") or {}
    if not isinstance(per_class, dict):
        raise _fail(str(path), "classes", "is not a mapping of class -> settings")
    classes = {}
    for name in RESOURCE_CLASSES:
        classes[name] = replace(DEFAULTS[name], **shared)
    for name, raw in per_class.items():
        if name not in RESOURCE_CLASSES:
            raise _fail(str(path), f"classes.{name}", f"unknown class (classes: {', '.join(RESOURCE_CLASSES)})")
        if not isinstance(raw, dict):
            raise _fail(str(path), f"classes.{name}", "is not a mapping")
        classes[name] = replace(classes[name], **_class_values(str(path), f"classes.{name}.", raw))
    return SiteProfile(classes=classes, source=str(path.absolute()), **other)
