"""Prompts and chat-message layouts: Time-R1's templates as named presets.

A *preset* is the user-prompt text (plus, for ``nothink``, a forced assistant prefix); a *layout* is
how the text and the video are arranged into chat messages. Both go into every run's ``run.json``
(text and hash), because each of them changes the numbers.

Grounding presets (``[EVENT]`` is replaced by the query):
  ``r1``        Time-R1's thinking prompt: training ``QUESTION_TEMPLATE_TG_v1`` = eval ``DEFAULT_TG_PROMPT['r1']``
  ``default``   Time-R1's eval prompt without the flag: answer tags only (``DEFAULT_TG_PROMPT['default']``)
  ``nothink``   ``r1`` text, and the assistant turn starts with an empty ``<think>\\n</think>\\n`` block:
                what ``scripts/test.sh`` really runs (``--use_r1_thinking_prompt --use_nothink``)
  ``r1_nocot``  ``DEFAULT_TG_PROMPT['r1_nocot']``: the empty think block inside the user text
  ``v1``        the ``r1`` text under its fine-tuning template's name (``QUESTION_TEMPLATE_TG_v1``)
  ``v2``, ``v3`` the fine-tuning templates (``QUESTION_TEMPLATE_TG_v2``/``_v3``)
  ``timezero``  TimeZero's template ("specific timestamps (xx.xx) or time ranges")
  ``demo``      ``demo.py``'s template (r1 with a leading and trailing newline)
Grounding presets of other published recipes (where a family's recipe differs from Time-R1's):
  ``timelens``     TimeLens's grounding prompt (``GROUNDER_PROMPT``, TencentARC/TimeLens ``evaluation/utils.py``),
                   what it asks TimeLens-8B and Qwen3-VL with; answer "The event happens in S - E seconds".
                   TimeLens sends no system message (video, then text): no layout here is exactly that
  ``timelens_ts``  TimeLens-7B's (Qwen2.5-VL) prompt for interleaved text timestamps (``GROUNDER_PROMPT_TEXT_TIMESTAMP``):
                   the same, after a sentence saying the number before each frame is its time. Only true where
                   the times reach the model as text: the openai backend, Qwen3-VL, InternVL
  ``mimo_think``   MiMo-VL's think format: MiMo-VL reasons inside ``<think>`` on its own (its default), so the
                   prompt asks for the answer only (``default``'s text) and forces no prefix; the answer is the
                   last ``<answer>`` block after the reasoning, else the last span (the canonical parser).
                   MiMo-VL publishes no grounding prompt of its own, so none is invented here
Multiple-choice presets (``[QUESTION]``, ``[OPTIONS]``): ``mcq_default``, ``mcq_r1``, ``mcq_r1_nocot``,
``mcq_nothink``.

Layouts:
  ``default``       timer1's documented layout: explicit system message "You are a helpful assistant.",
                    the video first, then the text; the query is only stripped of surrounding spaces.
  ``timer1-eval``   Time-R1's evaluation layout (``vllm_inference/data/__init__.py``): as ``default``
                    but the query is used raw.
  ``timer1-train``  Time-R1's training layout (``make_conversation_video``, ``main.py``): no system
                    message (the chat template adds its default), the text first, then the video;
                    the query is stripped, lower-cased and loses one trailing ".".
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from tvgbench.core.errors import Timer1Error

SYSTEM_PROMPT = "You are a helpful assistant."
EVENT, QUESTION, OPTIONS = "[EVENT]", "[QUESTION]", "[OPTIONS]"
NOTHINK_PREFIX = "<think>\n</think>\n"

_PINPOINT = 'To accurately pinpoint the event "[EVENT]" in the video, determine the precise time period of the event.\n\n'
_ANSWER = ('provide the start and end times (in seconds, precise to two decimal places) in the format '
           '"start time to end time" within the <answer> </answer> tags. For example: "12.54 to 17.83".')
_THINK_RANGES = ("Output your thought process within the <think> </think> tags, including analysis with either "
                 "specific time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.\n\nThen, ")
_THINK_TIMESTAMPS = ("Output your thought process within the <think> </think> tags, including analysis with either "
                     "specific timestamps (xx.xx) or time ranges (xx.xx to xx.xx) in <timestep> </timestep> tags.")

TG_R1 = _PINPOINT + _THINK_RANGES + _ANSWER
TG_DEFAULT = _PINPOINT + "P" + _ANSWER[1:]
TG_R1_NOCOT = TG_R1 + "\n" + NOTHINK_PREFIX
TG_TIMEZERO = _PINPOINT + _THINK_TIMESTAMPS + "\n\nThen, " + _ANSWER
TG_V3 = (
    'Carefully analyze the video content to determine the precise time period during which "[EVENT]" occurs.  '
    "Within the `<think>` tags, provide a detailed description of your thought process, following the format below:\n"
    "```\n<think>\nStep-by-step Analysis:\n"
    '<timestep>Time period 1 (start time to end time)</timestep>: Describe the video content within this time period '
    'and determine if it is related to "[EVENT]".\n'
    '<timestep>Time period 2 (start time to end time)</timestep>: Describe the video content within this time period '
    'and determine if it is related to "[EVENT]".\n'
    'Based on the above analysis, state the precise time period during which "[EVENT]" occurs.\n</think>\n```\n'
    'Finally, in the `<answer>` tags, provide the start and end times of "[EVENT]" in the format "start time to end '
    'time" (in seconds, precise to two decimal places). For example: "12.54 to 17.83".\n'
    "```\n<answer>\nstart time to end time\n</answer>\n```"
)

_MCQ_HEAD = ("Carefully watch the video and pay attention to the cause and sequence of events, the detail and movement "
             "of objects and the action and pose of persons. Based on your observations, select the best option that "
             "accurately addresses the question.")
_MCQ_LETTER = "provide the letter of the best option wrapped in parentheses within the <answer> </answer> tags."
_MCQ_TAIL = "\n\nQuestion: [QUESTION]\n[OPTIONS]"
MCQ_DEFAULT = _MCQ_HEAD + "\n\nP" + _MCQ_LETTER[1:] + _MCQ_TAIL
MCQ_R1 = _MCQ_HEAD + " \n\n" + _THINK_TIMESTAMPS + " \n\nThen, " + _MCQ_LETTER + _MCQ_TAIL
MCQ_R1_NOCOT = MCQ_R1 + "<think>\n</think>"

# TencentARC/TimeLens evaluation/utils.py (also training/data/grounding.py), the query in place of '{}'
TG_TIMELENS = ("Please find the visual event described by the sentence '[EVENT]', determining its starting and "
               "ending times. The format should be: 'The event happens in <start time> - <end time> seconds'.")
TG_TIMELENS_TS = ("You are given a video with multiple frames. The numbers before each video frame indicate its "
                  "sampling timestamp (in seconds). ") + TG_TIMELENS

# name -> (template, assistant prefix, task)
_PRESETS: dict[str, tuple[str, str, str]] = {
    "r1": (TG_R1, "", "tg"),
    "default": (TG_DEFAULT, "", "tg"),
    "nothink": (TG_R1, NOTHINK_PREFIX, "tg"),
    "r1_nocot": (TG_R1_NOCOT, "", "tg"),
    "v1": (TG_R1, "", "tg"),
    "v2": (TG_DEFAULT, "", "tg"),
    "v3": (TG_V3, "", "tg"),
    "timezero": (TG_TIMEZERO, "", "tg"),
    "demo": ("\n" + TG_R1 + "\n", "", "tg"),
    "timelens": (TG_TIMELENS, "", "tg"),
    "timelens_ts": (TG_TIMELENS_TS, "", "tg"),
    "mimo_think": (TG_DEFAULT, "", "tg"),
    "mcq_default": (MCQ_DEFAULT, "", "mcq"),
    "mcq_r1": (MCQ_R1, "", "mcq"),
    "mcq_r1_nocot": (MCQ_R1_NOCOT, "", "mcq"),
    "mcq_nothink": (MCQ_R1, NOTHINK_PREFIX, "mcq"),
}
# The bare template texts.
PRESETS: dict[str, str] = {name: spec[0] for name, spec in _PRESETS.items()}
# Time-R1's own presets, the ones the tiny tokenizer is trained on (a preset added later must not change it)
TIME_R1_PRESETS = ("r1", "default", "nothink", "r1_nocot", "v1", "v2", "v3", "timezero", "demo",
                   "mcq_default", "mcq_r1", "mcq_r1_nocot", "mcq_nothink")


def preset_names(task: str) -> tuple[str, ...]:
    """The presets of one task (``tg`` grounding, ``mcq`` multiple choice), in table order."""
    return tuple(name for name, spec in _PRESETS.items() if spec[2] == task)


# --prompt's help, from the table so a new preset cannot be left out of it
PROMPT_HELP = f"Preset ({', '.join(preset_names('tg'))}; for QA: {', '.join(preset_names('mcq'))}) or a prompt FILE."
LAYOUTS = ("default", "timer1-eval", "timer1-train")


@dataclass(frozen=True)
class Prompt:
    """A prompt preset or file: the user text template and the forced start of the answer."""

    name: str
    template: str
    assistant_prefix: str = ""
    task: str = "tg"  # "tg" (grounding) or "mcq"
    source: str = "preset"  # "preset" or the file it was read from

    @property
    def sha256(self) -> str:
        payload = json.dumps([self.template, self.assistant_prefix, self.task], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict:
        return {**asdict(self), "sha256": self.sha256}

    def fill(self, query: str | None = None, question: str | None = None, options: list[str] | None = None) -> str:
        """The user text with its placeholders replaced."""
        if self.task == "mcq":
            if question is None or options is None:
                raise Timer1Error(f"prompt {self.name!r} is multiple-choice: it needs a question and options")
            return self.template.replace(QUESTION, question).replace(OPTIONS, format_options(options))
        if query is None:
            raise Timer1Error(f"prompt {self.name!r} is a grounding prompt: it needs a query")
        return self.template.replace(EVENT, query)


def format_options(options: list[str]) -> str:
    """Time-R1's option rendering: ``(A) first\\n(B) second``."""
    return "\n".join(f"({chr(65 + i)}) {opt}" for i, opt in enumerate(options))


