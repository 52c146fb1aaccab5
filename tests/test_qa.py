"""Video-QA loaders (own small fixtures in each public layout), scoring, EgoSchema export, end to end."""

from __future__ import annotations

import csv
import json
import re
import shutil

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.harness.backends.base import Generation

FAST = {"fps": 1.0, "total_pixels": 128 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}


def _videos(synth_split):
    return sorted((synth_split / "videos").glob("*.mp4"))


def _parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture(scope="module")
def qa_roots(tmp_path_factory, synth_split):
    vids = _videos(synth_split)
    base = tmp_path_factory.mktemp("qa")
    # MVBench: two tasks, one with a start/end window
    mv = base / "mvbench"
    (mv / "json").mkdir(parents=True)
    for task, folder in (("action_sequence", "star/Charades_v1_480"), ("moving_count", "clevrer/video_validation")):
        d = mv / "video" / folder
        d.mkdir(parents=True)
        rows = []
        for i, v in enumerate(vids[:2]):
            shutil.copy(v, d / v.name)
            row = {"video": v.name, "question": f"What happens first in clip {i}?",
                   "candidates": ["a square appears", "a ball rolls", "nothing"], "answer": ["a ball rolls", "nothing"][i]}
            if task == "action_sequence" and i == 1:
                row.update(start=1.0, end=9.0)
            rows.append(row)
        (mv / "json" / f"{task}.json").write_text(json.dumps(rows))
    # TempCompass multi-choice
    tc = base / "tempcompass"
    (tc / "videos").mkdir(parents=True)
    data = {}
    for v in vids[:2]:
        shutil.copy(v, tc / "videos" / v.name)
        data[v.stem] = {"speed": [{"question": "How fast is it?\nA. slow\nB. fast\nC. still", "answer": "B. fast"}],
                        "direction": [{"question": "Where does it go?\nA. left\nB. right", "answer": "A. left"}]}
    (tc / "questions").mkdir()
    (tc / "questions" / "multi-choice.json").write_text(json.dumps(data))
    # VideoMME parquet
    vm = base / "videomme"
    (vm / "data").mkdir(parents=True)
    rows = []
    for k, (v, dur) in enumerate(zip(vids[:3], ("short", "medium", "short"))):
        shutil.copy(v, vm / "data" / f"vid{k}.mp4")
        rows.append({"video_id": f"{k:03d}", "duration": dur, "domain": "Knowledge", "sub_category": "x", "url": "",
                     "videoID": f"vid{k}", "question_id": f"{k:03d}-1", "task_type": ["Counting", "OCR", "Counting"][k],
                     "question": "How many squares?", "options": ["A. 1", "B. 2", "C. 3", "D. 4"], "answer": "ABC"[k]})
    _parquet(vm / "videomme" / "test-00000-of-00001.parquet", rows)
    # EgoSchema: MC without answers, Subset with
    eg = base / "egoschema"
    (eg / "videos").mkdir(parents=True)
    mc, sub = [], []
    for k, v in enumerate(vids[:3]):
        shutil.copy(v, eg / "videos" / f"ego{k}.mp4")
        row = {"question_idx": f"q-{k}", "question": "What is C doing?", "video_idx": f"ego{k}",
               "option": [f"{L}. option {L}" for L in "ABCDE"]}
        mc.append({**row, "answer": ""})
        sub.append({**row, "answer": str(k)})
    _parquet(eg / "MC" / "test-00000-of-00001.parquet", mc)
    _parquet(eg / "Subset" / "test-00000-of-00001.parquet", sub)
    return {"mvbench": mv, "tempcompass": tc, "videomme": vm, "egoschema": eg}


def test_loaders_read_each_public_layout(qa_roots):
    from tvgbench.harness.qa import load_qa

    mv = load_qa("mvbench", qa_roots["mvbench"])
    assert [it.qid for it in mv] == ["mvbench|action_sequence|0", "mvbench|action_sequence|1",
                                     "mvbench|moving_count|0", "mvbench|moving_count|1"]
    assert [it.answer for it in mv] == [1, 2, 1, 2]
    assert mv[1].window == (1.0, 9.0) and mv[0].window is None
    assert all(it.video.exists() for it in mv) and "clevrer" in str(mv[2].video)
    tc = load_qa("tempcompass", qa_roots["tempcompass"])
    assert len(tc) == 4 and tc[0].question == "How fast is it?" and tc[0].options == ["slow", "fast", "still"]
    assert tc[0].answer == 1 and tc[1].answer == 0 and tc[0].qid.startswith("tempcompass|multi-choice|")
    vm = load_qa("videomme", qa_roots["videomme"])
    assert [it.answer for it in vm] == [0, 1, 2] and vm[0].options == ["1", "2", "3", "4"]
    assert [it.duration_group for it in vm] == ["short", "medium", "short"]
    assert [it.qid for it in load_qa("videomme", qa_roots["videomme"], "short")] == ["videomme_000-1", "videomme_002-1"]
    mc = load_qa("egoschema", qa_roots["egoschema"])
    assert all(it.answer is None for it in mc) and mc[0].options[4] == "option E"
    assert [it.answer for it in load_qa("egoschema", qa_roots["egoschema"], "Subset")] == [0, 1, 2]


