"""``timer1 eval convert``: a run's predictions in a peer's own file format.

Each format is written so that the peer's scorer reads what the peer's own inference would have written
for the same raw answers, and so that ``timer1 eval score --compat <peer>`` of the converted file equals
the run scored in that convention:

``timelens``     one JSON dict ``{"{video}>>>{query}>>>[[s, e]]": {"timestamps": [[s, e], ...], "answers":
                 text}}``, ``timestamps`` the pairs TimeLens's ``extract_time`` reads in the answer (a run
                 line holding only a numeric span gives that span)
``lmms-eval``    its ``temporal_grounding_charades`` result dict ``{"{video}>>>{caption}>>>[s, e]": text}``
                 (a numeric-only line as ``"s - e"``)
``moment-detr``  JSONL ``{"qid", "query", "vid", "pred_relevant_windows": [[s, e, score], ...]}``, qid the
                 split's moment_detr id (``source_id``) where it is an integer; the run's scored windows,
                 else its one span with score 1; a query without a span gets no window
``timer1``       Time-R1's ``evaluate.py`` lines ``{"qid", "pred", "target", "duration", "output_text"}``,
                 qid the Time-R1 id (``source_id``) where the split has one, ``pred`` Time-R1's eval parser
                 on the text ([null, null] when it finds nothing)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from tvgbench.core.errors import Timer1Error
from tvgbench.core.parsing import parse_answer, timelens_spans
from tvgbench.core.peer_files import video_id
from tvgbench.core.predictions import read_line
from tvgbench.core.report import write_text_atomic
from tvgbench.core.splits import read_split_table, resolve_split
from tvgbench.harness.jsonl import recover
from tvgbench.harness.runner import PREDICTIONS, RUN_JSON

FORMATS = ("timelens", "lmms-eval", "moment-detr", "timer1")


def _finite(s: float, e: float) -> bool:
    return math.isfinite(s) and math.isfinite(e)


def _number(x: float):
    return int(x) if float(x).is_integer() else x


def _span_text(span) -> str:
    return json.dumps([_number(v) for v in span])


def timelens_entry(q: dict, line) -> tuple[str, dict]:
    key = f"{q['video']}>>>{q['query']}>>>[{_span_text(q['span'])}]"
    if line is None:
        return key, {"timestamps": [], "answers": ""}
    if line.text is None:
        return key, {"timestamps": [[line.start, line.end]] if _finite(line.start, line.end) else [], "answers": ""}
    return key, {"timestamps": [list(p) for p in timelens_spans(line.text)], "answers": line.text}


def lmms_entry(q: dict, line) -> tuple[str, str]:
    key = f"{q['video']}>>>{q['query']}>>>{_span_text(q['span'])}"
    if line is None:
        return key, ""
    if line.text is None:
        return key, f"{line.start} - {line.end}" if _finite(line.start, line.end) else ""
    return key, line.text


def moment_detr_row(q: dict, line) -> dict:
    sid = q.get("source_id")
    qid = int(sid) if isinstance(sid, str) and sid.isdigit() else q["qid"]
    if line is not None and line.windows:
        windows = [[w[0], w[1], w[2] if len(w) > 2 else 1.0] for w in line.windows]
    elif line is not None and _finite(line.start, line.end):
        windows = [[line.start, line.end, 1.0]]
    elif line is not None and line.text is not None and (p := parse_answer(line.text, duration=q["duration"])).ok:
        windows = [[p.span[0], p.span[1], 1.0]]
    else:
        windows = []
    return {"qid": qid, "query": q["query"], "vid": video_id(q["video"]), "pred_relevant_windows": windows}


def timer1_row(q: dict, line) -> dict:
    pred = [None, None]
    text = None
    if line is not None:
        text = line.text
        if text is not None:  # what Time-R1's evaluate.py writes: its own parser's span of the answer
            pred = list(p.span) if (p := parse_answer(text, "timer1-eval")).ok else pred
        elif _finite(line.start, line.end):
            pred = [line.start, line.end]
    return {"qid": q.get("source_id") or q["qid"], "pred": pred, "target": list(q["span"]),
            "duration": q["duration"], "output_text": text or ""}


def _split_queries(split_dir, split_name) -> list[dict]:
    d, name, _ = resolve_split(split_dir, split_name)
    return read_split_table(d, name, columns=["qid", "source_id", "video", "query", "span", "duration"]).to_pylist()


def _run_lines(run_dir: Path) -> tuple[dict, dict]:
    """The run's settings and its prediction lines by qid (the last line of a qid wins, as a resume leaves it)."""
    try:
        run = json.loads((run_dir / RUN_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Timer1Error(f"{run_dir} is not a run folder (no {RUN_JSON})") from None
    lines = {}
    for rec in recover(run_dir / PREDICTIONS, truncate=False):
        if isinstance(rec, dict) and rec.get("qid") is not None and not rec.get("error"):
            line = read_line(rec, keep_text=True)  # the raw answer beside the canonical span: peers parse it
            lines[line.qid] = line
    return run.get("settings", {}), lines


def convert_run(run_dir: str | os.PathLike, to: str, out: str | os.PathLike, *, overwrite: bool = False) -> dict:
    """Write the run in format ``to`` at ``out``; returns counts (queries, with a prediction)."""
    if to not in FORMATS:
        raise Timer1Error(f"unknown format {to!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    if out.is_dir():
        raise Timer1Error(f"-o {out} is a folder; give a file name")
    if out.exists() and not overwrite:
        raise Timer1Error(f"{out} exists; --overwrite replaces it")
    run = Path(run_dir)
    settings, lines = _run_lines(run)
    subset = run / "scored_subset"
    queries = _split_queries(subset if subset.exists() else settings.get("split", ""), settings.get("split_name"))
    picked = [(q, lines.get(q["qid"])) for q in queries]
    if to == "timelens":
        text = json.dumps(dict(timelens_entry(q, ln) for q, ln in picked), indent=2, ensure_ascii=False) + "\n"
    elif to == "lmms-eval":
        text = json.dumps(dict(lmms_entry(q, ln) for q, ln in picked), indent=4, ensure_ascii=False) + "\n"
    else:
        row = moment_detr_row if to == "moment-detr" else timer1_row
        text = "".join(json.dumps(row(q, ln), ensure_ascii=False) + "\n" for q, ln in picked)
    write_text_atomic(out, text)
    return {"queries": len(queries), "with_prediction": sum(ln is not None for _, ln in picked), "format": to}