def _normalise_placeholders(text: str, task: str) -> str:
    if task == "mcq":
        if text.count("{}") == 2:  # Time-R1's "Question: {}\n{}"
            first = text.index("{}")
            text = text[:first] + QUESTION + text[first + 2:]
            text = text.replace("{}", OPTIONS, 1)
        return text.replace("{question}", QUESTION).replace("{options}", OPTIONS)
    return text.replace("{query}", EVENT).replace("{}", EVENT)


def load_prompt_file(path: str | Path) -> Prompt:
    """A prompt from a file.

    ``.txt``/``.md``: the template itself. ``.json``/``.yaml``: ``{"template": ..., "assistant_prefix": ...,
    "task": "tg"|"mcq"}``. Placeholders: ``[EVENT]``, ``{query}`` or ``{}`` for the query; ``[QUESTION]``/
    ``{question}`` and ``[OPTIONS]``/``{options}`` (or two ``{}``) for multiple choice.
    """
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise Timer1Error(f"cannot read prompt file {p}: {e}") from None
    prefix, task = "", "tg"
    if p.suffix.lower() in (".json", ".yaml", ".yml"):
        import yaml

        try:
            spec = yaml.safe_load(raw)  # YAML is a superset of JSON
        except yaml.YAMLError as e:
            raise Timer1Error(f"prompt file {p} is not valid {p.suffix[1:].upper()}: {e}") from None
        if not isinstance(spec, dict) or not isinstance(spec.get("template"), str):
            raise Timer1Error(f"prompt file {p} must hold an object with a 'template' string")
        raw, prefix, task = spec["template"], spec.get("assistant_prefix") or "", spec.get("task", "tg")
        if task not in ("tg", "mcq"):
            raise Timer1Error(f"prompt file {p}: task must be 'tg' or 'mcq', got {task!r}")
    template = _normalise_placeholders(raw, task)
    needed = (QUESTION, OPTIONS) if task == "mcq" else (EVENT,)
    missing = [n for n in needed if n not in template]
    if missing:
        raise Timer1Error(f"prompt file {p} lacks the placeholder(s) {', '.join(missing)} "
                          f"(use {{}}, {{query}} or [EVENT] for the query)")
    return Prompt(name=p.stem, template=template, assistant_prefix=prefix, task=task, source=str(p))


