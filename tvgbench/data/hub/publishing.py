"""Publish a split folder: video shards one resumable commit each, then one atomic annotations commit.

A shard the Hub already holds with the same sha256 is skipped, so an interrupted upload resumes where it
stopped. The final commit carries the card, the sidecar, the parquet files, the plots and the shard index, and
deletes files of an earlier publish that this one no longer has.

Why not ``HfApi.upload_folder`` / ``upload_large_folder``: the final commit must add an exact file list
(the stage folder also holds shards, committed before it, and whatever an earlier staging left), and
``upload_folder``'s ``delete_patterns`` would delete the shards just committed; ``upload_large_folder``
has no deletions, no commit messages and no single final commit. So commits are made with
``create_commit``, and the Hub client is a seam: any object with ``HfApi``'s ``create_repo``,
``create_branch``, ``list_repo_files``, ``get_paths_info`` and ``create_commit`` methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable

from tvgbench.core.errors import Timer1Error
from tvgbench.core.splits import read_sidecar
from tvgbench.data.hub.client import REPO_TYPE, check_repo_id, hub_errors
from tvgbench.data.hub.plan import DEFAULT_SHARD_BYTES, PLOT_GLOB, PlannedFile, SHARD_DIR, human_size, make_plan
from tvgbench.data.hub.staging import default_stage_dir, stage, usage_section


@dataclass
class PublishResult:
    repo_id: str
    revision: str | None
    files: list[PlannedFile]
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    commit_url: str | None = None
    dry_run: bool = False


def hub_api(token: str | None):
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise Timer1Error("no Hugging Face token: run `hf auth login` or set HF_TOKEN")
    return HfApi(token=token)


def remote_sha256(api, repo_id: str, path: str, revision: str | None) -> str | None:
    """The sha256 the Hub records for an LFS file, or None when the repo has no such file."""
    infos = api.get_paths_info(repo_id, [path], repo_type=REPO_TYPE, revision=revision)
    for info in infos or []:
        lfs = getattr(info, "lfs", None)
        if getattr(info, "path", None) == path and lfs is not None:
            return getattr(lfs, "sha256", None)
    return None


def upload_shards(api, repo_id: str, revision: str | None, shards: list[PlannedFile], result: PublishResult,
                  log: Callable[[str], None]) -> None:
    """One commit per staged shard the Hub does not already hold."""
    from huggingface_hub import CommitOperationAdd

    for i, f in enumerate(shards):
        if remote_sha256(api, repo_id, f.path_in_repo, revision) == f.sha256:
            result.skipped.append(f.path_in_repo)
            log(f"  {f.path_in_repo}: already on the Hub, skipped")
            continue
        log(f"  uploading {f.path_in_repo} ({human_size(f.size)}, shard {i + 1}/{len(shards)})")
        api.create_commit(
            repo_id, [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.staged))],
            commit_message=f"timer1: video shard {i + 1}/{len(shards)}", repo_type=REPO_TYPE, revision=revision,
        )
        result.uploaded.append(f.path_in_repo)


def stale_paths(remote: set[str], ours: set[str], with_shards: bool) -> list[str]:
    """Files an earlier publish left that this one replaces: old parquet files and plots, old shards when it has videos."""
    return sorted(p for p in remote - ours
                  if (p.startswith("data/") and p.endswith(".parquet")) or fnmatch(p, PLOT_GLOB)
                  or (with_shards and p.startswith(f"{SHARD_DIR}/")))


def publish_message(split_dir: Path) -> str:
    splits = read_sidecar(split_dir).get("splits", {})
    summary = ", ".join(f"{k} ({v.get('n', 0)} records, {str(v.get('content_hash', ''))[:19]})"
                        for k, v in sorted(splits.items()))
    return f"timer1: publish {summary}"


@dataclass(frozen=True)
class PublishOptions:
    """What a publish uploads and where (``timer1 data publish``'s options)."""

    private: bool = field(default=False, metadata={"help": "Create the repo as private."})
    revision: str | None = field(default=None, metadata={"help": "Branch to commit to (created when missing)."})
    video_root: str | os.PathLike | None = field(
        default=None, metadata={"help": "Also upload the referenced videos, read from this folder, as tar shards."})
    dry_run: bool = field(default=False, metadata={"help": "Plan only: upload nothing."})
    stage_dir: str | os.PathLike | None = field(
        default=None, metadata={"help": "Where to stage files before upload (default: the timer1 user cache)."})
    shard_bytes: int = field(default=DEFAULT_SHARD_BYTES, metadata={"help": "Largest video shard in bytes."})
    commit_message: str | None = field(default=None, metadata={"help": "Message of the final commit."})


def publish(split_dir: str | os.PathLike, repo_id: str, *, api: Any = None, token: str | None = None,
            progress: bool = True, log: Callable[[str], None] = lambda s: None, **options) -> PublishResult:
    """Upload a split folder (and optionally its videos) to ``repo_id``; see the module docstring.

    ``options`` are :class:`PublishOptions`' fields; ``api`` is the Hub client seam (default ``HfApi``)."""
    opts = PublishOptions(**options)
    split_dir = Path(split_dir)
    check_repo_id(repo_id)
    root = Path(opts.video_root) if opts.video_root is not None else None
    files = make_plan(split_dir, root, opts.shard_bytes)
    revision, stage_dir = opts.revision, opts.stage_dir
    result = PublishResult(repo_id, revision, files, dry_run=opts.dry_run)
    if opts.dry_run:
        return result
    api = api if api is not None else hub_api(token)
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete  # a dry run never loads the Hub client

    with hub_errors(f"publish to {repo_id}"):
        # talk to the Hub first: a missing network or a bad token fails before any packing work
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=opts.private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
        stage(files, Path(stage_dir) if stage_dir else default_stage_dir(repo_id), root, progress,
              card_note=usage_section(repo_id, root is not None))
        shards = [f for f in files if f.commit == "shard"]
        upload_shards(api, repo_id, revision, shards, result, log)

        remote = set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=revision) or [])
        stale = stale_paths(remote, {f.path_in_repo for f in files}, bool(shards))
        ops = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.staged))
               for f in files if f.commit == "annotations"]
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        info = api.create_commit(repo_id, ops, commit_message=opts.commit_message or publish_message(split_dir),
                                 repo_type=REPO_TYPE, revision=revision)
    result.uploaded += [f.path_in_repo for f in files if f.commit == "annotations"]
    result.deleted = stale
    result.commit_url = getattr(info, "commit_url", None)
    return result
