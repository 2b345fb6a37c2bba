"""`segbook ci init`: write the CI reproduction check a paper's repository carries (GitHub Actions).

The workflow (segbook/data/ci/segbook-reproduce.yml, documented in docs/ci.md) pulls the pinned
image by digest, or builds it from the kit's source at a pinned commit; runs `segbook verify` over
the run folders committed to the repository; re-runs a tiny deterministic cell and fails on any
hash that differs from the committed reference receipt (`segbook verify --against`). Every action
in it is pinned by commit SHA; it passes the GitHub-workflow schema and zizmor (`make lint-workflows`).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from segbook.core.confined import write_inside
from segbook.core.container_run import INPUT, OUTPUT, ContainerRun, Mount, container_argv
from segbook.core.errors import OutputBlocked, UsageProblem

TEMPLATE = "segbook-reproduce.yml"
DEFAULT_PATH = Path(".github/workflows") / TEMPLATE
DEFAULT_RECEIPTS = "receipts"
DEFAULT_REFERENCE = "ci/segbook-reference/receipt.json"
IMAGE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,200}@sha256:[0-9a-f]{64}")
REPOSITORY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
REVISION_PATTERN = re.compile(r"[0-9a-f]{40}")
REPO_PATH_PATTERN = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,200}")


CI_IMAGE = "segbook:ci"  # the tag the workflow gives the pulled or built image
TINY_CELL = ("finetune", "Demo", "--model", "stunet-s", "--init", "scratch", "--epochs", "1", "--iterations-per-epoch",
             "2", "--seed", "12345", "--deterministic", "--device", "cpu")
RUNNER_USER = "$(id -u):$(id -g)"
MARKER = re.compile(r"^( *)# segbook-container-run: ([a-z-]+)$", re.MULTILINE)
# the workflow's container runs, each by the kit's one builder; host paths are the steps' shell variables.
# No --ulimit: the hosted runner's Docker Engine sets its own limits (segbook.core.container_run.limit_flags)
CONTAINER_RUNS: dict[str, tuple[ContainerRun, tuple[str, ...]]] = {
    "verify-receipt": (ContainerRun("docker", CI_IMAGE, (Mount("$GITHUB_WORKSPACE", INPUT),
                                                         Mount("$scratch", OUTPUT, writable=True)),
                                    user=RUNNER_USER), ("verify", "/input/$receipt")),
    "rerun-cell": (ContainerRun("docker", CI_IMAGE, (Mount("$out", OUTPUT, writable=True),),
                                env=(("SEGBOOK_RUNTIME", "docker"), ("SEGBOOK_IMAGE", CI_IMAGE),
                                     ("SEGBOOK_IMAGE_DIGEST", "$digest")), user=RUNNER_USER), TINY_CELL),
    "verify-against": (ContainerRun("docker", CI_IMAGE, (Mount("$RUNNER_TEMP/segbook-out", OUTPUT, writable=True),
                                                         Mount("$GITHUB_WORKSPACE", INPUT)), user=RUNNER_USER),
                       ("verify", "/output/runs/Task999_SegBookDemo/stunet-s_scratch/receipt.json", "--against",
                        "/input/$SEGBOOK_REFERENCE")),
}


def shell_command(argv: list[str], indent: str, width: int = 110) -> str:
    """argv as workflow shell lines: words with the steps' own $variables double-quoted (they are this
    module's constants, never user input), everything else quoted by shlex; continued with backslashes."""
    words = [f'"{w}"' if "$" in w else shlex.quote(w) for w in argv]
    groups: list[str] = []  # an option and its value stay on one line
    for word in words:
        if groups and groups[-1].startswith("-") and " " not in groups[-1] and not word.startswith("-"):
            groups[-1] += " " + word
        else:
            groups.append(word)
    lines, line = [], indent + groups[0]
    for group in groups[1:]:
        if len(line) + 1 + len(group) > width - 2:
            lines.append(line + " \\")
            line = indent + "  " + group
        else:
            line += " " + group
    return "\n".join([*lines, line])


def container_steps(text: str) -> str:
    """The template with each `# segbook-container-run: NAME` line replaced by that run's command."""

    def command(m: re.Match[str]) -> str:
        run, args = CONTAINER_RUNS[m.group(2)]
        return shell_command(container_argv(run, args), m.group(1))

    return MARKER.sub(command, text)


def template_text() -> str:
    return resources.files("segbook").joinpath("data", "ci", TEMPLATE).read_text(encoding="utf-8")