def get_prompt(name_or_path: str | Prompt, task: str | None = None) -> Prompt:
    """A preset by name, or a prompt file by path; ``task`` checks it fits (``tg`` or ``mcq``)."""
    if isinstance(name_or_path, Prompt):
        prompt = name_or_path
    elif name_or_path in _PRESETS:
        template, prefix, kind = _PRESETS[name_or_path]
        prompt = Prompt(name_or_path, template, prefix, kind)
    elif Path(name_or_path).is_file():
        prompt = load_prompt_file(name_or_path)
    else:
        raise Timer1Error(f"unknown prompt {name_or_path!r}: not a preset ({', '.join(_PRESETS)}) nor a file")
    if task is not None and prompt.task != task:
        raise Timer1Error(f"prompt {prompt.name!r} is for task {prompt.task!r}, not {task!r}")
    return prompt


def normalise_query(query: str, layout: str = "default") -> str:
    """The query text each layout feeds the template with (see the layouts in the module docstring)."""
    if layout == "timer1-eval":
        return query
    q = query.strip()
    if layout == "timer1-train":
        q = q.lower()
        if q.endswith("."):
            q = q[:-1]
    return q


def build_messages(query: str | None = None, preset: str | Prompt = "r1", layout: str = "default", *,
                   video: str | None = None, question: str | None = None, options: list[str] | None = None,
                   video_fields: dict | None = None) -> list[dict]:
    """Chat messages for one query in the chosen layout.

    The video part is ``{"type": "video"}`` (plus ``"video": path`` and ``video_fields`` when given):
    timer1 decodes frames itself and only needs the template to place one ``<|video_pad|>``.
    """
    if layout not in LAYOUTS:
        raise Timer1Error(f"unknown message layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    prompt = get_prompt(preset)
    if prompt.task == "mcq":
        text = prompt.fill(question=normalise_query(question or "", layout), options=options)
    else:
        text = prompt.fill(query=normalise_query(query if query is not None else "", layout))
    video_part = {"type": "video"}
    if video is not None:
        video_part["video"] = video
    if video_fields:
        video_part.update(video_fields)
    text_part = {"type": "text", "text": text}
    if layout == "timer1-train":
        return [{"role": "user", "content": [text_part, video_part]}]
    return [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM_PROMPT}]},
        {"role": "user", "content": [video_part, text_part]},
    ]