def test_mcq_prompt_renders_time_r1_options(qa_roots):
    from tvgbench.harness.qa import load_qa
    from tvgbench.models.prompts import build_messages

    it = load_qa("tempcompass", qa_roots["tempcompass"])[0]
    text = build_messages(preset="mcq_r1", question=it.question, options=it.options)[-1]["content"][-1]["text"]
    assert text.endswith("Question: How fast is it?\n(A) slow\n(B) fast\n(C) still")


def test_score_qa_counts_misses_and_breaks_down():
    from pathlib import Path

    from tvgbench.harness.qa import QAItem, score_qa

    items = [QAItem(f"q{i}", Path("v.mp4"), "?", ["a", "b", "c"], i % 3, ["t1", "t2"][i % 2], "short") for i in range(6)]
    items.append(QAItem("noans", Path("v.mp4"), "?", ["a", "b"], None, "t1"))
    recs = [{"qid": "q0", "pred": 0}, {"qid": "q1", "pred": 1}, {"qid": "q2", "pred": 0},
            {"qid": "q3", "pred": None}, {"qid": "q4", "pred": None, "error": {"reason": "missing"}}]
    s = score_qa(recs, items)
    assert (s["correct"], s["scored"], s["unparsed"], s["errors"], s["missing"]) == (2, 6, 1, 1, 1)
    assert s["accuracy"] == pytest.approx(100 * 2 / 6, abs=1e-3) and s["without_answer"] == 1
    assert s["breakdowns"]["task"]["t1"] == {"n": 3, "accuracy": pytest.approx(100 / 3, abs=1e-3)}
    assert s["breakdowns"]["duration"]["short"]["n"] == 6


class LetterBackend:
    """Test-only: answers the option whose text contains ``pick`` (else the first option)."""

    name = "letters"

    def prepare(self, messages, prefix, sampled):
        return messages[-1]["content"][-1]["text"]

    def generate(self, texts):
        out = []
        for t in texts:
            opts = re.findall(r"\(([A-Z])\) (.*)", t)
            letter = next((L for L, o in opts if o in ("a ball rolls", "fast", "left", "2", "option B")), opts[0][0])
            out.append(Generation(f"<think>ok</think><answer>({letter})</answer>", 5, "stop"))
        return out

    def settings(self):
        return {"backend": self.name}

    def close(self):
        pass


def test_run_qa_end_to_end_with_breakdowns(tmp_path, qa_roots):
    from tvgbench.harness.qa import run_qa

    s = run_qa("mvbench", qa_roots["mvbench"], "letters", out_dir=tmp_path / "mv", backend_obj=LetterBackend(),
               sampling=FAST, progress=False)
    # the backend always picks "a ball rolls" (B): right for item 0 of each task, wrong for item 1 ("nothing", C)
    assert s["scores"]["accuracy"] == 50.0 and s["scores"]["breakdowns"]["task"]["moving_count"]["n"] == 2
    recs = [json.loads(x) for x in (tmp_path / "mv" / "predictions.jsonl").read_text().splitlines()]
    assert [r["letter"] for r in recs] == ["B", "B", "B", "B"] and recs[1]["video"]["clip_s"] == pytest.approx(8.0, abs=0.3)
    assert json.loads((tmp_path / "mv" / "run.json").read_text())["settings"]["prompt"]["name"] == "mcq_r1"


def test_egoschema_without_answers_exports_the_submission(tmp_path, qa_roots):
    from tvgbench.harness.qa import run_qa

    s = run_qa("egoschema", qa_roots["egoschema"], "letters", out_dir=tmp_path / "ego", backend_obj=LetterBackend(),
               sampling=FAST, progress=False)
    assert s["scores"]["accuracy"] is None and s["scores"]["without_answer"] == 3
    sub = json.loads((tmp_path / "ego" / "egoschema_submission.json").read_text())
    assert sub == {"q-0": 1, "q-1": 1, "q-2": 1}
    with open(tmp_path / "ego" / "egoschema_submission.csv") as f:
        assert list(csv.reader(f)) == [["q_uid", "answer"], ["q-0", "1"], ["q-1", "1"], ["q-2", "1"]]
    s = run_qa("egoschema", qa_roots["egoschema"], "letters", subset="Subset", out_dir=tmp_path / "egosub",
               backend_obj=LetterBackend(), sampling=FAST, progress=False)
    assert s["scores"]["accuracy"] == pytest.approx(100 / 3, abs=1e-3) and "submission" not in s["scores"]


def test_qa_cli_with_the_tiny_model(tmp_path, qa_roots, tiny_model_dir):
    res = CliRunner().invoke(cli, ["eval", "qa", "--dataset", "tempcompass", "--root", str(qa_roots["tempcompass"]),
                                   "--model", str(tiny_model_dir), "--out", str(tmp_path / "tc"), "--quiet",
                                   "--max-new-tokens", "6", "--threads", "1", "--fps", "1",
                                   "--total-pixels", str(FAST["total_pixels"]), "--max-pixels", str(FAST["max_pixels"])])
    assert res.exit_code == 0, res.output
    scores = json.loads((tmp_path / "tc" / "scores.json").read_text())
    assert scores["scored"] == 4 and set(scores["breakdowns"]["task"]) == {"speed", "direction"}
    res = CliRunner().invoke(cli, ["eval", "qa", "--dataset", "videomme", "--root", str(qa_roots["tempcompass"]),
                                   "--model", str(tiny_model_dir), "--out", str(tmp_path / "bad"), "--quiet"])
    assert res.exit_code == 2 and "no parquet files" in res.output
