"""One board per benchmark: each ranked in the convention its split declares, titled with its name, one
tab each on the static site and the web app (the browser half: tests/test_leaderboard_browser.py)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from leaderboard.html import export_site, render_index
from leaderboard.ranking import boards
from leaderboard.service import rescore, submit
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex
from test_leaderboard_validate import jsonl, make_tiny_split, rows_for
from tvgbench.core.errors import Timer1Error
from tvgbench.core.scoring import score
from tvgbench.core.splits import load_split, write_split

TIMELENS = {"pretty_name": "Charades-TimeLens", "convention": "timelens"}


def make_timelens_split(out: Path) -> Path:
    """Ten of the tiny split's records, declared as a TimeLens-Bench subset (as `data ingest --format timelens`
    does): other content, so another board."""
    make_tiny_split(out / "tmp")
    write_split(load_split(out / "tmp").samples[:10], out / "tl", "test", window_mode="pretrimmed", benchmark=TIMELENS)
    return out / "tl"


@pytest.fixture(scope="module")
def two_splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("two")
    canonical = make_tiny_split(root / "tiny")
    timelens = make_timelens_split(root)
    return (canonical, SplitIndex.from_dir(canonical)), (timelens, SplitIndex.from_dir(timelens))


def half_exact(idx: SplitIndex) -> bytes:
    """Every query answered, half exactly and half 2.5 s late (IoU 4/9 < 0.5): R1@0.5 = 50 in every convention."""
    rows = rows_for(idx)
    for i, r in enumerate(rows):
        if i % 2:
            r["pred"] = [r["pred"][0] + 2.5, r["pred"][1] + 2.5]
    return jsonl(rows)


def seed(store, two_splits):
    (c_dir, c_idx), (t_dir, t_idx) = two_splits
    for split_dir, idx in ((c_dir, c_idx), (t_dir, t_idx)):
        submit(store, half_exact(idx), split_dir, model_name="all-half", bootstrap=0, split=idx)
        submit(store, jsonl(rows_for(idx, 4)), split_dir, model_name="four-exact", bootstrap=0, split=idx)


def test_split_declares_its_convention_and_name(two_splits):
    (_, c_idx), (_, t_idx) = two_splits
    assert (c_idx.convention, t_idx.convention) == ("canonical", "timelens")
    assert t_idx.pretty_name == "Charades-TimeLens"


def test_each_board_ranks_in_its_declared_convention(two_splits, tmp_path):
    (c_dir, c_idx), (t_dir, t_idx) = two_splits
    with open_store(tmp_path / "lb.db") as store:
        seed(store, two_splits)
        bs = {b.convention: b for b in boards(store.submissions())}
        # canonical counts every query of the split (4 exact of 10: 40); TimeLens counts the entries given (4 of 4)
        assert [e.submission.model_name for e in bs["canonical"].entries] == ["all-half", "four-exact"]
        assert [e.submission.model_name for e in bs["timelens"].entries] == ["four-exact", "all-half"]
        four = bs["timelens"].entries[0].submission
        assert four.metric("R1@0.5") == 100.0 and four.canonical["metrics"]["R1@0.5"] == 40.0  # 4 of its 10
        # the stored declared result is the scorer's own --compat timelens result on the same bytes
        path = tmp_path / "four.jsonl"
        path.write_bytes(store.predictions(four.id))
        direct = score(path, t_dir, mode="timelens", bootstrap=0)
        assert four.declared["metrics"] == direct["metrics"] and four.declared["mode"] == "timelens"
        # a canonical split stores no third result and its results carry no convention key (unchanged rows)
        plain = bs["canonical"].entries[0].submission
        assert plain.declared is None and "convention" not in plain.canonical["split"]


def test_rescore_keeps_the_declared_result(two_splits, tmp_path):
    (_, _), (t_dir, t_idx) = two_splits
    with open_store(tmp_path / "lb.db") as store:
        seed(store, two_splits)
        store._db.execute("UPDATE submissions SET scorer_version = 'old', declared = NULL")
        assert rescore(store, t_dir, bootstrap=0)
        redone = [s for s in store.submissions() if s.split_hash == t_idx.content_hash]
        assert all(s.declared and s.declared["mode"] == "timelens" for s in redone)


def test_unknown_declared_convention_is_one_line(two_splits, tmp_path):
    (c_dir, _), _ = two_splits
    write_split(load_split(c_dir).samples, tmp_path / "odd", "test", benchmark={"convention": "no-such-mode"})
    with pytest.raises(Timer1Error, match="declares scoring convention 'no-such-mode'.*known: canonical, timer1"):
        SplitIndex.from_dir(tmp_path / "odd")


def test_store_written_by_schema_2_gains_the_declared_column(two_splits, tmp_path):
    (c_dir, c_idx), _ = two_splits
    db = tmp_path / "v2.sqlite3"
    with open_store(db) as s:
        submit(s, jsonl(rows_for(c_idx)), c_dir, model_name="before", bootstrap=0)
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE submissions DROP COLUMN declared")
    con.execute("UPDATE store_info SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with open_store(db) as s:
        assert [x.model_name for x in s.submissions()] == ["before"] and s.get(1).declared is None
        assert s._db.execute("SELECT value FROM store_info WHERE key = 'schema_version'").fetchone()[0] == "3"


def test_page_has_one_tab_per_benchmark_titled_with_its_name(two_splits, tmp_path):
    with open_store(tmp_path / "lb.db") as store:
        seed(store, two_splits)
        html = render_index(boards(store.submissions()))
    nav = re.search(r'<nav class="tabs" role="tablist".*?</nav>', html, re.S).group(0)
    labels = re.findall(r'role="tab"[^>]*>([^<]+)</a>', nav)
    # the plain split has no name of its own: its card's default title
    assert sorted(labels) == ["Charades-TimeLens · test", "timer1 temporal video grounding split · test"]
    panels = re.findall(r'<section class="board"[^>]*data-convention="([^"]+)" id="([^"]+)"[^>]*role="tabpanel"', html)
    assert sorted(c for c, _ in panels) == ["canonical", "timelens"]
    for _, pid in panels:
        assert f'href="#{pid}"' in nav and f'aria-controls="{pid}"' in nav
    assert "Ranked in its declared convention, <code>timelens</code> (TimeLens" in html
    # the TimeLens board shows its convention's numbers: four-exact's R1@0.5 is 100.00 there
    tl = html[html.index('data-convention="timelens"'):]
    tl = tl[:tl.index("</section>")]
    four = tl[tl.index("four-exact"):]
    assert re.search(r'class="num">100\.00', four)


def test_submission_page_shows_the_declared_result(two_splits, tmp_path):
    from leaderboard.html import render_submission

    with open_store(tmp_path / "lb.db") as store:
        seed(store, two_splits)
        four = next(s for s in store.submissions() if s.declared and s.model_name == "four-exact")
        page = render_submission(four)
        plain = render_submission(next(s for s in store.submissions() if not s.declared))
    assert '<th id="declared-head">timelens (the board\'s convention)</th>' in page
    row = re.search(r"<tr><td>R1@0.5</td>(.*?)</tr>", page, re.S).group(1)
    cells = re.findall(r'class="num">([^<]*)', row)  # canonical, its interval, Time-R1-compat, declared
    assert cells[0] == "40.00" and cells[-1] == "100.00"
    assert "declared-head" not in plain


def test_one_board_needs_no_tabs(two_splits, tmp_path):
    (c_dir, c_idx), _ = two_splits
    with open_store(tmp_path / "lb.db") as store:
        submit(store, jsonl(rows_for(c_idx)), c_dir, model_name="only", bootstrap=0)
        html = render_index(boards(store.submissions()))
    assert 'role="tablist"' not in html and 'role="tabpanel"' not in html
    assert "Ranked in its declared convention, <code>canonical</code>" in html


def test_exported_site_carries_the_tabs(two_splits, tmp_path):
    with open_store(tmp_path / "lb.db") as store:
        seed(store, two_splits)
        export_site(store, tmp_path / "site", sort="R1@0.5")
    html = (tmp_path / "site" / "index.html").read_text()
    assert html.count('role="tab"') == 2 and html.count('role="tabpanel"') == 2
    assert "setupTabs" in (tmp_path / "site" / "static" / "leaderboard.js").read_text()


def test_a_convention_with_its_own_metric_names_gets_its_own_columns():
    """A convention naming other metrics (moment_detr: R1@0.5, R1@0.7, mAP, no mIoU) ranks and renders by them."""
    from leaderboard.store import Submission

    def sub(i, name, r05, m_ap):
        split = {"name": "val", "pretty_name": "QVHighlights", "convention": "moment-detr"}
        result = {"metrics": {"R1@0.5": r05, "R1@0.7": r05 / 2, "mAP": m_ap, "MR-full-mAP": m_ap},
                  "peer_metrics": {"MR-full-mAP": m_ap}, "split": split}  # the peer's name: shown once
        canonical = {"metrics": {"R1@0.3": 1.0, "R1@0.5": 1.0, "R1@0.7": 1.0, "mIoU": 1.0}, "split": split}
        return Submission(model_name=name, split_name="val", split_hash="sha256:" + "ab" * 32, file_sha256=f"f{i}",
                          scorer_version="v", canonical=canonical, timer1=canonical, declared=result, id=i,
                          created_at="2026-12-01T00:00:0%dZ" % i)

    subs = [sub(1, "low", 20.0, 30.0), sub(2, "high", 50.0, 10.0)]
    (b,) = boards(subs, "R1@0.5", scorer_version="v")
    assert b.metrics == ("R1@0.5", "R1@0.7", "mAP") and b.convention == "moment-detr"
    assert [e.submission.model_name for e in b.entries] == ["high", "low"]  # no mIoU to break ties with: fine
    html = render_index([b])
    assert 'data-metric="mAP"' in html and 'data-metric="mIoU"' not in html
    assert "standalone_eval: R1 against the best-matching true window" in html


def test_qvhighlights_board_ranks_in_moment_detr_terms(tmp_path):
    """Real QVHighlights val, ingested with --format auto: its board is moment_detr's, with mAP columns."""
    import json

    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    val = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "qvhighlights" / "highlight_val_release.jsonl"
    if not val.exists():
        pytest.skip(f"{val} is absent (real annotation files live in ../shared/data)")
    r = CliRunner().invoke(cli, ["data", "ingest", "--format", "auto", str(val), "-o", str(tmp_path / "qvh")])
    assert r.exit_code == 0 and r.output.startswith("detected format: qvhighlights"), r.output
    idx = SplitIndex.from_dir(tmp_path / "qvh")
    assert (idx.convention, idx.pretty_name) == ("moment-detr", "QVHighlights")
    rows = load_split(tmp_path / "qvh").samples[:300]
    lines = [json.dumps({"qid": s.qid, "windows": [[s.span[0] + i % 3, s.span[1] + i % 3, 0.9]]})
             for i, s in enumerate(rows)]
    with open_store(tmp_path / "lb.db") as store:
        submit(store, "\n".join(lines).encode() + b"\n", tmp_path / "qvh", model_name="shifted", bootstrap=0, split=idx)
        (b,) = boards(store.submissions())
        sub = b.entries[0].submission
    assert b.convention == "moment-detr" and sub.declared["mode"] == "moment-detr"
    assert {"mAP", "mAP@0.5", "mAP@0.75"} <= set(b.metrics) and not any(m.startswith("MR-") for m in b.metrics)
    assert sub.metric("R1@0.5") == sub.declared["metrics"]["R1@0.5"] > 50  # 300 answered, shifted by 0-2 s
