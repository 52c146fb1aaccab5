"""Publish split folders to the Hugging Face Hub and download official or published data.

Publishing stages everything locally first (annotations copied, videos packed into deterministic tar
shards under ``video_shards/``), uploads each video shard in its own commit (skipped when the Hub
already holds a shard with the same sha256, so an interrupted upload resumes where it stopped), and
finally makes ONE atomic commit with the card, the sidecar, the parquet files and the shard index, which
also deletes files of an earlier publish that the new one no longer has. The Hub client is a single
seam: :func:`publish` takes any object with ``HfApi``'s ``create_repo``, ``create_branch``,
``list_repo_files``, ``get_paths_info`` and ``create_commit`` methods.

Downloading fetches a snapshot (``huggingface_hub.snapshot_download``) or reads an already downloaded
folder (``--from-dir``), then either ingests the official Time-R1 annotation files into canonical splits
or, for a repository that timer1 published, copies the canonical split and unpacks its video shards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import click

from .errors import Timer1Error
from .report import write_text_atomic

REPO_TYPE = "dataset"
OFFICIAL_REPO = "Boshenxx/TimeR1-Dataset"
SHARD_DIR = "video_shards"
SHARD_INDEX = f"{SHARD_DIR}/index.json"
DEFAULT_SHARD_BYTES = 2 * 1000**3  # 2 GB: far under the Hub's per-file limit, few files per repo
ANNOTATION_FILES = ("README.md", "timer1.json")


@dataclass(frozen=True)
class OfficialData:
    """Where a Time-R1 release lives and how to read it."""

    annotation: str  # file name in the release (found anywhere in the snapshot)
    fmt: str  # tvgbench.sources format
    split: str
    video_dir: str  # folder the release keeps this part's videos in


OFFICIAL = {
    "tvgbench": OfficialData("tvgbench.json", "timer1-tvgbench", "test", "tvgbench_data"),
    "timerft": OfficialData("train_2k5.json", "timer1-timerft", "train", "timerft_data"),
}


# ------------------------------------------------------------------------------------------ helpers


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except Exception as e:  # HFValidationError: a user typo, never a bug
        raise Timer1Error(f"invalid repo id {repo_id!r}: {str(e).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise Timer1Error(f"repo id must look like ORG/NAME, got {repo_id!r}")
    return repo_id


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def parse_size(text: str) -> int:
    """'500MB', '2GB', '1.5G' or a byte count."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise Timer1Error(f"cannot read size {text!r} (examples: 500MB, 2GB)")
    value = float(m.group(1)) * 1000 ** " kmgt".index(m.group(2) or " ")
    if value < 1:
        raise Timer1Error(f"size must be positive, got {text!r}")
    return int(value)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hub_errors(action: str):
    """Turn the Hub client's failures into one line: no token, rejected token, offline, unreachable."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        import httpx
        from huggingface_hub.errors import (
            HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError,
            RevisionNotFoundError,
        )

        try:
            yield
        except OfflineModeIsEnabled:
            raise Timer1Error(f"cannot {action}: offline mode is on (HF_HUB_OFFLINE=1)") from None
        except RepositoryNotFoundError:
            raise Timer1Error(f"cannot {action}: repository not found, or your token has no access to it") from None
        except RevisionNotFoundError:
            raise Timer1Error(f"cannot {action}: no such revision") from None
        except LocalEntryNotFoundError as e:
            offline = "offline" in str(e).lower() or "HF_HUB_OFFLINE" in str(e)
            why = ("offline mode is on (HF_HUB_OFFLINE=1) and nothing is cached" if offline
                   else "the Hub is unreachable and nothing is cached")
            raise Timer1Error(f"cannot {action}: {why}; download elsewhere and use --from-dir DIR") from None
        except HfHubHTTPError as e:
            status = getattr(getattr(e, "response", None), "status_code", None)
            if status in (401, 403):
                raise Timer1Error(f"cannot {action}: the Hub refused the token (HTTP {status}); "
                                  "run `hf auth login` or set HF_TOKEN") from None
            raise Timer1Error(f"cannot {action}: {str(e).splitlines()[0]}") from None
        except (httpx.TransportError, ConnectionError) as e:
            raise Timer1Error(f"cannot {action}: the Hub is unreachable ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None

    return guard()


# ------------------------------------------------------------------------------------------ publish


@dataclass
class PlannedFile:
    """One file of the publish: where it goes in the repo, how big, which commit carries it."""

    path_in_repo: str
    size: int
    commit: str  # "annotations" or "shard"
    source: Path | None = None  # the original (annotation files)
    members: list[tuple[str, int]] = field(default_factory=list)  # (video path, bytes) in a shard
    staged: Path | None = None
    sha256: str | None = None


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


def referenced_videos(split_dir: Path) -> list[str]:
    """Every distinct ``video`` of every split in the folder, sorted."""
    from .splits import list_splits, read_split_table

    names: set[str] = set()
    for split in list_splits(split_dir):
        names.update(v for v in read_split_table(split_dir, split, columns=["video"]).column("video").to_pylist() if v)
    return sorted(names)


def tar_member_bytes(size: int) -> int:
    return 512 + -(-size // 512) * 512  # one header block plus the data padded to whole blocks


def plan_shards(videos: list[tuple[str, int]], shard_bytes: int) -> list[list[tuple[str, int]]]:
    """Greedy, order-preserving packing: a shard closes before it would pass ``shard_bytes``."""
    shards: list[list[tuple[str, int]]] = []
    current: list[tuple[str, int]] = []
    used = 0
    for name, size in videos:
        need = tar_member_bytes(size)
        if current and used + need > shard_bytes:
            shards.append(current)
            current, used = [], 0
        current.append((name, size))
        used += need
    if current:
        shards.append(current)
    return shards


def shard_name(i: int, n: int) -> str:
    return f"{SHARD_DIR}/videos-{i:05d}-of-{n:05d}.tar"


def make_plan(split_dir: Path, video_root: Path | None = None, shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[PlannedFile]:
    """What a publish would upload, with sizes (shard sizes estimated from the tar layout)."""
    from .splits import list_splits, read_sidecar

    if not split_dir.is_dir():
        raise Timer1Error(f"split folder not found: {split_dir}")
    splits = list_splits(split_dir)
    if not splits:
        raise Timer1Error(f"{split_dir} holds no split (expected data/<split>-00000-of-0000N.parquet)")
    for name in ANNOTATION_FILES:
        if not (split_dir / name).is_file():
            raise Timer1Error(f"{split_dir} has no {name}; write the split with timer1 (ingest, build or synth)")
    check_card(split_dir / "README.md")
    sidecar = read_sidecar(split_dir)
    unknown = sorted(set(splits) - set(sidecar.get("splits", {})))
    if unknown:
        raise Timer1Error(f"{split_dir}/timer1.json does not describe split(s) {', '.join(unknown)}")

    check_content_hashes(split_dir, splits, sidecar)
    files = [PlannedFile(n, (split_dir / n).stat().st_size, "annotations", split_dir / n) for n in ANNOTATION_FILES]
    for p in sorted((split_dir / "data").glob("*.parquet")):
        files.append(PlannedFile(f"data/{p.name}", p.stat().st_size, "annotations", p))
    if video_root is not None:
        if not video_root.is_dir():
            raise Timer1Error(f"video folder not found: {video_root}")
        videos, missing = [], []
        for name in referenced_videos(split_dir):
            p = video_root / name
            if p.is_file():
                videos.append((name, p.stat().st_size))
            else:
                missing.append(name)
        if missing:
            raise Timer1Error(f"{len(missing)} referenced video(s) are not under {video_root}, e.g. {missing[0]}")
        groups = plan_shards(videos, shard_bytes)
        for i, members in enumerate(groups):
            size = sum(tar_member_bytes(s) for _, s in members) + 1024  # two end-of-archive blocks
            files.append(PlannedFile(shard_name(i, len(groups)), -(-size // 10240) * 10240, "shard", members=members))
        files.append(PlannedFile(SHARD_INDEX, 0, "annotations"))
    return files


def check_content_hashes(split_dir: Path, splits: list[str], sidecar: dict[str, Any]) -> None:
    """Refuse to publish a split whose rows no longer match the hash its card and sidecar announce."""
    from .splits import content_hash, load_split

    for name in splits:
        recorded = sidecar["splits"][name].get("content_hash")
        actual = content_hash(s.to_row() for s in load_split(split_dir, name).samples)
        if recorded != actual:
            raise Timer1Error(f"split {name!r} in {split_dir} was changed after it was written (content hash "
                              f"{actual[:19]}..., recorded {str(recorded)[:19]}...); rewrite it with timer1")


def check_card(readme: Path) -> None:
    """The card must parse as a Hub dataset card with ``configs``, or the Hub viewer will not load it."""
    from huggingface_hub import DatasetCard

    try:
        card = DatasetCard.load(readme)
    except Exception as e:
        raise Timer1Error(f"{readme} is not a valid dataset card: {str(e).splitlines()[0]}") from None
    if not card.data.to_dict().get("configs"):
        raise Timer1Error(f"{readme} has no `configs` metadata; regenerate the card with timer1")


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


USAGE_MARKER = "<!-- timer1:usage -->"


def usage_section(repo_id: str, with_videos: bool) -> str:
    """What a visitor of the Hub page needs to fetch the data; appended once to the uploaded card."""
    videos = ("Videos are in `video_shards/*.tar` (listed with their sha256 in `video_shards/index.json`); "
              "the command above unpacks them beside the split, so the output folder is also the `--video-root`.\n"
              if with_videos else "Videos are not part of this repository.\n")
    return (f"\n{USAGE_MARKER}\n## Download\n\n```bash\ntimer1 data download {repo_id} -o DIR   # --no-videos for "
            f"annotations only\n```\n\nor, annotations only: `datasets.load_dataset(\"{repo_id}\")`.\n{videos}")


def stage(files: list[PlannedFile], stage_dir: Path, video_root: Path | None, progress: bool = True,
          card_note: str | None = None) -> None:
    """Copy annotations and pack shards under ``stage_dir``; shards already staged with the same members are reused."""
    from tqdm import tqdm

    stage_dir.mkdir(parents=True, exist_ok=True)
    old_index = {}
    if (stage_dir / SHARD_INDEX).is_file():
        old_index = {s["path"]: s for s in json.loads((stage_dir / SHARD_INDEX).read_text())["shards"]}
    shards = [f for f in files if f.commit == "shard"]
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
    index = next((f for f in files if f.path_in_repo == SHARD_INDEX), None)
    if index is not None:
        body = {"format_version": 1, "shards": [
            {"path": f.path_in_repo, "size": f.size, "sha256": f.sha256, "members": [list(m) for m in f.members]}
            for f in shards]}
        index.staged = stage_dir / SHARD_INDEX
        write_text_atomic(index.staged, json.dumps(body, indent=1) + "\n")
        index.size = index.staged.stat().st_size


def _remote_sha256(api, repo_id: str, path: str, revision: str | None) -> str | None:
    infos = api.get_paths_info(repo_id, [path], repo_type=REPO_TYPE, revision=revision)
    for info in infos or []:
        lfs = getattr(info, "lfs", None)
        if getattr(info, "path", None) == path and lfs is not None:
            return getattr(lfs, "sha256", None)
    return None


def default_stage_dir(repo_id: str) -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("timer1")) / "publish" / repo_id.replace("/", "--")


def publish(
    split_dir: str | os.PathLike,
    repo_id: str,
    *,
    api: Any = None,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    video_root: str | os.PathLike | None = None,
    dry_run: bool = False,
    stage_dir: str | os.PathLike | None = None,
    shard_bytes: int = DEFAULT_SHARD_BYTES,
    commit_message: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda s: None,
) -> PublishResult:
    """Upload a split folder (and optionally its videos) to ``repo_id``; see the module docstring."""
    from .splits import read_sidecar

    split_dir = Path(split_dir)
    check_repo_id(repo_id)
    root = Path(video_root) if video_root is not None else None
    files = make_plan(split_dir, root, shard_bytes)
    result = PublishResult(repo_id, revision, files, dry_run=dry_run)
    if dry_run:
        return result

    if api is None:
        from huggingface_hub import HfApi, get_token

        token = token or get_token()
        if not token:
            raise Timer1Error("no Hugging Face token: run `hf auth login` or set HF_TOKEN")
        api = HfApi(token=token)
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    with hub_errors(f"publish to {repo_id}"):
        # talk to the Hub first: a missing network or a bad token fails before any packing work
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
        stage(files, Path(stage_dir) if stage_dir else default_stage_dir(repo_id), root, progress,
              card_note=usage_section(repo_id, root is not None))
        shards = [f for f in files if f.commit == "shard"]
        for i, f in enumerate(shards):
            if _remote_sha256(api, repo_id, f.path_in_repo, revision) == f.sha256:
                result.skipped.append(f.path_in_repo)
                log(f"  {f.path_in_repo}: already on the Hub, skipped")
                continue
            log(f"  uploading {f.path_in_repo} ({human_size(f.size)}, shard {i + 1}/{len(shards)})")
            api.create_commit(
                repo_id, [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.staged))],
                commit_message=f"timer1: video shard {i + 1}/{len(shards)}", repo_type=REPO_TYPE, revision=revision,
            )
            result.uploaded.append(f.path_in_repo)

        remote = set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=revision) or [])
        ours = {f.path_in_repo for f in files}
        stale = sorted(p for p in remote - ours
                       if (p.startswith("data/") and p.endswith(".parquet"))
                       or (shards and p.startswith(f"{SHARD_DIR}/")))
        ops = [CommitOperationAdd(path_in_repo=f.path_in_repo, path_or_fileobj=str(f.staged))
               for f in files if f.commit == "annotations"]
        ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
        splits = read_sidecar(split_dir).get("splits", {})
        summary = ", ".join(f"{k} ({v.get('n', 0)} records, {str(v.get('content_hash', ''))[:19]})"
                            for k, v in sorted(splits.items()))
        info = api.create_commit(repo_id, ops, commit_message=commit_message or f"timer1: publish {summary}",
                                 repo_type=REPO_TYPE, revision=revision)
    result.uploaded += [f.path_in_repo for f in files if f.commit == "annotations"]
    result.deleted = stale
    result.commit_url = getattr(info, "commit_url", None)
    return result


# ----------------------------------------------------------------------------------------- download


@dataclass
class DownloadResult:
    out: Path
    splits: dict[str, int]
    video_root: Path | None
    videos_found: int = 0
    videos_missing: int = 0
    source: str = ""


def _fetch_snapshot(repo_id: str, *, revision: str | None, local_dir: str | os.PathLike | None,
                    allow_patterns: list[str] | None, snapshot_download: Callable | None = None) -> Path:
    if snapshot_download is None:
        from huggingface_hub import snapshot_download
    with hub_errors(f"download {repo_id}"):
        path = snapshot_download(repo_id, repo_type=REPO_TYPE, revision=revision, local_dir=local_dir,
                                 allow_patterns=allow_patterns)
    return Path(path)


def is_canonical(folder: Path) -> bool:
    from .splits import list_splits

    return (folder / "timer1.json").is_file() and bool(list_splits(folder))


def find_file(folder: Path, name: str) -> Path | None:
    hits = sorted(folder.rglob(name), key=lambda p: (len(p.parts), str(p)))
    return hits[0] if hits else None


def safe_extract(archive: Path, dest: Path, progress: bool = True) -> int:
    """Unpack a tar or zip inside ``dest`` only (no absolute paths, no '..', no links); returns members written."""
    import zipfile

    from tqdm import tqdm

    dest = dest.resolve()
    written = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in tqdm(z.infolist(), desc=f"extracting {archive.name}", unit="file", disable=not progress):
                target = (dest / info.filename).resolve()
                if not target.is_relative_to(dest):
                    raise Timer1Error(f"{archive.name}: member {info.filename!r} would land outside {dest}")
                if info.is_dir():
                    continue
                if target.is_file() and target.stat().st_size == info.file_size:
                    continue
                z.extract(info, dest)
                written += 1
        return written
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError as e:
        raise Timer1Error(f"cannot read archive {archive}: {e}") from None
    with tar:
        for m in tqdm(tar.getmembers(), desc=f"extracting {archive.name}", unit="file", disable=not progress):
            if not m.isfile():
                continue
            target = dest / m.name
            if target.is_file() and target.stat().st_size == m.size:
                continue  # already there: re-running resumes instead of rewriting
            try:
                tar.extract(m, dest, filter="data")
            except tarfile.FilterError as e:
                raise Timer1Error(f"{archive.name}: unsafe member {m.name!r} ({e})") from None
            written += 1
    return written


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


def _unpack_release_archives(snapshot: Path, progress: bool) -> None:
    """Official releases may ship videos as archives; unpack each once beside itself."""
    for archive in sorted(p for p in snapshot.rglob("*") if p.is_file()
                          and re.search(r"\.(tar|tar\.gz|tgz|zip)$", p.name) and SHARD_DIR not in p.parts):
        marker = archive.with_name(archive.name + ".extracted")
        if not marker.exists():
            safe_extract(archive, archive.parent, progress)
            marker.write_text("done\n")


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


def _copy_canonical(src: Path, out: Path) -> None:
    if src.resolve() == out.resolve():
        return
    (out / "data").mkdir(parents=True, exist_ok=True)
    for name in ANNOTATION_FILES:
        shutil.copyfile(src / name, out / name)
    for old in (out / "data").glob("*.parquet"):
        old.unlink()
    for p in sorted((src / "data").glob("*.parquet")):
        shutil.copyfile(p, out / "data" / p.name)


ANNOTATION_PATTERNS = ["*.json", "*.md", "*.parquet", "*.jsonl", "*.csv"]


def missing_annotation_message(wanted: list[OfficialData], snapshot: Path) -> str:
    names = " or ".join(o.annotation for o in wanted)
    return (f"no {names} under {snapshot}; the Time-R1 annotation files live in its GitHub repository "
            "(dataset/timer1/annotations/): pass one with --annotations FILE")


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
    from .sources import ingest
    from .splits import list_splits, load_split, write_split

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
        snapshot = _fetch_snapshot(repo_id, revision=revision, local_dir=local_dir, allow_patterns=ANNOTATION_PATTERNS,
                                   snapshot_download=snapshot_download)
        if videos:
            if official and annotations is None and find_file(snapshot, official.annotation) is None:
                raise Timer1Error(missing_annotation_message([official], snapshot))
            # only this part's videos (a folder or archive named after it) for the official release
            patterns = [*ANNOTATION_PATTERNS, f"*{official.video_dir}*"] if official else None
            snapshot = _fetch_snapshot(repo_id, revision=revision, local_dir=local_dir, allow_patterns=patterns,
                                       snapshot_download=snapshot_download)

    if not official and annotations is None and is_canonical(snapshot):
        try:
            _copy_canonical(snapshot, out_dir)
        except OSError as e:
            raise Timer1Error(f"cannot write {out_dir}: {e.strerror or e}") from None
        from .splits import read_sidecar

        check_content_hashes(out_dir, list_splits(out_dir), read_sidecar(out_dir))
        if videos:
            for tar in verified_shards(snapshot):
                safe_extract(tar, out_dir, progress)
        refs = referenced_videos(out_dir)
        found = sum((out_dir / v).is_file() for v in refs)
        splits = {name: len(load_split(out_dir, name)) for name in list_splits(out_dir)}
        return DownloadResult(out_dir, splits, out_dir if found else None, found, len(refs) - found, repo_id)

    # official Time-R1 layout (or a mirror of it): find the annotation files and ingest them
    wanted = [official] if official else list(OFFICIAL.values())
    if annotations is not None:
        ann = Path(annotations)
        if not ann.is_file():
            raise Timer1Error(f"--annotations file not found: {ann}")
        if official is None:
            wanted = [next((o for o in OFFICIAL.values() if o.annotation == ann.name), OFFICIAL["tvgbench"])]
        found_files = {wanted[0].annotation: ann}
    else:
        found_files = {o.annotation: p for o in wanted if (p := find_file(snapshot, o.annotation)) is not None}
    if not found_files:
        raise Timer1Error(missing_annotation_message(wanted, snapshot))
    if videos:
        try:
            _unpack_release_archives(snapshot, progress)
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


# --------------------------------------------------------------------------------------------- CLI


@click.command("publish")
@click.argument("split_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="Hub dataset repo, ORG/NAME (created when missing).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", default=None, help="Branch to commit to (created when missing; default main).")
@click.option("--dry-run", is_flag=True, help="Print the file plan and sizes; upload nothing.")
@click.option("--with-videos", "video_root", default=None, type=click.Path(file_okay=False),
              help="Also upload the referenced videos, read from this folder, as tar shards.")
@click.option("--shard-size", default="2GB", show_default=True, help="Largest video shard (e.g. 500MB, 2GB).")
@click.option("--stage-dir", default=None, type=click.Path(file_okay=False),
              help="Where to stage files before upload (default: the timer1 user cache).")
@click.option("-m", "--message", default=None, help="Commit message of the final commit.")
def publish_cmd(split_dir, repo_id, private, revision, dry_run, video_root, shard_size, stage_dir, message):
    """Publish split folder DIR to the Hugging Face Hub in one atomic annotations commit.

    Videos (--with-videos) go first, one resumable commit per shard: shards the Hub already holds are
    skipped, so re-running after an interruption continues. The token comes from `hf auth login` or HF_TOKEN.
    """
    res = publish(split_dir, repo_id, private=private, revision=revision, video_root=video_root,
                  dry_run=dry_run, stage_dir=stage_dir, shard_bytes=parse_size(shard_size),
                  commit_message=message, log=click.echo)
    total = sum(f.size for f in res.files)
    if dry_run:
        click.echo(f"dry run: would publish {split_dir} to {repo_id}"
                   f"{' (private)' if private else ''} at {revision or 'main'}: {len(res.files)} files, "
                   f"{'~' if video_root else ''}{human_size(total)}")
        for f in res.files:
            extra = f"  ({len(f.members)} video{'s' if len(f.members) != 1 else ''})" if f.members else ""
            size = "(written at publish)" if f.path_in_repo == SHARD_INDEX else human_size(f.size)
            click.echo(f"  {f.commit:<11} {f.path_in_repo:<48} {size:>12}{extra}")
        n_shards = sum(f.commit == "shard" for f in res.files)
        click.echo(f"commits: {n_shards} shard commit(s), then 1 atomic annotations commit")
        return
    click.echo(f"published {split_dir} to {repo_id} ({len(res.uploaded)} uploaded, {len(res.skipped)} already there, "
               f"{len(res.deleted)} stale removed): {res.commit_url or 'ok'}")


@click.command("download")
@click.argument("target", metavar="tvgbench|timerft|ORG/NAME")
@click.option("-o", "--out", default=None, type=click.Path(file_okay=False),
              help="Canonical split folder to write (default: ./tvgbench, ./timerft or ./NAME).")
@click.option("--local-dir", default=None, type=click.Path(file_okay=False),
              help="Where to put the raw snapshot (default: the Hugging Face cache).")
@click.option("--videos/--no-videos", default=True, show_default=True, help="Also fetch and unpack the videos.")
@click.option("--revision", default=None, help="Branch, tag or commit to download.")
@click.option("--from-dir", default=None, type=click.Path(file_okay=False),
              help="Ingest an already-downloaded folder instead (works offline).")
@click.option("--annotations", default=None, type=click.Path(dir_okay=False),
              help="The Time-R1 annotation JSON when the snapshot lacks it (tvgbench.json / train_2k5.json).")
def download_cmd(target, out, local_dir, videos, revision, from_dir, annotations):
    """Download TVGBench, TimeRFT (official Time-R1 release) or a timer1-published repo as canonical splits."""
    res = download(target, out=out, local_dir=local_dir, videos=videos, revision=revision, from_dir=from_dir,
                   annotations=annotations)
    parts = ", ".join(f"{k}: {v} records" for k, v in sorted(res.splits.items()))
    click.echo(f"{target} ({res.source}) -> {res.out}  [{parts}]")
    if videos:
        if res.video_root is not None:
            click.echo(f"  videos: {res.videos_found} found, {res.videos_missing} missing; "
                       f"use --video-root {res.video_root}")
        else:
            click.echo("  videos: none found in the download")
