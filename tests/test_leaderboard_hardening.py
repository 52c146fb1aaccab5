"""Leaderboard hardening (issue 13, items 2, 10-13, 26): reading never creates, ids SQLite cannot hold,
CSRF / DNS rebinding, unauthenticated bodies, hidden ground truth, pretty names and same-named splits."""

from __future__ import annotations

import os
import sqlite3
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.server import create_app
from leaderboard.service import submit
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex
from test_leaderboard_validate import jsonl, make_tiny_split, rows_for
from tvgbench.cli.main import cli

HUGE_ID = "99999999999999999999999"  # > 2**63: SQLite cannot hold it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = make_tiny_split(tmp_path_factory.mktemp("tiny_split"))
    return d, SplitIndex.from_dir(d)


def client_of(app, host="127.0.0.1"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app, base_url=f"http://{host}")


def lb(*args):
    return CliRunner().invoke(cli, ["leaderboard", *map(str, args)])


# ---- item 2: reading never creates ------------------------------------------------------------------


def test_show_on_a_missing_database_creates_nothing(tmp_path):
    db = tmp_path / "missing" / "dir" / "lb.sqlite"
    for args in (["show"], ["show", "--json"], ["withdraw", "1", "--reason", "x"]):
        r = lb(*args, "--db", db)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: ") and r.output.count("\n") == 1 and "no leaderboard database" in r.output
    assert not (tmp_path / "missing").exists()


def test_show_on_an_empty_or_foreign_file_leaves_it_untouched(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 10)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    before = {p: p.read_bytes() for p in (empty, text, other)}
    for p in before:
        r = lb("show", "--db", p)
        assert r.exit_code == 2 and r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
        assert "not a leaderboard database" in r.output
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["empty.db", "notes.txt", "other.sqlite"]


def test_show_on_a_corrupt_database_is_one_error_line(tiny, tmp_path):
    split_dir, idx = tiny
    db = tmp_path / "lb.sqlite3"
    with open_store(db) as store:
        for k in range(1, 6):
            submit(store, jsonl(rows_for(idx, k)), split_dir, model_name=f"m{k}", bootstrap=20, split=idx)
    with sqlite3.connect(db) as c:  # fold the WAL in: every row now lives in the main file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    intact = db.read_bytes()
    page = 4096
    errors = 0
    for start in range(page, len(intact), page):  # damage one page at a time (the header page stays)
        for fill in (b"\xff", b"\x00"):
            raw = bytearray(intact)
            raw[start + 8:start + page] = fill * (page - 8)
            db.write_bytes(bytes(raw))
            r = lb("show", "--db", db)
            assert r.exit_code in (0, 2), (start, fill, r.output)
            assert "internal error" not in r.output and "Traceback" not in r.output, (start, fill, r.output)
            if r.exit_code == 2:
                errors += 1
                assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
                assert "corrupt" in r.output or "malformed" in r.output, r.output
    assert errors >= 4  # the rows' pages were hit


# ---- item 13: ids SQLite cannot hold; 500s keep the security headers --------------------------------


def test_ids_too_large_for_sqlite_are_not_found(tiny, tmp_path):
    split_dir, idx = tiny
    store = open_store(tmp_path / "lb.sqlite3")
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="m", bootstrap=20, split=idx)
    client = client_of(create_app(store, split_dirs=[str(split_dir)], bootstrap=20))
    for url in (f"/api/submissions/{HUGE_ID}", f"/submissions/{HUGE_ID}.html"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff"
    r = client.get(f"/?submitted={HUGE_ID}")
    assert r.status_code == 200 and "Stored submission" not in r.text
    assert store.get(int(HUGE_ID)) is None and store.get(-1) is None
    r = lb("withdraw", HUGE_ID, "--reason", "x", "--db", tmp_path / "lb.sqlite3")
    assert r.exit_code == 2 and r.output == f"error: no submission #{HUGE_ID}\n", r.output


class _BrokenStore:
    """A store whose reads fail the way a bug would: the app must still answer with its headers."""

    def submissions(self, split_name=None):
        raise RuntimeError("disk on fire")

    def get(self, sub_id):
        raise RuntimeError("disk on fire")


def test_internal_errors_keep_the_security_headers(caplog):
    client = client_of(create_app(_BrokenStore()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = client.get("/api/leaderboard")
    assert r.status_code == 500 and r.json() == {"error": "internal error"}
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "disk on fire" not in r.text
