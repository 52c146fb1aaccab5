"""``timer1 train compare RUN...``: several training runs side by side (the paradigm comparison view).

What a run folder holds (``trainer/train.py``): ``run.json`` (recipe, steps, the split's content hash,
``rounds`` when sample filtering), ``config.yaml``, ``train_log.jsonl`` (TRL's log history: ``reward``
and ``rewards/<name>/mean`` for GRPO, ``loss`` for both, ``iou``, ``kl``) and ``checkpoint-N/`` whose
``trainer_state.json`` holds the log so far: a run still training is read from its newest checkpoint.
Held-out scores are the ``timer1 eval run`` folders saved inside the run folder (``--out RUN/eval-NAME``):
their ``scores.json`` and, from their ``run.json``, the model scored and the split's content hash (an
eval on the training split itself is marked as such, never called held-out).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tvgbench.core.errors import Timer1Error

TRAIN_RECORD_KEYS = ("recipe", "config", "split_hash")  # what train's run.json has and an eval's has not
SCORE_KEYS = ("mIoU", "R1@0.3", "R1@0.5", "R1@0.7")


@dataclass
class EvalScore:
    folder: str  # the eval run folder, relative to the train run
    model: str  # what it scored: "final", "checkpoint-N" or another folder name
    split: str
    queries: int
    on_training_split: bool | None  # the split's content hash equals the training split's (None: unknown)
    metrics: dict[str, float]  # as scores.json has them: percent


@dataclass
class RunSummary:
    path: str
    name: str
    recipe: str
    paradigm: str
    status: str  # "finished" (run.json written) or "training" (read from the newest checkpoint)
    steps: int
    curve_key: str  # "reward" (GRPO) or "loss" (SFT)
    curve_steps: list[int] = field(default_factory=list)
    curve_values: list[float] = field(default_factory=list)
    extra: dict[str, float] = field(default_factory=dict)  # last-10% means of iou, rewards/format/mean, kl
    evals: list[EvalScore] = field(default_factory=list)

    def window_mean(self, last: bool) -> float | None:
        """Mean of the curve over its first (or last) 10% of logged steps."""
        n = max(1, len(self.curve_values) // 10)
        values = self.curve_values[-n:] if last else self.curve_values[:n]
        return sum(values) / len(values) if values else None

    def final_eval(self) -> EvalScore | None:
        """The final model's held-out score (the eval of final/ not on the training split), if any."""
        held_out = [e for e in self.evals if e.model == "final" and e.on_training_split is not True]
        return held_out[0] if held_out else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def newest_checkpoint_state(run: Path) -> dict[str, Any] | None:
    """``trainer_state.json`` of the newest checkpoint that finished saving."""
    states = []
    for ckpt in run.glob("checkpoint-*"):
        step = ckpt.name.split("-", 1)[1]
        state = _read_json(ckpt / "trainer_state.json") if step.isdigit() else None
        if isinstance(state, dict):
            states.append((int(step), state))
    return max(states, key=lambda s: s[0])[1] if states else None


