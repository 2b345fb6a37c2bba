"""A Hugging Face dataset repository at the commit the manifest pins, through huggingface_hub.

huggingface_hub resumes and checks its own downloads; the kit adds the pin (a commit id, never a branch)
and the mirror (HF's endpoint). A gated repository is reported, never worked around.
"""

from __future__ import annotations

from pathlib import Path

from segbook.core.errors import EnvironmentProblem, InputMissing, InvalidInput


def fetch_repo(source: dict, raw_dir: Path, *, mirror: str | None, landing: str, progress) -> None:
    """Download the pinned snapshot into `raw_dir` (the mirror, if any, is the HF endpoint)."""
    from huggingface_hub import snapshot_download  # noqa: PLC0415 - only an HF fetch needs it
    from huggingface_hub.errors import (  # noqa: PLC0415
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    hub = source["huggingface"]
    where = f"Hugging Face dataset {hub['repo']} at {hub['revision']}"
    progress(f"fetch: {where}{f' from {mirror}' if mirror else ''}")
    try:
        snapshot_download(hub["repo"], repo_type="dataset", revision=hub["revision"], local_dir=str(raw_dir),
                          endpoint=mirror or None)
    except GatedRepoError as exc:  # before RepositoryNotFoundError: it is a subclass
        raise InputMissing(f"{where} is gated: its terms must be accepted on the Hub by you",
                           hint=f"accept them at https://huggingface.co/datasets/{hub['repo']} ({landing}), then "
                                "download it yourself into the --out folder") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise InvalidInput(f"{where} does not exist (or is private)",
                           hint="the manifest's pin is wrong, or the --mirror lacks it") from exc
    except (HfHubHTTPError, OSError) as exc:
        raise EnvironmentProblem(f"downloading {where} failed ({type(exc).__name__}: {str(exc)[:200]})",
                                 hint="run the same fetch again: huggingface_hub continues where it stopped") from exc
