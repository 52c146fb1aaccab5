"""Commands that write a folder or a file never delete, replace or half-write what they did not write.

One rule (tvgbench/core/outdir.py): build beside, swap in only the command's own files; a folder holding
anything else is refused unless --overwrite, and even then those files are left as they were.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli

RECORDS = {"vidA": {"duration": 30.0, "timestamps": [[1.0, 5.0], [2.0, 8.0]],
                    "sentences": ["a person opens a door", "a person sits on a chair"]}}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(res, needle: str) -> bool:
    """Exit 2 with one `error:` line holding ``needle`` (progress bars may precede it on stderr)."""
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    return res.exit_code == 2 and len(errors) == 1 and needle in errors[0] and "Traceback" not in res.output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if "timer1-" in p.name]


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def write_records(path: Path, records=RECORDS) -> Path:
    path.write_text(json.dumps(records))
    return path


# ---- the tiny model ---------------------------------------------------------------------------------


def test_model_tiny_never_deletes_a_users_folder(tmp_path, monkeypatch, umask_022):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("\\chapter{Results}\n")
    res = run("model", "tiny", "-o", mine)
    assert refused(res, "thesis.tex") and "--overwrite" in res.output
    assert snapshot(mine) == {"thesis.tex": b"\\chapter{Results}\n"}

    res = run("model", "tiny", "-o", mine, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (mine / "thesis.tex").read_text() == "\\chapter{Results}\n"
    assert (mine / "model.safetensors").is_file() and (mine / "timer1_tiny.json").is_file()
    assert {oct(p.stat().st_mode & 0o777) for p in mine.iterdir()} == {oct(0o644)}
    assert leftovers(tmp_path) == []

    # "-o ." in the working directory: refused, then written beside the user's files
    monkeypatch.chdir(mine)
    (mine / "notes.txt").write_text("keep")
    assert refused(run("model", "tiny", "-o", "."), "notes.txt")
    res = run("model", "tiny", "-o", ".", "--overwrite")
    assert res.exit_code == 0, res.output
    assert (mine / "notes.txt").read_text() == "keep" and (mine / "thesis.tex").exists()


def test_model_tiny_replaces_only_its_own_model(tmp_path, umask_022):
    out = tmp_path / "tiny"
    assert run("model", "tiny", "-o", out).exit_code == 0
    assert oct(out.stat().st_mode & 0o777) == oct(0o755)
    first = snapshot(out)
    # an earlier tiny model is its own: rebuilt in place without --overwrite, same bytes for the same seed
    res = run("model", "tiny", "-o", out)
    assert res.exit_code == 0, res.output
    assert snapshot(out) == first

    # a folder whose config.json is someone else's: --overwrite still never replaces it
    other = tmp_path / "project"
    other.mkdir()
    (other / "config.json").write_text('{"mine": true}')
    res = run("model", "tiny", "-o", other, "--overwrite")
    assert refused(res, "config.json")
    assert snapshot(other) == {"config.json": b'{"mine": true}'}
    assert leftovers(tmp_path) == []


# ---- the static site --------------------------------------------------------------------------------


def make_db(path: Path) -> Path:
    from leaderboard.store import open_store

    with open_store(path):
        pass
    return path


def test_export_never_touches_the_database_or_git(tmp_path):
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    db = make_db(proj / "lb.sqlite")
    (proj / "notes.md").write_text("# my project\n")
    # the database is the store's to change when opened; the export must only leave it in place
    before = {k: v for k, v in snapshot(proj).items() if not k.startswith("lb.sqlite")}
    res = run("leaderboard", "export", "--html", proj, "--db", db)
    assert refused(res, "did not write") and "--overwrite" in res.output
    assert sorted(p.name for p in proj.iterdir() if not p.name.startswith("lb.sqlite")) == [".git", "notes.md"]

    res = run("leaderboard", "export", "--html", proj, "--db", db, "--overwrite")
    assert res.exit_code == 0, res.output
    after = snapshot(proj)
    assert (proj / "index.html").is_file() and (proj / "static" / "leaderboard.css").is_file()
    assert {k: v for k, v in after.items() if k in before} == before and db.is_file()
    # re-exporting replaces the earlier site and still leaves the rest alone
    assert run("leaderboard", "export", "--html", proj, "--db", db, "--overwrite").exit_code == 0
    assert (proj / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n" and db.exists()
    assert leftovers(tmp_path) == []


def test_export_into_dot_and_a_new_folder_with_normal_modes(tmp_path, monkeypatch, umask_022):
    db = make_db(tmp_path / "lb.sqlite")
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.chdir(site)
    res = run("leaderboard", "export", "--html", ".", "--db", db)
    assert res.exit_code == 0, res.output
    assert (site / "index.html").is_file()

    fresh = tmp_path / "pub" / "board"
    res = run("leaderboard", "export", "--html", fresh, "--db", db)
    assert res.exit_code == 0, res.output
    assert oct(fresh.stat().st_mode & 0o777) == oct(0o755)
    assert oct((fresh / "static").stat().st_mode & 0o777) == oct(0o755)
    assert {oct(p.stat().st_mode & 0o777) for p in fresh.rglob("*") if p.is_file()} == {oct(0o644)}
    # an earlier export is the export's own: replaced without --overwrite
    assert run("leaderboard", "export", "--html", fresh, "--db", db).exit_code == 0


# ---- splits -----------------------------------------------------------------------------------------


def test_ingest_never_silently_replaces_a_split(tmp_path, umask_022):
    src = write_records(tmp_path / "a.json")
    out = tmp_path / "split"
    assert run("data", "ingest", src, "--format", "charades-sta", "-o", out).exit_code == 0
    for name in ("README.md", "timer1.json", "data/test-00000-of-00001.parquet"):
        assert oct((out / name).stat().st_mode & 0o777) == oct(0o644), name
    first = snapshot(out)

    other = write_records(tmp_path / "b.json", {"vidB": {"duration": 20.0, "timestamps": [[3.0, 4.0]],
                                                         "sentences": ["a dog runs"]}})
    res = run("data", "ingest", other, "--format", "charades-sta", "-o", out)
    assert refused(res, "already holds split 'test'")
    assert snapshot(out) == first

    # another split joins the folder without --overwrite; the first one is kept
    res = run("data", "ingest", other, "--format", "charades-sta", "-o", out, "--split", "train")
    assert res.exit_code == 0, res.output
    assert snapshot(out)["data/test-00000-of-00001.parquet"] == first["data/test-00000-of-00001.parquet"]
    assert set(json.loads((out / "timer1.json").read_text())["splits"]) == {"test", "train"}

    # a user's file in the folder: refused; with --overwrite the split is replaced and the file kept
    (out / "notes.txt").write_text("mine")
    assert refused(run("data", "ingest", other, "--format", "charades-sta", "-o", out), "notes.txt")
    res = run("data", "ingest", other, "--format", "charades-sta", "-o", out, "--overwrite")
    assert res.exit_code == 0, res.output
    from tvgbench.core.splits import load_split

    assert [s.query for s in load_split(out, "test").samples] == ["a dog runs"]
    assert (out / "notes.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []


def test_an_ingest_that_fails_mid_parquet_leaves_no_folder(tmp_path, monkeypatch):
    import tvgbench.core.splits as splits

    real_write = splits.pq.write_table

    def fail_half_way(table, where, **kwargs):  # half a file on disk, then the encoder gives up
        real_write(table.slice(0, 1), where, **kwargs)
        raise UnicodeEncodeError("utf-8", "a \ud800 door", 2, 3, "surrogates not allowed")

    monkeypatch.setattr(splits.pq, "write_table", fail_half_way)
    out = tmp_path / "out"
    res = run("data", "ingest", write_records(tmp_path / "a.json"), "--format", "charades-sta", "-o", out)
    assert res.exit_code == 1 and "UnicodeEncodeError" in res.output
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_a_failure_while_writing_keeps_the_old_split_and_creates_no_folder(tmp_path, monkeypatch):
    import tvgbench.core.splits as splits

    out = tmp_path / "split"
    assert run("data", "ingest", write_records(tmp_path / "a.json"), "--format", "charades-sta", "-o", out).exit_code == 0
    before = snapshot(out)

    def disk_full(*args, **kwargs):  # after the parquet file is written, before the card
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(splits, "render_card", disk_full)
    other = write_records(tmp_path / "b.json", {"vidB": {"duration": 20.0, "timestamps": [[3.0, 4.0]],
                                                         "sentences": ["a dog runs"]}})
    res = run("data", "ingest", other, "--format", "charades-sta", "-o", out, "--overwrite")
    assert refused(res, "No space left on device")
    assert snapshot(out) == before
    res = run("data", "ingest", other, "--format", "charades-sta", "-o", tmp_path / "deep" / "new")
    assert res.exit_code == 2
    assert not (tmp_path / "deep").exists()
    assert leftovers(tmp_path) == []


@pytest.fixture
def one_video_synth(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    out = tmp_path / "synth"
    res = run("data", "synth", "--videos", "1", "--max-duration", "20", "-o", out)
    assert res.exit_code == 0, res.output
    return out


def test_a_synth_that_fails_mid_render_leaves_no_folder(tmp_path, monkeypatch):
    import tvgbench.data.synth as synth

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    real_encode, calls = synth.encode_video, []

    def encode_then_fail(plan, path):  # the first video lands, the second fails
        calls.append(path)
        if len(calls) > 1:
            raise RuntimeError("ffmpeg failed on the second video")
        real_encode(plan, path)

    monkeypatch.setattr(synth, "encode_video", encode_then_fail)
    out = tmp_path / "synth"
    res = run("data", "synth", "--videos", "2", "--max-duration", "10", "-o", out)
    assert res.exit_code == 1 and "second video" in res.output
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_a_killed_runs_staging_folder_is_cleaned_by_the_next_run(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".split.timer1-{dead.pid}-0000abcd"  # what kill -9 mid-build leaves
    (stale / "data").mkdir(parents=True)
    res = run("data", "ingest", write_records(tmp_path / "a.json"), "--format", "charades-sta", "-o", tmp_path / "split")
    assert res.exit_code == 0, res.output
    assert leftovers(tmp_path) == []


def test_every_split_writer_refuses_to_replace_without_overwrite(one_video_synth, tmp_path):
    synth = one_video_synth
    assert refused(run("data", "synth", "--videos", "1", "--max-duration", "20", "-o", synth), "split 'test'")
    res = run("data", "synth", "--videos", "1", "--max-duration", "20", "-o", synth, "--overwrite")
    assert res.exit_code == 0, res.output

    preds = tmp_path / "middle.jsonl"
    assert run("eval", "baseline", "--split", synth, "-o", preds).exit_code == 0
    kept = preds.read_bytes()
    assert refused(run("eval", "baseline", "--split", synth, "--kind", "full", "-o", preds), "already exists")
    assert preds.read_bytes() == kept
    assert run("eval", "baseline", "--split", synth, "--kind", "full", "-o", preds, "--overwrite").exit_code == 0
    assert preds.read_bytes() != kept

    commands = {
        "pool": ["data", "difficulty", preds, "--split", synth],
        "tvg": ["data", "build", "tvgbench", "--source", synth, "--size", "5", "--no-plots"],
    }
    for name, argv in commands.items():
        out = tmp_path / name
        assert run(*argv, "-o", out).exit_code == 0, name
        first = snapshot(out)
        assert refused(run(*argv, "-o", out), "already holds split"), name
        assert snapshot(out) == first
        assert run(*argv, "-o", out, "--overwrite").exit_code == 0, name
    argv = ["data", "build", "timerft", "--pool", tmp_path / "pool", "--rule", "keep-0-0.7", "--all"]
    assert run(*argv, "-o", tmp_path / "rft").exit_code == 0
    assert refused(run(*argv, "-o", tmp_path / "rft"), "already holds split 'train'")
    assert run(*argv, "-o", tmp_path / "rft", "--overwrite").exit_code == 0
    assert leftovers(tmp_path) == []


# ---- the atomic writers -----------------------------------------------------------------------------


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writers_give_files_the_umask_mode(tmp_path, mask, mode):
    from tvgbench.core.report import write_json_atomic, write_text_atomic

    old = os.umask(mask)
    try:
        write_json_atomic(tmp_path / "run.json", {"status": "done"})
        write_text_atomic(tmp_path / "scores.txt", "R1@0.5 12.5\n")
    finally:
        os.umask(old)
    assert oct((tmp_path / "run.json").stat().st_mode & 0o777) == oct(mode)
    assert oct((tmp_path / "scores.txt").stat().st_mode & 0o777) == oct(mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "scores.txt"]


def test_files_reached_through_a_link_are_never_owned(tmp_path):
    # an earlier site whose submissions/ links to the user's own folder: re-exporting an empty board
    # prunes the old pages, but never through the link
    db = make_db(tmp_path / "lb.sqlite")
    site = tmp_path / "site"
    assert run("leaderboard", "export", "--html", site, "--db", db).exit_code == 0
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    index = (site / "index.html").read_text()
    (theirs / "1.html").write_text(index)  # looks like one of the export's pages
    (site / "submissions").symlink_to(theirs)
    res = run("leaderboard", "export", "--html", site, "--db", db, "--overwrite")
    assert res.exit_code == 0, res.output
    assert (theirs / "1.html").read_text() == index
