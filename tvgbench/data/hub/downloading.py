"""Download official or published data and leave canonical split folders.

The snapshot comes from ``huggingface_hub.snapshot_download`` (annotations first, so a release without
them fails before any video is fetched) or from an already downloaded folder (``--from-dir``). A repo
timer1 published is copied as it is and its video shards unpacked after their sha256 is checked; the
official Time-R1 release is ingested from its annotation files.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tvgbench.core.errors import Timer1Error
from tvgbench.core.hashing import sha256_file
from tvgbench.core.splits import list_splits, load_split, read_sidecar, split_ownership, write_split
from tvgbench.data.hub.client import REPO_TYPE, check_repo_id, hub_errors
from tvgbench.data.hub.extract import safe_extract, unpack_release_archives
from tvgbench.data.hub.plan import (
    ANNOTATION_FILES, PLOT_GLOB, SHARD_DIR, SHARD_INDEX, check_content_hashes, referenced_videos,
)
from tvgbench.data.sources import ingest

OFFICIAL_REPO = "Boshenxx/TimeR1-Dataset"
ANNOTATION_PATTERNS = ["*.json", "*.md", "*.parquet", "*.jsonl", "*.csv", PLOT_GLOB]


@dataclass(frozen=True)
class OfficialData:
    """Where a Time-R1 release lives and how to read it."""

    annotation: str  # file name in the release (found anywhere in the snapshot)
    fmt: str  # tvgbench.data.sources format
    split: str
    video_dir: str  # folder the release keeps this part's videos in


OFFICIAL = {
    "tvgbench": OfficialData("tvgbench.json", "timer1-tvgbench", "test", "tvgbench_data"),
    "timerft": OfficialData("train_2k5.json", "timer1-timerft", "train", "timerft_data"),
}


@dataclass
class DownloadResult:
    out: Path
    splits: dict[str, int]
    video_root: Path | None
    videos_found: int = 0
    videos_missing: int = 0
    source: str = ""


def fetch_snapshot(repo_id: str, *, revision: str | None, local_dir: str | os.PathLike | None,
                   allow_patterns: list[str] | None, snapshot_download: Callable | None = None) -> Path:
    if snapshot_download is None:
        from huggingface_hub import snapshot_download
    with hub_errors(f"download {repo_id}"):
        path = snapshot_download(repo_id, repo_type=REPO_TYPE, revision=revision, local_dir=local_dir,
                                 allow_patterns=allow_patterns)
    return Path(path)


def is_canonical(folder: Path) -> bool:
    return (folder / "timer1.json").is_file() and bool(list_splits(folder))


def find_file(folder: Path, name: str) -> Path | None:
    hits = sorted(folder.rglob(name), key=lambda p: (len(p.parts), str(p)))
    return hits[0] if hits else None


def locate_video_root(snapshot: Path, videos: list[str], preferred: str | None = None) -> tuple[Path | None, int]:
    """The folder under which most referenced videos exist (by their relative path); returns it and the hit count."""
    if not videos:
        return None, 0
    candidates = []
    if preferred:
        candidates += sorted((p for p in snapshot.rglob(preferred) if p.is_dir()), key=lambda p: len(p.parts))
    probe = videos[0]
    candidates += sorted({p.parent for p in snapshot.rglob(Path(probe).name)}, key=lambda p: len(p.parts))
    candidates.append(snapshot)
    best, best_hits = None, 0
    for c in dict.fromkeys(candidates):
        # a record path like "videos/x.mp4" sits under the root, not beside it
        root = c
        for _ in Path(probe).parent.parts:
            root = root.parent
        hits = sum((root / v).is_file() for v in videos)
        if hits > best_hits:
            best, best_hits = root, hits
    return best, best_hits


def verified_shards(snapshot: Path) -> list[Path]:
    """The video shards a published repo lists in its index, each checked against its recorded sha256."""
    index_path = snapshot / SHARD_INDEX
    if not index_path.is_file():
        return sorted((snapshot / SHARD_DIR).glob("*.tar"))
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Timer1Error(f"{index_path} is not valid JSON: {e}") from None
    shards = []
    for entry in index.get("shards", []):
        p = snapshot / entry["path"]
        if not p.is_file():
            raise Timer1Error(f"video shard {entry['path']} is missing from {snapshot}; re-run the download")
        if entry.get("sha256") and sha256_file(p) != entry["sha256"]:
            raise Timer1Error(f"video shard {entry['path']} is corrupt (sha256 differs from the index); "
                              "delete it and re-run the download")
        shards.append(p)
    return shards


def copy_canonical(src: Path, out: Path) -> None:
    """The published split's files into ``out``, replacing the parquet files and plots of an earlier download.

    Only files of a timer1 split folder already in ``out`` (recognised by its sidecar) are replaced or
    removed; a file of the same name that timer1 did not write refuses the folder, untouched."""
    if src.resolve() == out.resolve():
        return
    new = [*ANNOTATION_FILES, *(p.relative_to(src).as_posix() for p in [*sorted((src / "data").glob("*.parquet")),
                                                                         *sorted(src.glob(PLOT_GLOB))])]
    owned = split_ownership(out, "").files if out.is_dir() else frozenset()
    foreign = [rel for rel in new if os.path.lexists(out / rel) and rel not in owned]
    if foreign:
        raise Timer1Error(f"{out / foreign[0]} was not written by timer1 and would be replaced; "
                          "move it away or choose another --out folder")
    (out / "data").mkdir(parents=True, exist_ok=True)
    for old in [*(out / "data").glob("*.parquet"), *out.glob(PLOT_GLOB)]:
        if old.relative_to(out).as_posix() in owned:
            old.unlink()
    for rel in new:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest)


def missing_annotation_message(wanted: list[OfficialData], snapshot: Path) -> str:
    names = " or ".join(o.annotation for o in wanted)
    return (f"no {names} under {snapshot}; the Time-R1 annotation files live in its GitHub repository "
            "(dataset/timer1/annotations/): pass one with --annotations FILE")


def download_published(snapshot: Path, out_dir: Path, repo_id: str, videos: bool, progress: bool) -> DownloadResult:
    """A repo timer1 published: copy the split, check its rows, unpack its checked shards beside it."""
    try:
        copy_canonical(snapshot, out_dir)
    except OSError as e:
        raise Timer1Error(f"cannot write {out_dir}: {e.strerror or e}") from None
    check_content_hashes(out_dir, list_splits(out_dir), read_sidecar(out_dir))
    if videos:
        for tar in verified_shards(snapshot):
            safe_extract(tar, out_dir, progress)
    refs = referenced_videos(out_dir)
    found = sum((out_dir / v).is_file() for v in refs)
    splits = {name: len(load_split(out_dir, name)) for name in list_splits(out_dir)}
    return DownloadResult(out_dir, splits, out_dir if found else None, found, len(refs) - found, repo_id)


def official_annotations(snapshot: Path, wanted: list[OfficialData],
                         annotations: str | os.PathLike | None, official: bool) -> tuple[list[OfficialData], dict[str, Path]]:
    """Which release parts to ingest and their annotation files: the one given, or those found in the snapshot."""
    if annotations is not None:
        ann = Path(annotations)
        if not ann.is_file():
            raise Timer1Error(f"--annotations file not found: {ann}")
        if not official:
            wanted = [next((o for o in OFFICIAL.values() if o.annotation == ann.name), OFFICIAL["tvgbench"])]
        found_files = {wanted[0].annotation: ann}
    else:
        found_files = {o.annotation: p for o in wanted if (p := find_file(snapshot, o.annotation)) is not None}
    if not found_files:
        raise Timer1Error(missing_annotation_message(wanted, snapshot))
    return wanted, found_files


def ingest_official(snapshot: Path, out_dir: Path, official: OfficialData | None, *, repo_id: str,
                    revision: str | None, videos: bool, annotations: str | os.PathLike | None,
                    progress: bool) -> DownloadResult:
    """The official Time-R1 layout (or a mirror of it): find the annotation files and ingest them."""
    wanted, found_files = official_annotations(snapshot, [official] if official else list(OFFICIAL.values()),
                                               annotations, official is not None)
    if videos:
        try:
            unpack_release_archives(snapshot, progress)
        except OSError as e:
            raise Timer1Error(f"cannot unpack the video archives under {snapshot}: {e.strerror or e}") from None
    splits, video_root, found, missing = {}, None, 0, 0
    for o in wanted:
        path = found_files.get(o.annotation)
        if path is None:
            continue
        res = ingest(o.fmt, path)
        if not res.samples:
            raise Timer1Error(f"no valid records in {path}")
        refs = sorted({s.video for s in res.samples})
        root, hits = locate_video_root(snapshot, refs, o.video_dir) if videos else (None, 0)
        build = {"command": "download", "repo_id": repo_id, "revision": revision, "annotation": str(path),
                 "format": o.fmt, "video_root": str(root.resolve()) if root else None}
        write_split(res.samples, out_dir, o.split, window_mode=res.window_mode, build=build,
                    report=res.report.to_dict())
        splits[o.split] = len(res.samples)
        video_root = video_root or root
        found += hits
        missing += len(refs) - hits if videos else 0
    return DownloadResult(out_dir, splits, video_root, found, missing, repo_id)


def download(
    target: str,
    *,
    out: str | os.PathLike | None = None,
    local_dir: str | os.PathLike | None = None,
    videos: bool = True,
    revision: str | None = None,
    from_dir: str | os.PathLike | None = None,
    annotations: str | os.PathLike | None = None,
    snapshot_download: Callable | None = None,
    progress: bool = True,
) -> DownloadResult:
    """Fetch ``tvgbench``, ``timerft`` or ``ORG/NAME`` and leave canonical split(s) in ``out``."""
    official = OFFICIAL.get(target)
    if official is None and "/" not in target:
        raise Timer1Error(f"unknown dataset {target!r}: use tvgbench, timerft or a Hub repo id ORG/NAME")
    repo_id = OFFICIAL_REPO if official else check_repo_id(target)
    out_dir = Path(out) if out else Path(local_dir) if (local_dir and not official) else Path(target.split("/")[-1])

    if from_dir is not None:
        snapshot = Path(from_dir)
        if not snapshot.is_dir():
            raise Timer1Error(f"--from-dir folder not found: {snapshot}")
    else:
        # annotations first: a release without them fails before any video is downloaded
        snapshot = fetch_snapshot(repo_id, revision=revision, local_dir=local_dir, allow_patterns=ANNOTATION_PATTERNS,
                                  snapshot_download=snapshot_download)
        if videos:
            if official and annotations is None and find_file(snapshot, official.annotation) is None:
                raise Timer1Error(missing_annotation_message([official], snapshot))
            # only this part's videos (a folder or archive named after it) for the official release
            patterns = [*ANNOTATION_PATTERNS, f"*{official.video_dir}*"] if official else None
            snapshot = fetch_snapshot(repo_id, revision=revision, local_dir=local_dir, allow_patterns=patterns,
                                      snapshot_download=snapshot_download)

    if not official and annotations is None and is_canonical(snapshot):
        return download_published(snapshot, out_dir, repo_id, videos, progress)
    return ingest_official(snapshot, out_dir, official, repo_id=repo_id, revision=revision, videos=videos,
                           annotations=annotations, progress=progress)
