"""Where submissions live: a small interface, and the SQLite implementation used by default.

A submission row keeps everything needed to audit or re-score it later: the exact bytes submitted
(zlib-compressed), their sha256, the split's name and content hash, the scorer version, and both
result objects (canonical, and Time-R1-compat beside it), plus, on a split that declares another
convention (e.g. TimeLens-Bench's ``timelens``), the result in that convention, which ranks its board.
Another backend (e.g. a server database) only has to implement :class:`Store`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlparse

import orjson
from platformdirs import user_data_dir

from tvgbench.core.errors import Timer1Error

DB_FILENAME = "leaderboard.sqlite3"
STORE_SCHEMA_VERSION = 3  # 2: submissions.withdrawn; 3: submissions.declared
SQLITE_HEADER = b"SQLite format 3\x00"
MAX_SQLITE_ID = 2**63 - 1  # INTEGER PRIMARY KEY is a signed 64-bit integer


def _sqlite_id(sub_id) -> int | None:
    """``sub_id`` as a row id SQLite can hold, or None (no row can have it)."""
    sub_id = int(sub_id)
    return sub_id if 0 <= sub_id <= MAX_SQLITE_ID else None


def one_line_reason(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _dumps(obj) -> str:
    return orjson.dumps(obj).decode()  # keeps key order: the scorer orders breakdown groups on purpose


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_ago() -> str:
    return (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


class LimitReached(Timer1Error):
    """An uploader used up its submissions for the day on a split with hidden ground truth."""


def check_daily_limit(used: int, limit: int) -> None:
    if used >= limit:
        raise LimitReached(f"this uploader already stored {used} submissions on this split in the last 24 hours; "
                           f"the limit is {limit} a day (its ground truth is hidden)")


@dataclass
class Submission:
    """One stored submission (predictions are fetched separately: they can be large)."""

    model_name: str
    split_name: str
    split_hash: str
    file_sha256: str
    scorer_version: str
    canonical: dict[str, Any]
    timer1: dict[str, Any]
    meta: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    file_bytes: int = 0
    lines: int = 0
    matched: int = 0
    missing: int = 0
    created_at: str = field(default_factory=utc_now)
    id: int | None = None
    withdrawn: str | None = None  # the maintainer's reason; withdrawn rows stay for the record, unranked
    declared: dict[str, Any] | None = None  # the result in the split's declared convention, when not one of the two

    @property
    def convention(self) -> str:
        """The scoring convention the split declares (recorded in the canonical result; canonical when none)."""
        return self.canonical.get("split", {}).get("convention", "canonical")

    @property
    def board_result(self) -> dict[str, Any]:
        """The result its board ranks and shows: the one in the split's declared convention."""
        if self.convention == "timer1":
            return self.timer1
        if self.convention != "canonical" and self.declared:
            return self.declared
        return self.canonical

    def metric(self, name: str) -> float:
        """``name`` in the board's result; -inf where its convention has no such metric (ranked last)."""
        value = self.board_result["metrics"].get(name)
        return float(value) if isinstance(value, (int, float)) else float("-inf")


class Store(Protocol):
    """What the leaderboard needs from storage."""

    def add(self, sub: Submission, predictions: bytes, *, submitter: str | None = None,
            daily_limit: int | None = None) -> tuple[Submission, bool]:
        """Store ``sub`` in one transaction; returns (the stored row, True) or (the earlier identical file, False).

        With ``submitter``, the upload is counted for it; with ``daily_limit`` too, :class:`LimitReached`
        when it already stored that many on this split in the last 24 hours (checked in the same transaction)."""

    def uploads_since(self, split_hash: str, submitter: str, since: str) -> int: ...

    def find_file(self, split_hash: str, file_sha256: str) -> Submission | None: ...

    def get(self, sub_id: int) -> Submission | None: ...

    def submissions(self, split_name: str | None = None) -> list[Submission]: ...

    def predictions(self, sub_id: int) -> bytes: ...

    def update_scores(self, sub_id: int, scorer_version: str, canonical: dict, timer1: dict,
                      declared: dict | None = None) -> None: ...

    def withdraw(self, sub_id: int, reason: str) -> None: ...

    def count(self) -> int: ...

    def close(self) -> None: ...


def default_db_path() -> Path:
    return Path(user_data_dir("timer1")) / DB_FILENAME


def open_store(url_or_path: str | os.PathLike | None = None, *, create: bool = True) -> Store:
    """``None`` → the default file; a path or ``sqlite:///path`` → SQLite; other schemes are refused clearly.

    ``create=False`` (commands that only read or amend a board) opens an existing leaderboard database
    and refuses anything else, creating and changing nothing."""
    if url_or_path is None or str(url_or_path) == "":
        url_or_path = os.environ.get("TIMER1_LEADERBOARD_DB") or default_db_path()
    text = str(url_or_path)
    if "://" in text:
        u = urlparse(text)
        if u.scheme != "sqlite":
            raise Timer1Error(f"unsupported leaderboard database {u.scheme}://; only sqlite:///PATH (or a file path) is built in")
        if u.netloc:
            raise Timer1Error(f"{text}: use sqlite:///relative/path or sqlite:////absolute/path (no host)")
        text = unquote(u.path[1:] if u.path.startswith("/") else u.path)  # SQLAlchemy's convention
    return SQLiteStore(text, create=create)