def _repo_path(value: str, option: str, *, may_be_empty: bool = False) -> str:
    if may_be_empty and value == "":
        return value
    parts = Path(value).parts
    if not REPO_PATH_PATTERN.fullmatch(value) or value.startswith("/") or ".." in parts:
        raise UsageProblem(f"{option} must be a path inside your repository (letters, digits, _ . / -), got {value!r}",
                           hint="e.g. receipts or ci/segbook-reference/receipt.json")
    return value


def check_values(image: str | None, repository: str | None, revision: str | None) -> dict[str, str]:
    """The workflow's image settings, validated: a digest-pinned image, or a repository + full commit SHA."""
    if image:
        if not IMAGE_PATTERN.fullmatch(image):
            raise UsageProblem(f"--image must be pinned by digest (NAME@sha256:<64 hex>), got {image!r}",
                               hint="docker buildx imagetools inspect NAME:TAG prints the digest")
        if repository or revision:
            raise UsageProblem("give --image, or --kit-repository with --kit-revision, not both")
        return {"SEGBOOK_IMAGE": image, "SEGBOOK_KIT_REPOSITORY": "", "SEGBOOK_KIT_REVISION": ""}
    if not (repository and revision):
        raise UsageProblem("the workflow needs the image: --image NAME@sha256:..., or --kit-repository OWNER/NAME "
                           "with --kit-revision COMMIT_SHA to build it from the kit's source",
                           hint="segbook ci init --image ghcr.io/you/segbook:0.1.0@sha256:<digest>")
    if not REPOSITORY_PATTERN.fullmatch(repository):
        raise UsageProblem(f"--kit-repository must be OWNER/NAME, got {repository!r}")
    if not REVISION_PATTERN.fullmatch(revision):
        raise UsageProblem(f"--kit-revision must be a full 40-character commit SHA, got {revision!r}",
                           hint="git rev-parse HEAD in the kit's checkout")
    return {"SEGBOOK_IMAGE": "", "SEGBOOK_KIT_REPOSITORY": repository, "SEGBOOK_KIT_REVISION": revision}


def render(values: dict[str, str]) -> str:
    """The template with the top-level `env:` values replaced (each key must be there exactly once)."""
    text = container_steps(template_text())
    for key, value in values.items():
        pattern = re.compile(rf"^(  {key}: )\"[^\"\n]*\"$", re.MULTILINE)

        def quoted(m: re.Match[str], v: str = value) -> str:  # a def, not a lambda: mypy types it
            return m.group(1) + json.dumps(v)

        text, count = pattern.subn(quoted, text)
        if count != 1:
            raise RuntimeError(f"the CI template has {count} lines for {key}")  # a bug in the template
    return text


@dataclass(frozen=True)
class CiInitRequest:
    repo: Path = Path(".")  # the repository's root folder
    path: Path = DEFAULT_PATH  # where the workflow goes, relative to repo
    image: str | None = None  # the SegBook image pinned by digest, NAME@sha256:DIGEST ...
    kit_repository: str | None = None  # ... or built from this GitHub repository of the kit (OWNER/NAME)
    kit_revision: str | None = None  # ... at this full commit SHA
    receipts: str = DEFAULT_RECEIPTS  # committed run folders that `segbook verify` re-checks ("" to skip)
    reference: str = DEFAULT_REFERENCE  # where the tiny cell's reference receipt is committed
    force: bool = False  # replace an existing workflow file


@dataclass(frozen=True)
class CiInitResult:
    path: Path  # the workflow written
    reference: str  # where to commit the tiny cell's reference receipt


def init(request: CiInitRequest) -> CiInitResult:
    """Validate the values, render the template and write it (atomically; never over a file unless forced)."""
    values = check_values(request.image, request.kit_repository, request.kit_revision)
    values["SEGBOOK_RECEIPTS"] = _repo_path(request.receipts, "--receipts", may_be_empty=True)
    values["SEGBOOK_REFERENCE"] = _repo_path(request.reference, "--reference")
    relative = Path(_repo_path(str(request.path), "--path"))
    if not Path(request.repo).is_dir():
        raise UsageProblem(f"--repo {request.repo} is not a folder")
    target = Path(request.repo) / relative
    try:
        # resolved for real, links followed: a lexical check misses a linked .github (segbook.core.confined)
        write_inside(Path(request.repo), relative, render(values).encode("utf-8"), replace=request.force,
                     option="--path")
    except OSError as exc:
        raise OutputBlocked(f"cannot write {target}: {exc.strerror or exc}") from exc
    return CiInitResult(target, values["SEGBOOK_REFERENCE"])
