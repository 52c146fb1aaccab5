"""Multiple-choice video QA: MVBench, TempCompass (multi-choice), VideoMME and EgoSchema.

Each loader reads the dataset's public file layout (the one Time-R1's ``data_loader.py`` reads, listed
below) into :class:`QAItem` rows; the run
uses the same loop as TVG (prefetch, fixed batches, durable resumable lines). Answers are read with
:func:`tvgbench.core.parsing.parse_option_letter`; accuracy has per-task and per-duration breakdowns.
EgoSchema's public full set has no answers: the run writes the official submission file
(``egoschema_submission.json`` / ``.csv``: question id → option index) and contacts nothing.

Layouts (``--root``):
  mvbench      ``json/<task>.json`` (items: video, question, candidates, answer[, start, end]);
               videos under ``video/<task folder>/`` (:data:`MVBENCH_TASKS`)
  tempcompass  ``questions/multi-choice.json`` ({video: {dimension: [{question, answer}]}}),
               ``videos/<video>.mp4``; a question's first line is the question, the others "A. option"
  videomme     ``videomme/*.parquet`` (videoID, question_id, duration, task_type, question,
               options ["A. ..."], answer "A"); ``data/<videoID>.mp4``
  egoschema    ``MC/*.parquet`` or ``Subset/*.parquet`` (question_idx, question, video_idx,
               option ["A. ..."]×5, answer index or empty); ``videos/<video_idx>.mp4``
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tvgbench.core.errors import Timer1Error
from tvgbench.core.parsing import parse_option_letter
from tvgbench.core.report import write_json_atomic
from tvgbench.harness.backends import check_backend, family_sampling
from tvgbench.harness.config import QARunConfig, QA_DATASETS as DATASETS, QA_POSITIONAL, config_from_call
from tvgbench.harness.jsonl import recover
from tvgbench.harness.runner import (
    PREDICTIONS, SCORES, WorkItem, _write_run_json, open_run_folder, summarize_predictions,
)
from tvgbench.models.prompts import build_messages

# task -> (annotation file stem, video folder under video/): MVBench's 20 tasks
MVBENCH_TASKS: dict[str, str] = {
    "action_sequence": "star/Charades_v1_480",
    "action_prediction": "star/Charades_v1_480",
    "action_antonym": "ssv2_video",
    "fine_grained_action": "Moments_in_Time_Raw/videos",
    "unexpected_action": "FunQA_test/test",
    "object_existence": "clevrer/video_validation",
    "object_interaction": "star/Charades_v1_480",
    "object_shuffle": "perception/videos",
    "moving_direction": "clevrer/video_validation",
    "action_localization": "sta/sta_video",
    "scene_transition": "scene_qa/video",
    "action_count": "perception/videos",
    "moving_count": "clevrer/video_validation",
    "moving_attribute": "clevrer/video_validation",
    "state_change": "perception/videos",
    "fine_grained_pose": "nturgbd",
    "character_order": "perception/videos",
    "egocentric_navigation": "vlnqa",
    "episodic_reasoning": "tvqa/output_videos",
    "counterfactual_inference": "clevrer/video_validation",
}
DURATION_BUCKETS = ((30.0, "<30s"), (120.0, "30s-2min"), (600.0, "2-10min"), (math.inf, ">=10min"))


@dataclass
class QAItem:
    qid: str
    video: Path
    question: str
    options: list[str]
    answer: int | None  # option index; None when the public file has no answer
    task: str
    duration_group: str | None = None
    window: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Timer1Error(f"expected {path} (see `timer1 eval qa --help` for the layout)") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise Timer1Error(f"{path} is not valid JSON: {e}") from None


def _strip_letter(option: str) -> str:
    """``"A. red"`` → ``"red"`` (Time-R1 drops the first two characters, then strips)."""
    return option[2:].strip()


def load_mvbench(root: Path, subset: str | None = None) -> list[QAItem]:
    json_dir = root / "json"
    files = sorted(json_dir.glob("*.json"))
    if not files:
        raise Timer1Error(f"no MVBench task files under {json_dir}")
    items = []
    for f in files:
        task = f.stem
        if subset and task != subset:
            continue
        folder = MVBENCH_TASKS.get(task, task)
        for i, row in enumerate(_read_json(f)):
            cands = [str(c) for c in row["candidates"]]
            try:
                answer = cands.index(str(row["answer"]))
            except ValueError:
                raise Timer1Error(f"{f.name} item {i}: answer {row['answer']!r} is not one of its candidates") from None
            window = None
            if row.get("start") is not None and row.get("end") is not None:
                window = (float(row["start"]), float(row["end"]))
            items.append(QAItem(f"mvbench|{task}|{i}", root / "video" / folder / row["video"], row["question"], cands,
                                answer, task, window=window))
    return items


def load_tempcompass(root: Path, subset: str | None = None) -> list[QAItem]:
    split = subset or "multi-choice"
    if split != "multi-choice":
        raise Timer1Error("timer1 scores TempCompass multi-choice only (as Time-R1 does)")
    data = _read_json(root / "questions" / f"{split}.json")
    items = []
    for key, dims in data.items():
        for dim, questions in dims.items():
            for idx, q in enumerate(questions):
                lines = [x for x in q["question"].split("\n") if x.strip()]
                options = [_strip_letter(x) for x in lines[1:]]
                answer = ord(q["answer"].strip()[0]) - 65
                items.append(QAItem(f"tempcompass|{split}|{key}|{dim}|{idx}", root / "videos" / f"{key}.mp4",
                                    lines[0], options, answer, dim))
    return items


def _read_parquet_rows(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise Timer1Error(f"no parquet files under {folder}")
    rows = []
    for f in files:
        rows.extend(pq.read_table(f).to_pylist())
    return rows


def load_videomme(root: Path, subset: str | None = None) -> list[QAItem]:
    if subset not in (None, "default", "short", "medium", "long"):
        raise Timer1Error("videomme --subset must be short, medium or long")
    items = []
    for row in _read_parquet_rows(root / "videomme"):
        if subset not in (None, "default") and row["duration"] != subset:
            continue
        letters = [o.strip()[0] for o in row["options"]]
        items.append(QAItem(f"videomme_{row['question_id']}", root / "data" / f"{row['videoID']}.mp4",
                            row["question"], [_strip_letter(o) for o in row["options"]],
                            letters.index(row["answer"].strip()[0]), row.get("task_type") or "(none)",
                            duration_group=row.get("duration"), extra={"domain": row.get("domain")}))
    return items


def load_egoschema(root: Path, subset: str | None = None) -> list[QAItem]:
    folder = subset or "MC"
    if folder not in ("MC", "Subset"):
        raise Timer1Error("egoschema --subset must be MC (full, no answers) or Subset (500 with answers)")
    items = []
    for row in _read_parquet_rows(root / folder):
        raw = row.get("answer")
        answer = int(raw) if raw not in (None, "") and str(raw).strip().lstrip("-").isdigit() else None
        items.append(QAItem(f"egoschema_{row['question_idx']}", root / "videos" / f"{row['video_idx']}.mp4",
                            row["question"], [_strip_letter(o) for o in row["option"]], answer, "egoschema",
                            extra={"question_idx": row["question_idx"]}))
    return items


LOADERS = {"mvbench": load_mvbench, "tempcompass": load_tempcompass, "videomme": load_videomme,
           "egoschema": load_egoschema}


def load_qa(dataset: str, root, subset: str | None = None) -> list[QAItem]:
    if dataset not in LOADERS:
        raise Timer1Error(f"unknown QA dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    root = Path(root)
    if not root.is_dir():
        raise Timer1Error(f"--root {root} is not a folder")
    items = LOADERS[dataset](root, subset)
    if not items:
        raise Timer1Error(f"no {dataset} questions found under {root}")
    return items


def duration_bucket(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    for edge, name in DURATION_BUCKETS:
        if seconds < edge:
            return name
    return None


def letter_index(letter: str | None, n_options: int) -> int | None:
    if letter is None:
        return None
    k = ord(letter) - 65
    return k if 0 <= k < n_options else None


def score_qa(records: list[dict], items: list[QAItem]) -> dict[str, Any]:
    """Accuracy (%) over questions with answers; misses, unparsed and failed videos count as wrong."""
    by_qid = {r["qid"]: r for r in records}
    groups: dict[str, dict[str, list[int]]] = {"task": {}, "duration": {}}
    correct = scored = unparsed = errors = missing = 0
    for it in items:
        if it.answer is None:
            continue
        rec = by_qid.get(it.qid)
        scored += 1
        ok = 0
        if rec is None:
            missing += 1
        elif rec.get("error"):
            errors += 1
        elif rec.get("pred") is None:
            unparsed += 1
        else:
            ok = int(rec["pred"] == it.answer)
        correct += ok
        dur = it.duration_group or (duration_bucket((rec or {}).get("video", {}).get("clip_s")) if rec else None)
        for key, name in (("task", it.task), ("duration", dur or "(unknown)")):
            g = groups[key].setdefault(name, [0, 0])
            g[0] += ok
            g[1] += 1
    return {
        "accuracy": round(correct / scored * 100, 4) if scored else None,
        "correct": correct, "scored": scored, "unparsed": unparsed, "errors": errors, "missing": missing,
        "without_answer": sum(it.answer is None for it in items),
        "breakdowns": {k: {name: {"n": n, "accuracy": round(c / n * 100, 4)} for name, (c, n) in sorted(v.items())}
                       for k, v in groups.items()},
    }


def write_egoschema_submission(records: list[dict], items: list[QAItem], out: Path, seed: int = 42) -> dict:
    """The official submission file: question id → option index. Unparsed answers get a seeded random
    option (as Time-R1 does) and are counted, so the file is complete."""
    rng = random.Random(seed)
    by_qid = {r["qid"]: r for r in records}
    answers, filled = {}, 0
    for it in items:
        pred = (by_qid.get(it.qid) or {}).get("pred")
        if pred is None:
            pred = rng.randrange(len(it.options))
            filled += 1
        answers[str(it.extra.get("question_idx", it.qid))] = int(pred)

    write_json_atomic(out / "egoschema_submission.json", answers)
    tmp = out / "egoschema_submission.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["q_uid", "answer"])
        w.writerows(answers.items())
    tmp.replace(out / "egoschema_submission.csv")
    return {"file": str(out / "egoschema_submission.json"), "csv": str(out / "egoschema_submission.csv"),
            "questions": len(answers), "random_fill": filled, "random_seed": seed}


def qa_work_items(items: list[QAItem], prompt, layout: str) -> list:
    return [WorkItem(qid=it.qid, video_path=it.video, window=it.window, crop=it.window is not None,
                     messages=build_messages(preset=prompt, layout=layout, question=it.question, options=it.options),
                     sample=it) for it in items]


def qa_finish(item, prepared, output) -> dict:
    """One QA line: the raw text, the option letter read from it and its index (or the video's error)."""
    rec: dict[str, Any] = {"qid": item.qid}
    if prepared.error is not None:
        rec.update(text=None, pred=None, letter=None, error=prepared.error)
        return rec
    letter = parse_option_letter(output.text)
    rec.update(text=output.text, letter=letter, pred=letter_index(letter, len(item.sample.options)), error=None,
               n_tokens=output.n_tokens, video=prepared.video)
    return rec


def run_qa(*args, backend_obj=None, **fields) -> dict:
    """Evaluate a model on a video-QA set: ``run_qa(QARunConfig(...))``; writes predictions.jsonl, run.json
    and scores.json. The older call ``run_qa(dataset, root, model, **fields)`` builds the config."""
    config = config_from_call(QARunConfig, QA_POSITIONAL, args, fields).resolved()
    if backend_obj is None:  # first: a wrong --model costs no reading and no torch import
        check_backend(config.backend, config.model, config.backend_options)
    items = load_qa(config.dataset, config.root, config.subset)
    config = replace(config, sampling=family_sampling(config.sampling, config.backend, config.model, backend_obj))
    if config.limit:
        items = items[:config.limit]
    with open_run_folder(config, config.settings(), backend_obj, [it.qid for it in items],
                         record_resumes=False) as folder:
        loop = folder.evaluate(qa_work_items(items, config.prompt, config.layout), config, finish=qa_finish,
                               assistant_prefix=config.prompt.assistant_prefix, desc=config.dataset)
        return _finish_qa_run(folder, config, items, loop)


def _finish_qa_run(folder, config, items: list[QAItem], loop) -> dict:
    """Score the answers (and write EgoSchema's submission file), mark run.json finished, return the summary."""
    out, run = folder.out, folder.run
    records = recover(out / PREDICTIONS, truncate=False)
    scores = {"dataset": config.dataset, "subset": config.subset, **score_qa(records, items)}
    if config.dataset == "egoschema" and scores["without_answer"]:
        scores["submission"] = write_egoschema_submission(records, items, out)["file"]
    write_json_atomic(out / SCORES, scores)
    counts = summarize_predictions(out / PREDICTIONS)
    status = "partial" if counts["errors"] else "clean"
    run.update(status=status, finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), counts=counts,
               last_session={"written": loop.n_written, "seconds": round(loop.seconds, 3)},
               scores={"file": SCORES, "accuracy": scores["accuracy"]})
    _write_run_json(out, run)
    return {"out_dir": str(out), "status": status, "counts": counts, "scores": scores}
