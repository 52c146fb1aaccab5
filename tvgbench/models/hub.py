"""``--model ORG/NAME[@REVISION]``: a Hugging Face Hub id becomes a local checkpoint folder.

One resolver for ``eval run``, ``predict`` and ``train``: a folder that exists is used as it is; an
``ORG/NAME`` that is no folder is looked up through ``huggingface_hub`` (its cache; the Hub itself
when the machine is online, which downloads what is missing). The folder is the cache's snapshot
``models--ORG--NAME/snapshots/<commit>``, so the commit a run used is the snapshot's name.
Offline and not cached is one line saying what to run on a networked machine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tvgbench.core.errors import Timer1Error

# "org/name" with the characters the Hub allows, optionally "@revision" (a branch, tag or commit)
HUB_SPEC = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w./-]+))?")


@dataclass(frozen=True)
class ModelSource:
    """Where a ``--model`` spec's files are: ``path`` to load, and for a Hub id what was resolved."""

    spec: str  # as the user wrote it
    path: str  # the local folder to load (the spec itself when it is a folder, or no model at all)
    repo_id: str | None = None
    revision: str | None = None  # as asked (None: the default branch)
    commit: str | None = None  # the snapshot's commit sha

    def record(self) -> dict | None:
        """run.json's record of a Hub model (None for a local folder)."""
        if self.repo_id is None:
            return None
        return {"repo_id": self.repo_id, "revision": self.revision or "main", "commit": self.commit, "path": self.path}


def parse_hub_spec(spec) -> tuple[str, str | None] | None:
    """(repo id, revision or None) when ``spec`` looks like ``ORG/NAME[@REVISION]`` and is no existing path."""
    text = str(spec)
    match = HUB_SPEC.fullmatch(text)
    if match is None or Path(text).expanduser().exists():
        return None
    return match["repo"], match["revision"]


def download_command(repo_id: str, revision: str | None) -> str:
    return f"hf download {repo_id}" + (f" --revision {revision}" if revision else "")


# resolutions made by this process: the model check, the backend and run.json each ask, the Hub is asked once
_RESOLVED: dict[tuple, ModelSource] = {}


def resolve_model(spec, *, what: str = "--model", cache_dir=None, offline: bool | None = None) -> ModelSource:
    """The local folder ``spec`` names: itself, or a Hub id's snapshot in the Hugging Face cache.

    ``offline`` defaults to ``HF_HUB_OFFLINE``; online, a missing or outdated snapshot is downloaded (and a
    cached one is used when the Hub cannot be reached). ``what`` names the setting in the error line.
    """
    parsed = parse_hub_spec(spec)
    if parsed is None:
        return ModelSource(str(spec), str(spec))
    key = (str(spec), str(cache_dir), offline)
    if key not in _RESOLVED:
        _RESOLVED[key] = _from_hub(str(spec), *parsed, what=what, cache_dir=cache_dir, offline=offline)
    return _RESOLVED[key]


def _from_hub(spec: str, repo_id: str, revision: str | None, *, what: str, cache_dir, offline: bool | None) -> ModelSource:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError,
    )

    offline = constants.HF_HUB_OFFLINE if offline is None else offline
    where = f"the Hugging Face cache {cache_dir or constants.HF_HUB_CACHE}"
    get = f"on a networked machine run `{download_command(repo_id, revision)}` (then copy its cache here or set HF_HUB_CACHE)"
    try:
        path = snapshot_download(repo_id, revision=revision, cache_dir=cache_dir, local_files_only=offline)
    except LocalEntryNotFoundError:
        why = "this machine is offline (HF_HUB_OFFLINE)" if offline else "the Hub cannot be reached"
        raise Timer1Error(f"{what} {spec}: not a folder (looked for {Path(spec) / 'config.json'}), not in {where}, "
                          f"and {why}; {get}") from None
    except GatedRepoError:
        raise Timer1Error(f"{what} {spec}: a gated model; accept its terms on the Hub and log in (`hf auth login`)") from None
    except RevisionNotFoundError:
        raise Timer1Error(f"{what} {spec}: the Hub has {repo_id} but no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise Timer1Error(f"{what} {spec}: no folder of that name, and no model {repo_id} on the Hub, or it is private "
                          f"(log in with `hf auth login`)") from None
    except (HfHubHTTPError, OSError) as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise Timer1Error(f"{what} {spec}: download failed ({first}); {get}") from None
    return ModelSource(str(spec), str(path), repo_id, revision, Path(path).name)
