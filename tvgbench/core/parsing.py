"""Answer parsing: one module used by the scorer, the harness and the rewards.

Variants
--------
``canonical``     the last ``<answer>`` block if it holds a span, else the whole text (flag
                  ``fallback``); within it the **last** span in any common notation (see ``_SPAN``;
                  ``start: 4.4, end: 9.1`` included).
                  Reversed spans are swapped (flag ``reversed``); with a duration, spans are
                  clipped to ``[0, duration]`` (flag ``clipped``).
``timer1-train``  Time-R1's reward parser: last ``<answer>`` block, last ``X to|and Y`` in it,
                  case-insensitive; nothing else (``main.py::parse_timestamp_output``).
``timer1-eval``   Time-R1's evaluation parser: last ``X to|and Y`` anywhere in the output,
                  case-sensitive, reasoning included (``evaluate.py::extract_answer``).
``timer1-force``  Time-R1's difficulty-pass fallback: the first two numbers anywhere
                  (``calc_difficulty.py::extract_answer_force``).
``timelens``      TimeLens's ``extract_time`` (also lmms-eval's ``timelens_*`` tasks): lower-cased; pairs of
                  clock times ``m:ss`` / ``h:mm:ss`` in order, else every ``a - b``, else every ``a to b``,
                  else all numbers paired in order; the **first** pair counts, as written (no swap).
``lmms-eval``     lmms-eval's ``temporal_grounding_charades`` (``charades_sta/utils.py``): a text holding
                  ``boxed`` needs ``\\boxed{[mm:ss, mm:ss]}``, else one holding ``[`` needs ``[mm:ss, mm:ss]``
                  (integers; anything else there is no answer); else ``extract_time_from_text``: lower-case,
                  every ``to`` substring becomes ``-``, all ``a - b`` of the text, else the first number of each
                  sentence (split on ``[!?\\n]``) holding a keyword, paired, else those sentences' first
                  ``hh:mm:ss``, paired; reversed pairs swapped; the first pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VARIANTS = ("canonical", "timer1-train", "timer1-eval", "timer1-force", "timelens", "lmms-eval")

FLAG_REVERSED = "reversed"
FLAG_CLIPPED = "clipped"
FLAG_FALLBACK = "fallback"

_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_ANSWER_BLOCK_TIMER1 = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_TIMER1_SPAN = r"(\d+\.?\d*) (to|and) (\d+\.?\d*)"
_TIMER1_TRAIN = re.compile(_TIMER1_SPAN, re.IGNORECASE)
_TIMER1_EVAL = re.compile(_TIMER1_SPAN)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

# A time: h:mm:ss(.f), mm:ss(.f) or plain seconds; optionally followed by a unit word.
_TIME = r"(?:\d+:)?\d+:\d+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT = r"(?:\s*(?:seconds?|secs?|s)\b)?"
_SEP = r"\s*(?:-|–|—|~|\bto\b|\band\b|\buntil\b|\btill\b)\s*"
# Labelled ends: "start: 4.4, end: 9.1", "start time = 4.4; end time = 9.1", {"start_time": 4.4, "end_time": 9.1}.
_LABEL_START = r"[\"']?\b(?:start|begin)(?:[ _]?time)?[\"']?\s*[:=]\s*"
_LABEL_END = r"\s*(?:[,;]|\band\b|\bto\b)?\s*[\"']?\bend(?:[ _]?time)?[\"']?\s*[:=]\s*"
_SPAN = re.compile(
    rf"(?<![\d.:])(?:\[\s*(?P<b1>{_TIME}){_UNIT}\s*,\s*(?P<b2>{_TIME}){_UNIT}\s*\]"
    rf"|\(\s*(?P<p1>{_TIME}){_UNIT}\s*,\s*(?P<p2>{_TIME}){_UNIT}\s*\)"
    rf"|{_LABEL_START}(?P<l1>{_TIME}){_UNIT}{_LABEL_END}(?P<l2>{_TIME}){_UNIT}"
    rf"|(?P<a>{_TIME}){_UNIT}{_SEP}(?P<b>{_TIME}){_UNIT})(?![\d:]|\.\d)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Parsed:
    """A parsed answer: ``span`` is None when nothing usable was found."""

    span: tuple[float, float] | None
    flags: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.span is not None


def clock_to_seconds(token: str) -> float:
    """``"1:02:03"`` → 3723.0, ``"00:12.5"`` → 12.5, ``"17.8"`` → 17.8."""
    seconds = 0.0
    for part in token.split(":"):
        seconds = seconds * 60.0 + float(part)
    return seconds


def _last_span(text: str) -> tuple[float, float] | None:
    last = None
    for m in _SPAN.finditer(text):
        last = m
    if last is None:
        return None
    g = last.groupdict()
    a, b = next((g[x], g[y]) for x, y in (("a", "b"), ("b1", "b2"), ("p1", "p2"), ("l1", "l2")) if g[x] is not None)
    return clock_to_seconds(a), clock_to_seconds(b)


def parse_canonical(text: str, duration: float | None = None) -> Parsed:
    flags: list[str] = []
    span = None
    blocks = _ANSWER_BLOCK.findall(text)
    if blocks:
        span = _last_span(blocks[-1])
    if span is None:
        span = _last_span(text)
        if span is not None:
            flags.append(FLAG_FALLBACK)
    if span is None:
        return Parsed(None, tuple(flags))
    start, end = span
    if start > end:
        start, end = end, start
        flags.append(FLAG_REVERSED)
    if duration is not None and duration > 0 and (start < 0 or end > duration):
        start, end = min(max(start, 0.0), duration), min(max(end, 0.0), duration)
        flags.append(FLAG_CLIPPED)
    return Parsed((start, end), tuple(flags))


def parse_timer1_train(text: str) -> Parsed:
    blocks = _ANSWER_BLOCK_TIMER1.findall(text)
    if not blocks:
        return Parsed(None)
    matches = _TIMER1_TRAIN.findall(blocks[-1])
    if not matches:
        return Parsed(None)
    a, _, b = matches[-1]
    return Parsed((float(a), float(b)))


def parse_timer1_eval(text: str) -> Parsed:
    matches = _TIMER1_EVAL.findall(text)
    if not matches:
        return Parsed(None)
    a, _, b = matches[-1]
    return Parsed((float(a), float(b)))


def parse_timer1_force(text: str) -> Parsed:
    nums = _NUMBER.findall(text)
    if len(nums) < 2:
        return Parsed(None)
    return Parsed((float(nums[0]), float(nums[1])))


# TimeLens's extract_time, step by step (first match kind wins).
_TL_CLOCK = re.compile(r"\b(\d{1,2}:\d{2}:\d{2}(?:\.\d+)?|\d{1,2}:\d{2}(?:\.\d+)?)\b")
_TL_RANGES = (re.compile(r"(\d+\.?\d*)\s*-\s*(\d+\.?\d*)"), re.compile(r"(\d+\.?\d*)\s+to\s+(\d+\.?\d*)"))
_TL_NUMBER = re.compile(r"\b\d+\.?\d*\b")


def _pairs(values: list[float]) -> list[tuple[float, float]]:
    """Consecutive values paired up; an odd last one is dropped."""
    return [(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]


def timelens_spans(text: str) -> list[tuple[float, float]]:
    """Every pair TimeLens's ``extract_time`` returns, in its order."""
    text = text.lower()
    clocks = _TL_CLOCK.findall(text)
    if len(clocks) >= 2:
        return _pairs([clock_to_seconds(c) for c in clocks])
    for pattern in _TL_RANGES:
        found = pattern.findall(text)
        if found:
            return [(float(a), float(b)) for a, b in found]
    return _pairs([float(n) for n in _TL_NUMBER.findall(text)])


