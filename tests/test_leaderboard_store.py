"""Leaderboard scoring, storage, ranking and CLI: real splits, real files, a real SQLite database."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import random
import sqlite3
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.ranking import boards
from leaderboard.service import rescore, score_bytes, submit
from leaderboard.store import SQLiteStore, open_store
from leaderboard.validate import SplitIndex, SubmissionRejected
from test_leaderboard_validate import TINY_N, jsonl, make_tiny_split, rows_for
from tvgbench.cli.main import cli


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = make_tiny_split(tmp_path_factory.mktemp("tiny_split"))
    return d, SplitIndex.from_dir(d)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "lb.sqlite3")
    yield s
    s.close()


def test_sqlite_store_uses_wal_and_the_default_location(tmp_path, monkeypatch):
    s = open_store(f"sqlite:///{tmp_path}/x/lb.db")
    assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.path == tmp_path / "x" / "lb.db"
    s.close()
    monkeypatch.delenv("TIMER1_LEADERBOARD_DB", raising=False)
    from leaderboard.store import default_db_path
    from platformdirs import user_data_dir

    assert default_db_path() == Path(user_data_dir("timer1")) / "leaderboard.sqlite3"
    with pytest.raises(Exception, match="only sqlite"):
        open_store("postgresql://db.example/lb")
    monkeypatch.chdir(tmp_path)
    rel = open_store("sqlite:///rel/lb.db")  # SQLAlchemy's convention: three slashes, relative path
    assert rel.path == Path("rel/lb.db") and (tmp_path / "rel" / "lb.db").exists()
    rel.close()


def test_store_written_by_schema_1_is_migrated_in_place(tiny, tmp_path):
    split_dir, idx = tiny
    db = tmp_path / "v1.sqlite3"
    with open_store(db) as s:
        submit(s, jsonl(rows_for(idx)), split_dir, model_name="before", bootstrap=0)
    con = sqlite3.connect(db)  # make it look like a file from schema 1 (no withdrawn column)
    con.execute("ALTER TABLE submissions DROP COLUMN withdrawn")
    con.execute("UPDATE store_info SET value = '1' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with open_store(db) as s:
        assert [x.model_name for x in s.submissions()] == ["before"] and s.get(1).withdrawn is None
        s.withdraw(1, "test")
        assert s._db.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()[0] == "3"
    con = sqlite3.connect(db)
    con.execute("UPDATE store_info SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(Exception, match="newer timer1"):
        open_store(db)


def test_submit_scores_canonically_and_stores_compat_beside(tiny, store, tmp_path):
    from tvgbench.core.scoring import SCORER_VERSION, score

    split_dir, idx = tiny
    data = jsonl(rows_for(idx, 8, shift=1.5))
    out = submit(store, data, split_dir, model_name="m", meta=["fps=2", "prompt=v1"], bootstrap=200)
    s = out.submission
    assert out.created and s.id == 1 and out.rank == 1 and out.ranked_models == 1
    assert (s.matched, s.missing, s.lines) == (8, TINY_N - 8, 8)
    assert s.file_sha256 == "sha256:" + hashlib.sha256(data).hexdigest()
    assert s.split_hash == idx.content_hash and s.scorer_version == SCORER_VERSION
    assert s.meta == {"fps": "2", "prompt": "v1"}
    p = tmp_path / "p.jsonl"
    p.write_bytes(data)
    # the numbers are the core scorer's, in both modes; missing queries count as misses only canonically
    assert s.canonical["metrics"] == score(p, split_dir, bootstrap=0)["metrics"]
    assert s.timer1["metrics"] == score(p, split_dir, mode="timer1", bootstrap=0)["metrics"]
    assert s.canonical["counts"]["missing"] == TINY_N - 8
    assert s.timer1["metrics"]["R1@0.3"] > s.canonical["metrics"]["R1@0.3"]
    # no server paths in what is stored (and later served)
    assert "predictions" not in s.canonical and "path" not in s.canonical["split"]
    assert zlib.decompress(store._db.execute("SELECT predictions FROM submissions").fetchone()[0]) == data


def test_same_file_twice_is_recognised_not_double_counted(tiny, store):
    split_dir, idx = tiny
    data = jsonl(rows_for(idx))
    first = submit(store, data, split_dir, model_name="a", bootstrap=0)
    again = submit(store, data, split_dir, model_name="another name", bootstrap=0)
    assert first.created and not again.created
    assert again.submission.id == first.submission.id and again.submission.model_name == "a"
    assert store.count() == 1
    changed = submit(store, data.replace(b"]}", b"]}\n", 1), split_dir, model_name="a", bootstrap=0)
    assert changed.created and store.count() == 2  # different bytes, a different submission


def test_timer1_targets_in_a_file_cannot_move_the_ground_truth(tiny, store):
    """Time-R1 lines carry a "target"; compat scoring must still use the split's ground truth."""
    split_dir, idx = tiny
    rows = [{"qid": q, "pred": [0.0, 1.0], "target": [0.0, 1.0], "output_text": "0 to 1"} for q in idx.qids]
    s = submit(store, jsonl(rows), split_dir, model_name="cheater", bootstrap=0).submission
    assert s.timer1["metrics"]["R1@0.3"] == 0.0 and s.canonical["metrics"]["R1@0.3"] == 0.0


