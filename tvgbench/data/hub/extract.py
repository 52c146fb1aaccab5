"""Unpack downloaded archives inside their folder only, resuming: members already there are not rewritten."""

from __future__ import annotations

import re
import tarfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from tvgbench.core.errors import Timer1Error
from tvgbench.data.hub.plan import SHARD_DIR


def _extract_zip(archive: Path, dest: Path, progress: bool) -> int:
    written = 0
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


def _extract_tar(archive: Path, dest: Path, progress: bool) -> int:
    try:
        tar = tarfile.open(archive)
    except tarfile.TarError as e:
        raise Timer1Error(f"cannot read archive {archive}: {e}") from None
    written = 0
    with tar:
        for m in tqdm(tar.getmembers(), desc=f"extracting {archive.name}", unit="file", disable=not progress):
            if not m.isfile():
                continue
            target = dest / m.name
            if target.is_file() and target.stat().st_size == m.size:
                continue  # already there: re-running resumes instead of rewriting
            try:
                tar.extract(m, dest, filter="data")  # the "data" filter refuses absolute paths, '..' and links
            except tarfile.FilterError as e:
                raise Timer1Error(f"{archive.name}: unsafe member {m.name!r} ({e})") from None
            written += 1
    return written


def safe_extract(archive: Path, dest: Path, progress: bool = True) -> int:
    """Unpack a tar or zip inside ``dest`` only (no absolute paths, no '..', no links); returns members written."""
    dest = dest.resolve()
    if zipfile.is_zipfile(archive):
        return _extract_zip(archive, dest, progress)
    return _extract_tar(archive, dest, progress)


def unpack_release_archives(snapshot: Path, progress: bool) -> None:
    """Official releases may ship videos as archives; unpack each once beside itself."""
    for archive in sorted(p for p in snapshot.rglob("*") if p.is_file()
                          and re.search(r"\.(tar|tar\.gz|tgz|zip)$", p.name) and SHARD_DIR not in p.parts):
        marker = archive.with_name(archive.name + ".extracted")
        if not marker.exists():
            safe_extract(archive, archive.parent, progress)
            marker.write_text("done\n")
