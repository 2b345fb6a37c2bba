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
from importlib import resources
from pathlib import Path

import click

from segbook.core.errors import OutputBlocked, UsageProblem
from segbook.core.fsio import atomic_write_text

TEMPLATE = "segbook-reproduce.yml"
DEFAULT_PATH = Path(".github/workflows") / TEMPLATE
IMAGE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:-]{0,200}@sha256:[0-9a-f]{64}")
REPOSITORY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
REVISION_PATTERN = re.compile(r"[0-9a-f]{40}")
REPO_PATH_PATTERN = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_./-]{0,200}")


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
    text = template_text()
    for key, value in values.items():
        pattern = re.compile(rf"^(  {key}: )\"[^\"\n]*\"$", re.MULTILINE)
        text, count = pattern.subn(lambda m, v=value: m.group(1) + json.dumps(v), text)
        if count != 1:
            raise RuntimeError(f"the CI template has {count} lines for {key}")  # a bug in the template
    return text


@click.group("ci")
def ci():
    """CI reproduction checks for your repository (GitHub Actions)."""


@ci.command("init")
@click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=".", show_default=True,
              help="Your repository's root folder.")
@click.option("--path", "relative", type=click.Path(path_type=Path), default=str(DEFAULT_PATH), show_default=True,
              help="Where to write the workflow, relative to --repo.")
@click.option("--image", help="The SegBook image pinned by digest, NAME@sha256:DIGEST (pulled by the workflow).")
@click.option("--kit-repository", help="Or build the image from this GitHub repository of the kit (OWNER/NAME) ...")
@click.option("--kit-revision", help="... at this full commit SHA.")
@click.option("--receipts", default="receipts", show_default=True,
              help="Folder of committed run folders that `segbook verify` re-checks ('' to skip).")
@click.option("--reference", default="ci/segbook-reference/receipt.json", show_default=True,
              help="Where the tiny cell's reference receipt is committed.")
@click.option("--force", is_flag=True, help="Replace an existing workflow file.")
def init(repo, relative, image, kit_repository, kit_revision, receipts, reference, force):
    """Write a GitHub Actions workflow that verifies your committed receipts and re-runs a tiny
    deterministic cell in the pinned image, failing on any hash that differs."""

    values = check_values(image, kit_repository, kit_revision)
    values["SEGBOOK_RECEIPTS"] = _repo_path(receipts, "--receipts", may_be_empty=True)
    values["SEGBOOK_REFERENCE"] = _repo_path(reference, "--reference")
    target = Path(repo) / _repo_path(str(relative), "--path")
    if not Path(repo).is_dir():
        raise UsageProblem(f"--repo {repo} is not a folder")
    if target.exists() and not force:
        raise OutputBlocked(f"{target} already exists", hint="pass --force to replace it")
    try:
        atomic_write_text(target, render(values))
    except OSError as exc:
        raise OutputBlocked(f"cannot write {target}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {target}")
    click.echo("next: commit it; run the workflow once, download its artifact segbook-tiny-cell and commit "
               f"the receipt.json in it at {values['SEGBOOK_REFERENCE']} (the reference for later runs)")
