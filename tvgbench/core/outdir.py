"""Output folders: one rule for every command that writes one.

A command builds its output in a temporary sibling folder and, when it has finished, swaps in only the
files it wrote. A folder that holds anything else is refused unless ``--overwrite``, and even then the
files the command did not write are never touched (replaced, moved or deleted). A failed or interrupted
command leaves the folder as it was: a new folder appears in one rename or not at all.

Each command says what it owns in an existing folder (:class:`Owned`): the files an earlier run of the
same kind wrote there, recognised by the marker file that kind writes (a split's ``timer1.json``, the
tiny model's ``timer1_tiny.json``, the site's generator tag), never by name alone.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tvgbench.core.errors import Timer1Error

STAGING_PREFIX = ".timer1-staging-"  # inside the target, only when no sibling can be used


@dataclass(frozen=True)
class Owned:
    """What a command owns in an existing output folder."""

    files: frozenset[str] = frozenset()  # relative paths an earlier run of this kind wrote
    replaces: str = ""  # what the user would lose (e.g. "split 'test'"); needs --overwrite
    # hard-link the owned files into the staging folder: the command reads and merges them (so it must
    # replace files, as the atomic writers do, never edit them in place)
    seed: bool = False
    prune: bool = False  # owned files this run does not write again are removed (a whole site, a model)


NOTHING_OWNED = Owned()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask alone sets it too)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_readable(path: Path) -> None:
    """Give a file a library wrote privately (0600) the mode a plain open gives: 0666 less the umask."""
    os.chmod(path, 0o666 & ~current_umask())


def safe_relative(rel: str) -> bool:
    """A plain path below the folder (recorded paths come from files a user can edit)."""
    p = Path(rel)
    return bool(rel) and not p.is_absolute() and ".." not in p.parts and p.as_posix() == rel.replace(os.sep, "/")


def owned_files(target: Path, candidates) -> frozenset[str]:
    """The candidates that are plain files in ``target`` itself (no link on the way leads elsewhere)."""
    real = Path(os.path.realpath(target))
    return frozenset(r for r in candidates if safe_relative(r) and (target / r).is_file()
                     and Path(os.path.realpath(target / r)) == real / r)


def _files_under(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(STAGING_PREFIX))
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            yield (here / name).relative_to(root).as_posix()


def foreign_files(target: Path, owned: frozenset[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` entries of ``target`` the command did not write (stops walking once found)."""
    found = []
    for rel in _files_under(target):
        if rel not in owned:
            found.append(rel)
            if len(found) >= limit:
                break
    return found