def parse_timelens(text: str) -> Parsed:
    spans = timelens_spans(text)
    if not spans:
        return Parsed(None)
    s, e = spans[0]
    return Parsed((s, e), (FLAG_REVERSED,) if s > e else ())  # used as written: TimeLens only warns


# lmms-eval's temporal_grounding_charades, branch by branch.
_LM_BOXED = re.compile(r"\\boxed\{\[(\d{1,2}):(\d{1,2}),\s*(\d{1,2}):(\d{1,2})\]\}")
_LM_BRACKET = re.compile(r"\[(\d{1,2}):(\d{1,2}),\s*(\d{1,2}):(\d{1,2})\]")
_LM_RANGE = re.compile(r"(\d+\.*\d*)\s*-\s*(\d+\.*\d*)")
_LM_NUMBER = re.compile(r"\b(\d+\.\d+\b|\b\d+)\b")
_LM_CLOCK = re.compile(r"\b((\d{1,2}:\d{2}:\d{2}))\b")
_LM_KEYWORDS = ("starts", "ends", "happens in", "start time", "end time", "start", "end", "happen")
_LM_EXAMPLE = "a specific example is : 20.8 - 30.0 seconds"  # its prompt's example, removed first


def _lmms_sentence_pairs(text: str) -> list[tuple[float, float]]:
    """``extract_time_from_text`` before the swap and the first-pair cut."""
    text = text.lower().replace(_LM_EXAMPLE, "").replace("to", "-")
    ranges = _LM_RANGE.findall(text)
    if ranges:
        return [(float(a), float(b)) for a, b in ranges]  # float("1..2") raises: the caller says no answer
    keyed = [x for x in re.split(r"[!?\n]", text) if any(k in x for k in _LM_KEYWORDS)]
    firsts = [float(found[0]) for found in (_LM_NUMBER.findall(x) for x in keyed) if found]
    if len(firsts) >= 2:
        return _pairs(firsts)
    clocks = [found[0][0] for found in (_LM_CLOCK.findall(x) for x in keyed) if found]
    return _pairs([float(clock_to_seconds(c)) for c in clocks])