def _check_existing(path: Path) -> None:
    """Refuse, without touching it, a path that does not hold a SQLite file (SQLite would adopt it)."""
    if not path.exists():
        raise Timer1Error(f"no leaderboard database at {path} (nothing has been submitted to it yet)")
    if path.is_dir():
        raise Timer1Error(f"leaderboard database {path} is a folder")
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as e:
        raise Timer1Error(f"cannot read leaderboard database {path}: {e.strerror}") from None
    if header != SQLITE_HEADER:
        raise Timer1Error(f"{path} is not a leaderboard database (not a SQLite file)")


_COLUMNS = ("id", "created_at", "model_name", "meta", "split_name", "split_hash", "file_sha256", "file_name",
            "file_bytes", "lines", "matched", "missing", "scorer_version", "canonical", "timer1", "withdrawn",
            "declared")

_DDL = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    model_name TEXT NOT NULL,
    meta TEXT NOT NULL,
    split_name TEXT NOT NULL,
    split_hash TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_name TEXT,
    file_bytes INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    matched INTEGER NOT NULL,
    missing INTEGER NOT NULL,
    scorer_version TEXT NOT NULL,
    canonical TEXT NOT NULL,
    timer1 TEXT NOT NULL,
    withdrawn TEXT,
    declared TEXT,
    predictions BLOB NOT NULL,
    UNIQUE (split_hash, file_sha256)
);
CREATE INDEX IF NOT EXISTS submissions_split ON submissions (split_name, split_hash);
CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS uploads (
    submission_id INTEGER NOT NULL,
    submitter TEXT NOT NULL,
    split_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by ON uploads (submitter, split_hash, created_at);
"""


class SQLiteStore:
    """SQLite in WAL mode; every submission is one ``BEGIN IMMEDIATE`` transaction (safe across processes)."""

    def __init__(self, path: str | os.PathLike, *, timeout_s: float = 60.0, create: bool = True):
        self.path = Path(path).expanduser()
        self._lock = threading.RLock()  # one connection shared by a server's threads: one user at a time
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise Timer1Error(f"cannot create the folder for leaderboard database {self.path}: {e.strerror}") from None
            if self.path.exists() and self.path.is_dir():
                raise Timer1Error(f"leaderboard database {self.path} is a folder")
        else:
            _check_existing(self.path)
        try:
            # mode=rw: an existing file only, so a missing one is never created behind the check above
            uri = f"file:{quote(str(self.path.absolute()))}?mode={'rwc' if create else 'rw'}"
            self._db = sqlite3.connect(uri, uri=True, timeout=timeout_s, isolation_level=None,
                                       check_same_thread=False)
            if not create:
                self._check_tables()
            self._init(timeout_s)
        except sqlite3.DatabaseError as e:
            raise Timer1Error(f"cannot open leaderboard database {self.path}: {e}") from None

    def _check_tables(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"submissions", "store_info"} <= tables:
            self._db.close()
            raise Timer1Error(f"{self.path} is not a leaderboard database (no submissions table)")

    def _corrupt(self, e: Exception) -> Timer1Error:
        return Timer1Error(f"leaderboard database {self.path} is corrupt ({one_line_reason(e)}); "
                           "restore it from a backup")

    def _init(self, timeout_s: float) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        deadline = time.monotonic() + timeout_s
        while True:  # switching a fresh file to WAL needs a moment alone with it
            try:
                if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                    raise Timer1Error(f"{self.path}: SQLite refused WAL mode (is it on a network filesystem?)")
                with self._transaction():
                    for statement in filter(str.strip, _DDL.split(";")):  # executescript would COMMIT early
                        db.execute(statement)
                    row = db.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()
                    if row is not None and int(row[0]) > STORE_SCHEMA_VERSION:
                        raise Timer1Error(f"{self.path} was written by a newer timer1 (store schema {row[0]})")
                    self._migrate(db)
                    db.execute("INSERT OR REPLACE INTO store_info VALUES ('schema_version', ?)",
                               (str(STORE_SCHEMA_VERSION),))
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        db.execute("PRAGMA synchronous = FULL")  # a leaderboard row, once acknowledged, survives power loss

    @staticmethod
    def _migrate(db) -> None:
        """Bring a file written by an older timer1 up to date (inside the init transaction)."""
        columns = {r[1] for r in db.execute("PRAGMA table_info(submissions)")}
        if "withdrawn" not in columns:  # schema 1 -> 2
            db.execute("ALTER TABLE submissions ADD COLUMN withdrawn TEXT")
        if "declared" not in columns:  # schema 2 -> 3
            db.execute("ALTER TABLE submissions ADD COLUMN declared TEXT")

    class _Tx:
        def __init__(self, db, lock):
            self.db, self.lock = db, lock

        def __enter__(self):
            self.lock.acquire()
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.lock.release()
                raise
            return self.db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
            finally:
                self.lock.release()
            return False

    def _transaction(self):
        return self._Tx(self._db, self._lock)

    @staticmethod
    def _row(r) -> Submission:
        d = dict(zip(_COLUMNS, r))
        return Submission(
            id=d["id"], created_at=d["created_at"], model_name=d["model_name"], meta=orjson.loads(d["meta"]),
            split_name=d["split_name"], split_hash=d["split_hash"], file_sha256=d["file_sha256"],
            file_name=d["file_name"], file_bytes=d["file_bytes"], lines=d["lines"], matched=d["matched"],
            missing=d["missing"], scorer_version=d["scorer_version"], canonical=orjson.loads(d["canonical"]),
            timer1=orjson.loads(d["timer1"]), withdrawn=d["withdrawn"],
            declared=orjson.loads(d["declared"]) if d["declared"] else None,
        )

    def _select(self, where: str = "", args: tuple = ()) -> list[Submission]:
        try:
            with self._lock:
                rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM submissions {where} ORDER BY id",
                                        args).fetchall()
            return [self._row(r) for r in rows]
        except (sqlite3.DatabaseError, ValueError, TypeError) as e:  # damaged pages or rows (orjson: ValueError)
            raise self._corrupt(e) from None

    def add(self, sub: Submission, predictions: bytes, *, submitter: str | None = None,
            daily_limit: int | None = None) -> tuple[Submission, bool]:
        with self._transaction() as db:
            earlier = self._select("WHERE split_hash = ? AND file_sha256 = ?", (sub.split_hash, sub.file_sha256))
            if earlier:
                return earlier[0], False
            if submitter is not None and daily_limit is not None:
                check_daily_limit(self.uploads_since(sub.split_hash, submitter, day_ago()), daily_limit)
            cur = db.execute(
                f"INSERT INTO submissions ({', '.join(_COLUMNS[1:])}, predictions) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (sub.created_at, sub.model_name, _dumps(sub.meta),
                 sub.split_name, sub.split_hash, sub.file_sha256, sub.file_name, sub.file_bytes, sub.lines,
                 sub.matched, sub.missing, sub.scorer_version, _dumps(sub.canonical), _dumps(sub.timer1),
                 None, _dumps(sub.declared) if sub.declared else None, zlib.compress(predictions, 6)),
            )
            sub.id = cur.lastrowid
            if submitter is not None:
                db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?)", (sub.id, submitter, sub.split_hash, sub.created_at))
        return sub, True

    def uploads_since(self, split_hash: str, submitter: str, since: str) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM uploads WHERE submitter = ? AND split_hash = ? AND created_at >= ?",
                (submitter, split_hash, since)).fetchone()[0])

    def find_file(self, split_hash: str, file_sha256: str) -> Submission | None:
        found = self._select("WHERE split_hash = ? AND file_sha256 = ?", (split_hash, file_sha256))
        return found[0] if found else None

    def get(self, sub_id: int) -> Submission | None:
        if _sqlite_id(sub_id) is None:
            return None
        found = self._select("WHERE id = ?", (int(sub_id),))
        return found[0] if found else None

    def submissions(self, split_name: str | None = None) -> list[Submission]:
        return self._select("WHERE split_name = ?", (split_name,)) if split_name else self._select()

    def predictions(self, sub_id: int) -> bytes:
        if _sqlite_id(sub_id) is None:
            raise Timer1Error(f"no submission #{sub_id}")
        try:
            with self._lock:
                row = self._db.execute("SELECT predictions FROM submissions WHERE id = ?", (int(sub_id),)).fetchone()
            if row is None:
                raise Timer1Error(f"no submission #{sub_id}")
            return zlib.decompress(row[0])
        except (sqlite3.DatabaseError, zlib.error, TypeError) as e:
            raise self._corrupt(e) from None

    def update_scores(self, sub_id: int, scorer_version: str, canonical: dict, timer1: dict,
                      declared: dict | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET scorer_version = ?, canonical = ?, timer1 = ?, declared = ? WHERE id = ?",
                       (scorer_version, _dumps(canonical), _dumps(timer1), _dumps(declared) if declared else None,
                        int(sub_id)))

    def withdraw(self, sub_id: int, reason: str) -> None:
        if _sqlite_id(sub_id) is None:
            raise Timer1Error(f"no submission #{sub_id}")
        with self._transaction() as db:
            if db.execute("UPDATE submissions SET withdrawn = ? WHERE id = ?", (reason, int(sub_id))).rowcount != 1:
                raise Timer1Error(f"no submission #{sub_id}")

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0])

    def integrity_check(self) -> str:
        with self._lock:
            return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
