"""Everything a publish uploads, laid out locally first: annotations copied, videos packed into tar shards.

A shard already staged with the same members and size is reused, so re-running an interrupted publish
neither repacks nor rehashes gigabytes of video; the shard index records each shard's members and sha256.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

from platformdirs import user_cache_dir
from tqdm import tqdm

from tvgbench.core.hashing import sha256_file
from tvgbench.core.report import write_text_atomic
from tvgbench.data.hub.plan import PlannedFile, SHARD_INDEX

USAGE_MARKER = "<!-- timer1:usage -->"


def default_stage_dir(repo_id: str) -> Path:
    return Path(user_cache_dir("timer1")) / "publish" / repo_id.replace("/", "--")


def usage_section(repo_id: str, with_videos: bool) -> str:
    """What a visitor of the Hub page needs to fetch the data; appended once to the uploaded card."""
    videos = ("Videos are in `video_shards/*.tar` (listed with their sha256 in `video_shards/index.json`); "
              "the command above unpacks them beside the split, so the output folder is also the `--video-root`.\n"
              if with_videos else "Videos are not part of this repository.\n")
    return (f"\n{USAGE_MARKER}\n## Download\n\n```bash\ntimer1 data download {repo_id} -o DIR   # --no-videos for "
            f"annotations only\n```\n\nor, annotations only: `datasets.load_dataset(\"{repo_id}\")`.\n{videos}")


def write_shard(members: list[tuple[str, int]], video_root: Path, dest: Path) -> None:
    """A byte-reproducible tar (sorted members, fixed owner and times) written to a temp file first."""
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, size in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = size, 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(video_root / name, "rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, dest)


def stage_shards(shards: list[PlannedFile], stage_dir: Path, video_root: Path | None, progress: bool) -> None:
    """Pack each shard under ``stage_dir`` (or reuse the one an earlier run packed) and record its sha256."""
    old_index = {}
    if (stage_dir / SHARD_INDEX).is_file():
        old_index = {s["path"]: s for s in json.loads((stage_dir / SHARD_INDEX).read_text())["shards"]}
    for f in tqdm(shards, desc="packing video shards", unit="shard", disable=not progress or not shards):
        f.staged = stage_dir / f.path_in_repo
        f.staged.parent.mkdir(parents=True, exist_ok=True)
        prev = old_index.get(f.path_in_repo)
        reusable = (prev and f.staged.is_file() and [list(m) for m in f.members] == prev["members"]
                    and f.staged.stat().st_size == prev["size"])
        if not reusable:
            write_shard(f.members, video_root, f.staged)
            f.sha256 = sha256_file(f.staged)
        else:
            f.sha256 = prev["sha256"]
        f.size = f.staged.stat().st_size


def stage_annotations(files: list[PlannedFile], stage_dir: Path, card_note: str | None) -> None:
    """Copy the annotation files; the card gets ``card_note`` appended unless it already carries one."""
    for f in files:
        if f.commit == "annotations" and f.source is not None:
            f.staged = stage_dir / f.path_in_repo
            f.staged.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.source, f.staged)
            if f.path_in_repo == "README.md" and card_note:
                text = f.staged.read_text(encoding="utf-8")
                if USAGE_MARKER not in text:
                    f.staged.write_text(text.rstrip("\n") + "\n" + card_note, encoding="utf-8")
            f.size = f.staged.stat().st_size


def write_shard_index(index: PlannedFile, shards: list[PlannedFile], stage_dir: Path) -> None:
    body = {"format_version": 1, "shards": [
        {"path": f.path_in_repo, "size": f.size, "sha256": f.sha256, "members": [list(m) for m in f.members]}
        for f in shards]}
    index.staged = stage_dir / SHARD_INDEX
    write_text_atomic(index.staged, json.dumps(body, indent=1) + "\n")
    index.size = index.staged.stat().st_size


def stage(files: list[PlannedFile], stage_dir: Path, video_root: Path | None, progress: bool = True,
          card_note: str | None = None) -> None:
    """Lay out every planned file under ``stage_dir``, filling in its staged path, size and (shards) sha256."""
    stage_dir.mkdir(parents=True, exist_ok=True)
    shards = [f for f in files if f.commit == "shard"]
    stage_shards(shards, stage_dir, video_root, progress)
    stage_annotations(files, stage_dir, card_note)
    index = next((f for f in files if f.path_in_repo == SHARD_INDEX), None)
    if index is not None:
        write_shard_index(index, shards, stage_dir)
