"""What a publish uploads: the repo layout, which videos go into which tar shard, and sizes.

Annotations (card, sidecar, parquet files and the balance plots the card embeds) go in one atomic commit;
videos go in deterministic tar shards under ``video_shards/``, each in a commit of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tvgbench.core.errors import Timer1Error
from tvgbench.core.splits import content_hash, list_splits, load_split, read_sidecar, read_split_table

SHARD_DIR = "video_shards"
SHARD_INDEX = f"{SHARD_DIR}/index.json"
DEFAULT_SHARD_BYTES = 2 * 1000**3  # 2 GB: far under the Hub's per-file limit, few files per repo
ANNOTATION_FILES = ("README.md", "timer1.json")
PLOT_GLOB = "plots/*.png"  # the balance plots the full card embeds by relative path (cards.draw_balance_plots)


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


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def parse_size(text: str) -> int:
    """'500MB', '2GB', '1.5G' or a byte count (huggingface_hub's own parsers take neither '1.5G' nor '2G')."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)i?b?\s*", str(text).lower())
    if not m:
        raise Timer1Error(f"cannot read size {text!r} (examples: 500MB, 2GB)")
    value = float(m.group(1)) * 1000 ** " kmgt".index(m.group(2) or " ")
    if value < 1:
        raise Timer1Error(f"size must be positive, got {text!r}")
    return int(value)


def referenced_videos(split_dir: Path) -> list[str]:
    """Every distinct ``video`` of every split in the folder, sorted."""
    names: set[str] = set()
    for split in list_splits(split_dir):
        names.update(v for v in read_split_table(split_dir, split, columns=["video"]).column("video").to_pylist() if v)
    return sorted(names)


def tar_member_bytes(size: int) -> int:
    return 512 + -(-size // 512) * 512  # one header block plus the data padded to whole blocks


def tar_bytes(members: list[tuple[str, int]]) -> int:
    """Exact size of a shard tar: its members, two end-of-archive blocks, padded to tarfile's 10240-byte records."""
    size = sum(tar_member_bytes(s) for _, s in members) + 1024
    return -(-size // 10240) * 10240


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


def check_split_folder(split_dir: Path) -> list[str]:
    """A folder timer1 wrote, unchanged since: its splits, card and sidecar agree. Returns the split names."""
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
    return splits


def annotation_files(split_dir: Path) -> list[PlannedFile]:
    """Card, sidecar, parquet files and the plots the card embeds, as they are in the folder."""
    paths = [split_dir / n for n in ANNOTATION_FILES]
    paths += sorted((split_dir / "data").glob("*.parquet")) + sorted(split_dir.glob(PLOT_GLOB))
    return [PlannedFile(p.relative_to(split_dir).as_posix(), p.stat().st_size, "annotations", p) for p in paths]


def shard_files(split_dir: Path, video_root: Path, shard_bytes: int) -> list[PlannedFile]:
    """The referenced videos packed into shards (sizes exact from the tar layout), then the shard index."""
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
    files = [PlannedFile(shard_name(i, len(groups)), tar_bytes(members), "shard", members=members)
             for i, members in enumerate(groups)]
    return files + [PlannedFile(SHARD_INDEX, 0, "annotations")]


def make_plan(split_dir: Path, video_root: Path | None = None, shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[PlannedFile]:
    """What a publish would upload, with sizes."""
    check_split_folder(split_dir)
    files = annotation_files(split_dir)
    if video_root is not None:
        files += shard_files(split_dir, video_root, shard_bytes)
    return files


def check_content_hashes(split_dir: Path, splits: list[str], sidecar: dict[str, Any]) -> None:
    """Refuse a split whose rows no longer match the hash its card and sidecar announce."""
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
