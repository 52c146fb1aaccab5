"""Time-R1's rewards (``main.py``'s ``reward_funcs_registry``) as small TRL reward callables.

Each callable has TRL's reward signature ``fn(prompts, completions, **columns) -> list[float]`` and
reads the ground truth from the dataset columns ``span`` (``[start, end]``) and ``duration`` (the
length of the clip the model sees). Time-R1's column names ``solution`` / ``durations`` work too.

Parsing and IoU come from the core (``tvgbench.core.parsing`` variant ``timer1-train``,
``tvgbench.core.metrics``), so a reward and a metric never disagree about what an answer meant.

``iou``     temporal IoU of the last ``X to|and Y`` inside the last ``<answer>`` block; 0 when it
            does not parse. A zero union (only possible with a zero-length GT) gives 0. Time-R1
            assigns its ``iou`` variable only when the union is positive, so on a zero union it
            silently reuses the IoU last computed for an earlier completion of the same reward
            call, and raises ``UnboundLocalError`` only when no earlier completion of that call set one.
``iou_v2``  Time-R1's timestamp-aware IoU: ``IoU · (1 − |ŝ−s|/D) · (1 − |ê−e|/D)``.
            **Clamped at 0** (timer1's one deliberate change): Time-R1 lets a penalty factor go
            negative when a prediction overshoots by more than one duration, which makes a
            wildly wrong answer *cheaper* than a plain miss. Without the clamp the two
            formulas are identical. A non-positive ``D`` leaves the IoU unpenalised. A zero
            union gives 0 here too (Time-R1 reuses a stale IoU, as for ``iou``).
``tags``    shaping only, not Time-R1: the fraction of the answer format's building blocks present
            (``<``, ``</``, ``think``, ``answer``, ``>``, a digit). For tiny random models (``tiny-cpu``),
            which never write the full format by chance and would otherwise see all-zero advantages.
``format``  1.0 when the whole completion is ``<think>…</think>`` then ``<answer>…</answer>``
            (Python ``re.fullmatch`` with Time-R1's lazy pattern, surrounding whitespace ignored).

Rewards are summed with ``reward_weights`` by TRL, which also logs every component as
``rewards/<name>/mean``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import numpy as np

from tvgbench.core.errors import Timer1Error
from tvgbench.core.metrics import temporal_iou_array
from tvgbench.core.parsing import parse_answer

PARSER_VARIANT = "timer1-train"
_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The assistant text of a TRL completion (a string, or a conversational list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        content = completion[-1].get("content", "")
        if isinstance(content, list):  # content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content or ""
    return ""


def parse_spans(completions: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Parsed (start, end) arrays; NaN where the Time-R1 training parser finds no span."""
    starts = np.full(len(completions), np.nan)
    ends = np.full(len(completions), np.nan)
    for i, c in enumerate(completions):
        parsed = parse_answer(completion_text(c), variant=PARSER_VARIANT)
        if parsed.span is not None:
            starts[i], ends[i] = parsed.span
    return starts, ends


def iou_v2_array(ps, pe, gs, ge, duration) -> np.ndarray:
    """Timestamp-aware IoU per row, clamped at 0; NaN predictions give 0."""
    ps, pe, gs, ge, d = (np.asarray(a, dtype=np.float64) for a in (ps, pe, gs, ge, duration))
    base = temporal_iou_array(ps, pe, gs, ge)
    safe_d = np.where(d > 0, d, 1.0)
    start_factor = np.where(d > 0, 1.0 - np.abs(gs / safe_d - ps / safe_d), 1.0)
    end_factor = np.where(d > 0, 1.0 - np.abs(ge / safe_d - pe / safe_d), 1.0)
    reward = base * start_factor * end_factor
    reward = np.nan_to_num(reward, nan=0.0)
    return np.maximum(reward, 0.0)


def format_array(completions: Sequence[Any]) -> np.ndarray:
    return np.array([1.0 if _FORMAT.fullmatch(completion_text(c).strip()) else 0.0 for c in completions])


def _ground_truth(n: int, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    spans = kwargs.get("span", kwargs.get("solution"))
    durations = kwargs.get("duration", kwargs.get("durations"))
    if spans is None or durations is None:
        raise KeyError("reward needs the dataset columns 'span' and 'duration' (or Time-R1's 'solution'/'durations')")
    spans = np.asarray([list(s) for s in spans], dtype=np.float64).reshape(n, 2)
    return spans[:, 0], spans[:, 1], np.asarray(durations, dtype=np.float64).reshape(n)


def log_mean_iou(ious: np.ndarray, kwargs: dict[str, Any]) -> None:
    """The step's mean plain IoU as the metric ``iou`` (beside ``kl`` in the log): what the rewards
    are a proxy for. TRL 1.16 hands reward functions ``log_metric``; a direct call has none."""
    log_metric = kwargs.get("log_metric")
    if log_metric is not None and len(ious):
        log_metric("iou", float(np.mean(ious)))


def iou(prompts=None, completions=(), **kwargs) -> list[float]:
    """Plain temporal IoU reward (Time-R1 ``iou``)."""
    ps, pe = parse_spans(completions)
    gs, ge, _ = _ground_truth(len(completions), kwargs)
    ious = temporal_iou_array(ps, pe, gs, ge)  # NaN (unparsed) predictions give 0
    log_mean_iou(ious, kwargs)
    return ious.tolist()


def iou_v2(prompts=None, completions=(), **kwargs) -> list[float]:
    """Timestamp-aware IoU reward (Time-R1 ``iou_v2``), clamped at 0."""
    ps, pe = parse_spans(completions)
    gs, ge, d = _ground_truth(len(completions), kwargs)
    log_mean_iou(temporal_iou_array(ps, pe, gs, ge), kwargs)
    return iou_v2_array(ps, pe, gs, ge, d).tolist()


def format_reward(prompts=None, completions=(), **kwargs) -> list[float]:
    """Think-then-answer format reward (Time-R1 ``format``)."""
    return format_array(completions).tolist()


def tags(prompts=None, completions=(), **kwargs) -> list[float]:
    """Shaping reward: fraction of the format's building blocks present (not a Time-R1 reward)."""
    texts = [completion_text(c) for c in completions]
    return [sum(bool(p.search(t)) for p in _FORMAT_PIECES) / len(_FORMAT_PIECES) for t in texts]


_FORMAT_PIECES = tuple(re.compile(p) for p in (r"<(?!/)", r"</", r"think", r"answer", r">", r"\d"))

format_reward.__name__ = "format"  # TRL logs rewards under the callable's __name__
format = format_reward  # noqa: A001  (the public name Time-R1 uses: --reward_funcs iou_v2 format)

REWARDS: dict[str, Callable[..., list[float]]] = {"iou": iou, "iou_v2": iou_v2, "format": format_reward, "tags": tags}


def resolve_rewards(weights: dict[str, float]) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """Reward callables and their weights from ``{name: weight}`` (unknown names are a user error)."""
    unknown = [n for n in weights if n not in REWARDS]
    if unknown:
        raise Timer1Error(f"unknown reward(s) {', '.join(unknown)}; choose from {', '.join(REWARDS)}")
    if not weights:
        raise Timer1Error("at least one reward is needed")
    return [REWARDS[n] for n in weights], [float(w) for w in weights.values()]