def _ident(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _remove_dead_staging(parent: Path, prefix: str) -> None:
    """Staging folders of killed runs (kill -9 leaves them): named by this rule, their process gone."""
    for p in parent.glob(f"{prefix}*"):
        pid = p.name[len(prefix):].split("-")[0]
        if p.is_dir() and not p.is_symlink() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def _make_staging(parent: Path, prefix: str) -> Path:
    # os.mkdir, not mkdtemp: the umask applies (mkdtemp makes 0700, and this folder may become the output)
    _remove_dead_staging(parent, prefix)
    for _ in range(100):
        path = parent / f"{prefix}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise Timer1Error(f"cannot create a staging folder in {parent}")


def _staging_for(target: Path) -> Path:
    """A sibling on the same filesystem (so files move by rename), else a hidden folder inside the target."""
    parent = target.parent
    if target.is_dir():
        sibling_ok = os.access(parent, os.W_OK) and os.stat(parent).st_dev == os.stat(target).st_dev
        if not sibling_ok:
            return _make_staging(target, STAGING_PREFIX)
    return _make_staging(parent, f".{target.name}.timer1-")


def _seed(staging: Path, target: Path, files: frozenset[str]) -> dict[str, tuple[int, int]]:
    seeded = {}
    for rel in sorted(files):
        dest = staging / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(target / rel, dest)  # no copy: the command sees the folder as it is
        except OSError:
            shutil.copy2(target / rel, dest)
        seeded[rel] = _ident(dest)
    return seeded


def _blocked(target: Path, rel: str, owned: frozenset[str]) -> bool:
    """Writing ``rel`` would replace something the command did not write."""
    dest = target / rel
    if os.path.lexists(dest) and (rel not in owned or dest.is_dir() or dest.is_symlink()):
        return True
    parents = [target / Path(*Path(rel).parts[:i]) for i in range(1, len(Path(rel).parts))]
    return any(os.path.lexists(p) and (p.is_symlink() or not p.is_dir()) for p in parents)


def _swap_in(staging: Path, target: Path, shown: str, own: Owned, seeded: dict[str, tuple[int, int]]) -> None:
    produced = set(_files_under(staging))
    changed = [r for r in produced if r not in seeded or _ident(staging / r) != seeded[r]]
    removed = [r for r in seeded if r not in produced]
    if own.prune:
        removed += [r for r in own.files if r not in produced and r not in seeded]
    blocked = sorted(r for r in changed if _blocked(target, r, own.files))
    if blocked:
        raise Timer1Error(f"{os.path.join(shown, blocked[0])} was not written by timer1 and would be replaced; "
                          "move it away or choose another folder")
    # deepest first: data files land before the card and sidecar that describe them
    for rel in sorted(changed, key=lambda r: (-r.count("/"), r)):
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    for rel in removed:
        (target / rel).unlink(missing_ok=True)


def check_output_dir(target: Path, shown: str, own: Owned, *, overwrite: bool, command: str) -> None:
    """Refuse (one ``error:`` line) a folder the command may not write into."""
    if os.path.lexists(target) and not target.is_dir():
        raise Timer1Error(f"{shown} exists and is not a folder")
    if overwrite or not target.is_dir():
        return
    foreign = foreign_files(target, own.files)
    if foreign:
        listed = ", ".join(foreign) + (", ..." if len(foreign) >= 3 else "")
        raise Timer1Error(f"{shown} holds files {command} did not write ({listed}); choose a new or empty "
                          "folder, or pass --overwrite to write beside them (they are left untouched)")
    if own.replaces:
        raise Timer1Error(f"{shown} already holds {own.replaces}; pass --overwrite to replace it")


@contextmanager
def staged_output(out_dir: str | os.PathLike, *, overwrite: bool, command: str,
                  owned: Callable[[Path], Owned] | None = None) -> Iterator[Path]:
    """Yield an empty staging folder to build the output in; on success swap it into ``out_dir``.

    ``owned(target)`` says what the command owns in an existing ``out_dir`` (default: nothing). On any
    exception the staging folder is removed and ``out_dir`` is left exactly as it was.
    """
    shown = os.fspath(out_dir)
    target = Path(os.path.abspath(shown))  # "." has no name; abspath keeps the user's symlinks
    own = owned(target) if target.is_dir() and owned else NOTHING_OWNED
    check_output_dir(target, shown, own, overwrite=overwrite, command=command)
    created = [p for p in reversed(target.parents) if not p.exists()]
    staging = None
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = _staging_for(target)
        except OSError as e:
            raise Timer1Error(f"cannot create output folder {shown}: {e.strerror or e}") from None
        seeded = _seed(staging, target, own.files) if own.seed and target.is_dir() else {}
        yield staging
        if target.is_dir():
            _swap_in(staging, target, shown, own, seeded)
        else:
            os.replace(staging, target)  # a new folder: one rename, all or nothing
            staging = None
            created = []
    except OSError as e:
        raise Timer1Error(f"cannot write {shown}: {e.strerror or e}") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        for p in reversed(created):  # parents this command made for an output that never came
            try:
                p.rmdir()
            except OSError:
                break


def check_output_file(out_path: str | os.PathLike, *, overwrite: bool) -> None:
    """A command that writes one file refuses to replace an existing one unless ``--overwrite``."""
    p = Path(out_path)
    if p.is_dir():
        raise Timer1Error(f"{out_path} is a folder; give a file name")
    if os.path.lexists(p) and not overwrite:
        raise Timer1Error(f"{out_path} already exists; pass --overwrite to replace it")