def round_logs(run: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The log of a finished run; with sample filtering, every round's log on one step axis."""
    folders = [Path(r["final"]).parent for r in record.get("rounds", [])] or [run]
    entries, offset = [], 0
    for folder in folders:
        log = _read_jsonl(folder / "train_log.jsonl")
        entries += [{**e, "step": e.get("step", 0) + offset} for e in log]
        offset += max((e.get("step", 0) for e in log), default=0)
    return entries


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def curve(log: list[dict[str, Any]]) -> tuple[str, list[int], list[float]]:
    """(key, steps, values): the mean reward per logged step for GRPO, the loss for SFT."""
    rows = [e for e in log if "train_runtime" not in e]
    key = "reward" if any(isinstance(e.get("reward"), (int, float)) for e in rows) else "loss"
    rows = [e for e in rows if isinstance(e.get(key), (int, float))]
    return key, [int(e["step"]) for e in rows], [float(e[key]) for e in rows]


def last_means(log: list[dict[str, Any]], keys=("iou", "rewards/format/mean", "kl")) -> dict[str, float]:
    out = {}
    for key in keys:
        values = [float(e[key]) for e in log if isinstance(e.get(key), (int, float))]
        if values:
            tail = values[-max(1, len(values) // 10):]
            out[key] = sum(tail) / len(tail)
    return out


def eval_scores(run: Path, training_hash: str | None) -> list[EvalScore]:
    """The ``timer1 eval run`` folders saved inside the run folder (one or two levels down)."""
    found = []
    for scores_path in sorted([*run.glob("*/scores.json"), *run.glob("*/*/scores.json")]):
        folder = scores_path.parent
        record, scores = _read_json(folder / "run.json"), _read_json(scores_path)
        if not (isinstance(record, dict) and isinstance(scores, dict) and "settings" in record):
            continue
        settings = record["settings"]
        split_hash = settings.get("split_content_hash")
        found.append(EvalScore(
            folder=str(folder.relative_to(run)), model=Path(str(settings.get("model", "?"))).name,
            split=str(settings.get("split_name") or scores.get("split", {}).get("name", "?")),
            queries=int(scores.get("split", {}).get("queries", 0)),
            on_training_split=None if not (split_hash and training_hash) else split_hash == training_hash,
            metrics={k: float(scores["metrics"][k]) for k in SCORE_KEYS if k in scores.get("metrics", {})}))
    return found


def load_run(path: str | os.PathLike) -> RunSummary:
    """Read one training run folder; a folder that is not one is a user error."""
    run = Path(path)
    if not run.is_dir():
        raise Timer1Error(f"{path} is not a folder")
    record = _read_json(run / "run.json")
    if isinstance(record, dict) and "settings" in record and "recipe" not in record:
        raise Timer1Error(f"{path} is a timer1 eval run, not a train run (compare eval runs with timer1 eval report)")
    finished = isinstance(record, dict) and all(k in record for k in TRAIN_RECORD_KEYS)
    state = None if finished else newest_checkpoint_state(run)
    if not finished and state is None:
        raise Timer1Error(f"{path} is not a timer1 train run (no run.json from timer1 train, "
                          "no checkpoint-N/trainer_state.json)")
    if finished:
        log, config = round_logs(run, record), record["config"]
    else:
        log, config = state.get("log_history", []), _read_yaml(run / "config.yaml")
    key, steps, values = curve(log)
    return RunSummary(
        path=str(path), name=run.resolve().name, recipe=str(config.get("name", "?")),
        paradigm=str(config.get("paradigm", "grpo")), status="finished" if finished else "training",
        steps=int(record.get("steps", steps[-1] if steps else 0) if finished else state.get("global_step", 0)),
        curve_key=key, curve_steps=steps, curve_values=values, extra=last_means(log),
        evals=eval_scores(run, record.get("split_hash") if finished else None))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def unique_names(runs: list[RunSummary]) -> None:
    """Folder names label the runs; where two share one, the paths as given do."""
    names = [r.name for r in runs]
    for r in runs:
        if names.count(r.name) > 1:
            r.name = r.path


# -- output ----------------------------------------------------------------------------------------
def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def _held_out(r: RunSummary) -> str:
    e = r.final_eval()
    if e is None:
        return "-"
    where = e.split if e.on_training_split is False else f"{e.split}?"  # ?: the split's hash is unknown
    return f"{e.metrics.get('mIoU', 0.0):.1f} ({where}, {e.queries} q)"


def table(runs: list[RunSummary]) -> str:
    """The comparison as aligned text columns."""
    header = ["run", "recipe", "paradigm", "steps", "curve", "first 10%", "last 10%", "IoU", "format",
              "held-out mIoU"]
    rows = [[r.name, r.recipe, r.paradigm, f"{r.steps}{'' if r.status == 'finished' else ' (training)'}",
             r.curve_key, _num(r.window_mean(last=False), "{:.3f}"), _num(r.window_mean(last=True), "{:.3f}"),
             _num(r.extra.get("iou"), "{:.3f}"), _num(r.extra.get("rewards/format/mean"), "{:.0%}"), _held_out(r)]
            for r in runs]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def as_json(runs: list[RunSummary]) -> dict[str, Any]:
    out = []
    for r in runs:
        d = asdict(r)
        d["first10_mean"], d["last10_mean"] = r.window_mean(last=False), r.window_mean(last=True)
        out.append(d)
    return {"runs": out}


def plot(runs: list[RunSummary], path: str | os.PathLike) -> None:
    """Reward (GRPO) and loss (SFT) curves; a third panel of held-out mIoU by step where runs were scored."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in runs if any(e.on_training_split is not True for e in r.evals)]
    panels = [key for key in ("reward", "loss") if any(r.curve_key == key and r.curve_values for r in runs)]
    panels = (panels + (["held-out"] if scored else [])) or ["reward"]  # an empty panel: nothing logged yet
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "held-out":
            _plot_heldout(ax, scored)
            continue
        for r in runs:
            if r.curve_key == panel and r.curve_values:
                ax.plot(r.curve_steps, _smooth(r.curve_values), label=_label(r))
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"{panel} (moving mean)")
        ax.set_title("GRPO mean reward" if panel == "reward" else "SFT loss")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, target)


def _smooth(values: list[float]) -> list[float]:
    k = max(1, len(values) // 20)  # a trailing moving mean of about 5% of the run
    return [sum(values[max(0, i - k + 1): i + 1]) / len(values[max(0, i - k + 1): i + 1]) for i in range(len(values))]


def _label(r: RunSummary) -> str:
    e = r.final_eval()
    return r.name + (f" (held-out mIoU {e.metrics.get('mIoU', 0.0):.1f})" if e else "")


def _plot_heldout(ax, runs: list[RunSummary]) -> None:
    for r in runs:
        points = sorted((_model_step(e.model, r.steps), e.metrics.get("mIoU", 0.0))
                        for e in r.evals if e.on_training_split is not True and _model_step(e.model, r.steps) is not None)
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=r.name)
    ax.set_xlabel("optimizer step of the scored model")
    ax.set_ylabel("held-out mIoU (%)")
    ax.set_title("held-out scores")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def _model_step(model: str, final_step: int) -> int | None:
    if model == "final":
        return final_step
    step = model.removeprefix("checkpoint-")
    return int(step) if step != model and step.isdigit() else None


def compare_runs(paths: list[str], plot_path: str | None = None) -> list[RunSummary]:
    runs = [load_run(p) for p in paths]
    unique_names(runs)
    if plot_path:
        plot(runs, plot_path)
    return runs


__all__ = ["RunSummary", "as_json", "compare_runs", "load_run", "table"]