def test_same_file_racing_from_8_connections_is_stored_once(tiny, tmp_path):
    """Eight writers (own connections, as separate processes would have) race the same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    split_dir, idx = tiny
    db = tmp_path / "race.sqlite3"
    SQLiteStore(db).close()
    data = jsonl(rows_for(idx, 7))

    def one(i):
        with open_store(db) as s:
            out = submit(s, data, split_dir, model_name=f"racer{i}", bootstrap=0, split=idx)
            return out.submission.id, out.created

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert {r[0] for r in results} == {1} and sum(r[1] for r in results) == 1
    with open_store(db) as s:
        assert s.count() == 1


def test_ranking_best_per_model_with_ties(tiny, store):
    split_dir, idx = tiny
    submit(store, jsonl(rows_for(idx, 4)), split_dir, model_name="A", bootstrap=0)
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="A", bootstrap=0)  # A's better try
    submit(store, jsonl(rows_for(idx, 6)), split_dir, model_name="B", bootstrap=0)
    out = submit(store, jsonl(rows_for(idx, 6)[::-1]), split_dir, model_name="C", bootstrap=0)  # same scores as B
    (b,) = boards(store.submissions(), "R1@0.5")
    assert [(e.rank, e.submission.model_name) for e in b.entries] == [(1, "A"), (2, "B"), (2, "C")]
    assert b.entries[0].model_submissions == 2 and b.entries[0].submission.id == 2
    assert (out.rank, out.ranked_models) == (2, 3)


def test_other_ground_truth_forms_its_own_board(tiny, store, tmp_path):
    split_dir, idx = tiny
    other = make_tiny_split(tmp_path / "other", n=TINY_N + 1)  # same split name, different content
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="A", bootstrap=0)
    submit(store, jsonl(rows_for(SplitIndex.from_dir(other))), other, model_name="A", bootstrap=0)
    bs = boards(store.submissions(), "mIoU")
    assert len(bs) == 2 and {b.split_name for b in bs} == {"test"} and all(len(b.entries) == 1 for b in bs)


def test_split_rebuilt_under_a_running_board_is_refused(store, tmp_path):
    from tvgbench.core.errors import Timer1Error

    d = make_tiny_split(tmp_path / "split")
    idx = SplitIndex.from_dir(d)  # what a server loaded at start
    make_tiny_split(d, n=TINY_N - 1)  # rebuilt on disk: other ground truth
    with pytest.raises(Timer1Error, match="changed on disk"):
        submit(store, jsonl(rows_for(idx, 3)), d, model_name="m", bootstrap=0, split=idx)
    assert store.count() == 0


def test_scorer_version_change_marks_stale_then_rescore(tiny, store, monkeypatch):
    import leaderboard.service
    import tvgbench.core.scoring

    split_dir, idx = tiny
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="old", bootstrap=0)
    # a new scorer release: the version the scorer reports and the one submit() records
    monkeypatch.setattr(tvgbench.core.scoring, "SCORER_VERSION", "9.9.9")
    monkeypatch.setattr(leaderboard.service, "SCORER_VERSION", "9.9.9")
    submit(store, jsonl(rows_for(idx, 5)), split_dir, model_name="new", bootstrap=0)
    (b,) = boards(store.submissions(), "R1@0.5")
    assert [e.submission.model_name for e in b.entries] == ["new"]  # never ranked together
    assert [s.model_name for s in b.stale] == ["old"] and b.stale[0].scorer_version != "9.9.9"
    from leaderboard.html import render_index

    page = render_index(boards(store.submissions(), "R1@0.5"))
    assert "1 submission(s) scored with another scorer version are not ranked" in page
    r = CliRunner().invoke(cli, ["leaderboard", "show", "--db", str(store.path)])
    table, note = r.output.split("1 submission(s) scored with another scorer version")
    assert "│ new" in table and "│ old" not in table and "not ranked" in note
    assert rescore(store, split_dir) == [1]
    (b,) = boards(store.submissions(), "R1@0.5")
    assert [e.submission.model_name for e in b.entries] == ["old", "new"] and not b.stale
    assert store.get(1).scorer_version == "9.9.9"


def test_withdrawn_submission_leaves_the_board_and_stays_recognised(tiny, store, tmp_path):
    split_dir, idx = tiny
    data = jsonl(rows_for(idx))
    submit(store, data, split_dir, model_name="cheat", bootstrap=0)
    submit(store, jsonl(rows_for(idx, 3)), split_dir, model_name="honest", bootstrap=0)
    r = run("withdraw", "1", "--reason", "constant added to scores", "--db", store.path)
    assert r.exit_code == 0
    (b,) = boards(store.submissions(), "R1@0.5")
    assert [e.submission.model_name for e in b.entries] == ["honest"] and [s.id for s in b.withdrawn] == [1]
    again = submit(store, data, split_dir, model_name="cheat-again", bootstrap=0)
    assert not again.created and again.submission.withdrawn == "constant added to scores"
    assert store.count() == 2
    from leaderboard.html import render_submission

    assert "Withdrawn by the maintainers: constant added to scores" in render_submission(store.get(1))
    assert CliRunner().invoke(cli, ["leaderboard", "withdraw", "99", "--reason", "x", "--db", str(store.path)]).exit_code == 2


def test_rejected_submission_leaves_store_byte_identical(tiny, store):
    split_dir, idx = tiny
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="ok", bootstrap=0)
    before = store._db.execute("SELECT * FROM submissions").fetchall()
    rows = rows_for(idx, 3) + [rows_for(idx, 1)[0]]
    with pytest.raises(SubmissionRejected, match="already given on line 1"):
        submit(store, jsonl(rows), split_dir, model_name="dup", bootstrap=0)
    for bad_name in ("", "x" * 101, "two\nlines"):
        with pytest.raises(SubmissionRejected):
            submit(store, jsonl(rows_for(idx, 2)), split_dir, model_name=bad_name, bootstrap=0)
    with pytest.raises(SubmissionRejected, match="key=value"):
        submit(store, jsonl(rows_for(idx, 2)), split_dir, model_name="m", meta=["novalue"], bootstrap=0)
    assert store._db.execute("SELECT * FROM submissions").fetchall() == before


# ---- 8 processes x 50 concurrent submissions --------------------------------------------------------

PROCS, PER_PROC = 8, 50


def _worker(db: str, split_dir: str, proc: int, barrier) -> None:
    store = open_store(db)
    idx = SplitIndex.from_dir(split_dir)
    barrier.wait()  # all eight start writing at the same moment
    for j in range(PER_PROC):
        rng = random.Random(proc * 1000 + j)
        rows = [{"qid": q, "pred": [rng.uniform(0, 30), rng.uniform(30, 60)]} for q in idx.qids]
        submit(store, jsonl(rows), split_dir, model_name=f"p{proc}-m{j}", meta=[f"proc={proc}"], bootstrap=20,
               split=idx)
    store.close()


@pytest.mark.slow
def test_8_processes_x_50_concurrent_submissions_all_stored_none_corrupt(tiny, tmp_path):
    split_dir, idx = tiny
    db = str(tmp_path / "concurrent.sqlite3")
    SQLiteStore(db).close()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCS)
    procs = [ctx.Process(target=_worker, args=(db, str(split_dir), p, barrier)) for p in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * PROCS

    store = open_store(db)
    assert store.integrity_check() == "ok"
    subs = store.submissions()
    assert len(subs) == PROCS * PER_PROC == store.count()
    assert sorted(s.id for s in subs) == list(range(1, PROCS * PER_PROC + 1))
    assert {s.model_name for s in subs} == {f"p{p}-m{j}" for p in range(PROCS) for j in range(PER_PROC)}
    for s in subs:  # every row is whole: its bytes match its hash, its scores parse and are its own
        data = store.predictions(s.id)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == s.file_sha256
        assert s.meta == {"proc": s.model_name.split("-")[0][1:]} and s.matched == TINY_N
        assert s.canonical["counts"]["matched"] == TINY_N and len(s.canonical["ci95"]) == 4
    for s in random.Random(0).sample(subs, 40):  # and re-scoring the stored bytes gives the stored numbers
        canonical, _, _ = score_bytes(store.predictions(s.id), split_dir, idx, bootstrap=0)
        assert canonical["metrics"] == s.canonical["metrics"]
    store.close()


# ---- CLI --------------------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(cli, ["leaderboard", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("cmd", ["submit", "show", "export", "serve", "rescore", "withdraw"])
def test_every_command_has_help(cmd):
    r = run(cmd, "--help")
    assert r.exit_code == 0 and "Usage:" in r.output


def test_cli_submit_show_export_on_the_real_tvgbench(tvgbench_split, tmp_path):
    from leaderboard.validate import SplitIndex as SI

    idx = SI.from_dir(tvgbench_split)
    assert idx.n == 800
    rng = random.Random(0)
    preds = tmp_path / "preds.jsonl"
    # a Time-R1-style file (Time-R1 ids as qids, [null, null] for failures) covering 700 of the 800 queries
    from tvgbench.core.splits import read_split_table

    t = read_split_table(tvgbench_split, columns=["source_id", "span"]).to_pylist()
    lines = [{"qid": r["source_id"], "pred": [None, None] if i % 10 == 0 else
              [r["span"][0] + rng.uniform(-3, 3), r["span"][1] + rng.uniform(-3, 3)], "output_text": "..."}
             for i, r in enumerate(t[:700])]
    preds.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    db = tmp_path / "lb.db"
    r = run("submit", preds, "--split", tvgbench_split, "--model-name", "qwen-ish", "--meta", "fps=2", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    body = json.loads(r.output)
    assert body["created"] and body["rank"] == 1 and body["coverage"]["missing"] == 100
    assert body["canonical"]["counts"]["unparseable"] == 70
    assert set(body["canonical"]["breakdowns"]["qtype"]) >= {"Human Action (Simple)", "Object Counting"}
    r = run("submit", preds, "--split", tvgbench_split, "--model-name", "qwen-ish", "--db", db)
    assert r.exit_code == 0 and "not counted again" in r.output
    r = run("show", "--db", db, "--sort", "mIoU")
    assert r.exit_code == 0 and "qwen-ish" in r.output and "700/800" in r.output
    shown = json.loads(run("show", "--db", db, "--json").output)
    assert shown[0]["entries"][0]["metrics"] == body["canonical"]["metrics"]
    r = run("export", "--html", tmp_path / "site", "--db", db)
    assert r.exit_code == 0
    page = (tmp_path / "site" / "submissions" / "1.html").read_text()
    assert "By query type" in page and "Object Counting" in page and "By video length" in page


@pytest.mark.parametrize("content, expected", [
    (b"", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
    (b'{"qid": "nope", "pred": [1, 2]}\n', "not in split"),
    (b'{"qid": "x", "pred": [NaN, 2]}\n', "non-finite"),
])
def test_cli_rejection_is_one_line_exit_2_and_nothing_stored(tiny, tmp_path, content, expected):
    split_dir, _ = tiny
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    db = tmp_path / "lb.db"
    r = CliRunner().invoke(cli, ["leaderboard", "submit", str(p), "--split", str(split_dir), "--model-name", "m", "--db", str(db)])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0


def test_cli_oversized_and_missing_files(tiny, tmp_path):
    split_dir, idx = tiny
    p = tmp_path / "big.jsonl"
    p.write_bytes(jsonl(rows_for(idx)) + b"\n" * 2_000_000)
    r = CliRunner().invoke(cli, ["leaderboard", "submit", str(p), "--split", str(split_dir), "--model-name", "m",
                                 "--db", str(tmp_path / "lb.db"), "--max-mib", "1"])
    assert r.exit_code == 2 and "larger than the 1.00 MiB" in r.output
    r = CliRunner().invoke(cli, ["leaderboard", "submit", str(tmp_path / "nope.jsonl"), "--split", str(split_dir),
                                 "--model-name", "m", "--db", str(tmp_path / "lb.db")])
    assert r.exit_code == 2 and "not found" in r.output
    r = CliRunner().invoke(cli, ["leaderboard", "show", "--db", str(tmp_path / "lb.db"), "--sort", "R9"])
    assert r.exit_code == 2


def test_export_replaces_the_site_in_one_step(tiny, store, tmp_path):
    from leaderboard.html import export_site

    split_dir, idx = tiny
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="m", bootstrap=0)
    site = tmp_path / "site"
    site.mkdir()
    (site / "stale.html").write_text("old")
    files = export_site(store, site, sort="mIoU", overwrite=True)
    assert {p.relative_to(site).as_posix() for p in files} == {
        "index.html", "submissions/1.html", "static/leaderboard.css", "static/leaderboard.js"}
    assert (site / "stale.html").read_text() == "old"  # not the export's: never touched
    assert not list(tmp_path.glob(".site.*"))  # no build or backup folders left behind