def parse_lmms_eval(text: str) -> Parsed:
    if "boxed" in text or "[" in text:
        m = (_LM_BOXED if "boxed" in text else _LM_BRACKET).search(text)
        if m is None:
            return Parsed(None)
        a, b, c, d = (int(g) for g in m.groups())
        return Parsed((float(a * 60 + b), float(c * 60 + d)))
    try:
        pairs = _lmms_sentence_pairs(text)
    except ValueError:
        return Parsed(None)
    if not pairs:
        return Parsed(None)
    s, e = pairs[0]
    return Parsed((s, e) if e > s else (e, s), () if e > s else (FLAG_REVERSED,))


def parse_answer(text: str | None, variant: str = "canonical", duration: float | None = None) -> Parsed:
    """Parse a model output into a span with the named variant (see module docstring)."""
    if not isinstance(text, str):
        return Parsed(None)
    if variant == "canonical":
        return parse_canonical(text, duration)
    if variant == "timer1-train":
        return parse_timer1_train(text)
    if variant == "timer1-eval":
        return parse_timer1_eval(text)
    if variant == "timer1-force":
        return parse_timer1_force(text)
    if variant == "timelens":
        return parse_timelens(text)
    if variant == "lmms-eval":
        return parse_lmms_eval(text)
    raise ValueError(f"unknown parser variant {variant!r}; choose one of {', '.join(VARIANTS)}")


_OPTION_LETTER = re.compile(r"\(([A-Z])\)")


def parse_option_letter(text: str | None) -> str | None:
    """Multiple-choice answers: the last ``(X)`` in the last ``<answer>`` block, else in the text."""
    if not isinstance(text, str):
        return None
    blocks = _ANSWER_BLOCK.findall(text)
    for scope in ([blocks[-1]] if blocks else []) + [text]:
        letters = _OPTION_LETTER.findall(scope)
        if letters:
            return letters[-1]
    m = re.match(r"\s*([A-Z])\b", text)
    return m.group(1) if m else None