def ensure_chat_template(tokenizer, model_dir) -> None:
    """Give ``tokenizer`` the checkpoint's chat template when only the processor files carry it
    (some Qwen2.5-VL releases keep it in ``chat_template.json`` / ``chat_template.jinja``)."""
    if getattr(tokenizer, "chat_template", None):
        return
    d = Path(model_dir)
    if (d / "chat_template.jinja").is_file():
        tokenizer.chat_template = (d / "chat_template.jinja").read_text(encoding="utf-8")
    elif (d / "chat_template.json").is_file():
        try:
            template = json.loads((d / "chat_template.json").read_text(encoding="utf-8")).get("chat_template")
        except ValueError:
            template = None
        if isinstance(template, str):
            tokenizer.chat_template = template


def render_prompt(tokenizer, messages: list[dict], assistant_prefix: str = "") -> str:
    """The chat text the model reads: the tokenizer's template with the generation prompt, then the prefix."""
    if not getattr(tokenizer, "chat_template", None):
        raise Timer1Error("the model's tokenizer has no chat template; timer1 needs a chat model")
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + assistant_prefix


def prompt_settings(prompt: Prompt, layout: str) -> dict:
    """What run.json records about the prompt: everything that changes a number."""
    return {**prompt.to_dict(), "layout": layout, "system": None if layout == "timer1-train" else SYSTEM_PROMPT}
