"""Prompt presets equal Time-R1's strings (read from ../shared/reference/timer1-spec.md, skipped without it);
layouts follow Time-R1's training (text first, no system message) and evaluation (video first) layouts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tvgbench.models import prompts as P
from tvgbench.core.errors import Timer1Error

SPEC = Path(__file__).resolve().parents[2] / "shared" / "reference" / "timer1-spec.md"


def _spec_strings() -> dict[str, str]:
    if not SPEC.exists():
        pytest.skip(f"reference spec not available: {SPEC}")
    text = SPEC.read_text()
    sec = text[text.index("### 3.1"):text.index("### 3.2")]
    found = {m.group(1): json.loads(m.group(2))
             for m in re.finditer(r"\*[^`\n]*`([^`]+)` =\n```json\n(.*?)\n```", sec, re.S)}
    assert len(found) >= 12, sorted(found)
    return found


@pytest.mark.parametrize("key,preset", [
    ("src/time_r1/rl/timer1_trainer_ft.py::QUESTION_TEMPLATE_TG_v1", "v1"),
    ("src/time_r1/rl/timer1_trainer_ft.py::QUESTION_TEMPLATE_TG_v2", "v2"),
    ("src/time_r1/rl/timer1_trainer_ft.py::QUESTION_TEMPLATE_TG_v3", "v3"),
    ("src/vllm_inference/data/config.py::DEFAULT_TG_PROMPT['r1']", "r1"),
    ("src/vllm_inference/data/config.py::DEFAULT_TG_PROMPT['default']", "default"),
    ("src/vllm_inference/data/config.py::DEFAULT_TG_PROMPT['r1_nocot']", "r1_nocot"),
    ("demo.py::PROMPT_TEMPLATE", "demo"),
    ("src/open_r1/grpo_video.py::QUESTION_TEMPLATE", "timezero"),
])
def test_grounding_presets_equal_time_r1_strings(key, preset):
    ref = _spec_strings()[key]
    query = 'the man "jumps" {x}'
    expected = ref.replace("[EVENT]", query) if "[EVENT]" in ref else ref.replace("{}", query)
    assert P.get_prompt(preset).fill(query=query) == expected


@pytest.mark.parametrize("name", ["default", "r1", "r1_nocot"])
def test_mcq_presets_equal_time_r1_strings(name):
    ref = _spec_strings()[f"src/vllm_inference/data/config.py::DEFAULT_MCQ_PROMPT['{name}']"]
    options = ["a cat", "a dog", "a bird"]
    rendered = "(A) a cat\n(B) a dog\n(C) a bird"  # Time-R1's _build_user_prompt: "(A) opt\n(B) opt..."
    expected = ref.replace("{}", "What runs?", 1).replace("{}", rendered, 1)
    assert P.get_prompt(f"mcq_{name}").fill(question="What runs?", options=options) == expected


def test_nothink_forces_an_empty_think_block_in_the_answer(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    nothink = P.get_prompt("nothink")
    assert nothink.template == P.get_prompt("r1").template
    text = P.render_prompt(tok, P.build_messages("x", nothink), nothink.assistant_prefix)
    assert text.endswith("<|im_start|>assistant\n<think>\n</think>\n")
    assert nothink.sha256 != P.get_prompt("r1").sha256


def test_layouts_order_system_and_query_normalisation(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    q = "  The Man Sits down.  "
    ev = P.render_prompt(tok, P.build_messages(q, "r1", "timer1-eval"))
    de = P.render_prompt(tok, P.build_messages(q, "r1", "default"))
    tr = P.render_prompt(tok, P.build_messages(q, "r1", "timer1-train"))
    # eval: explicit system, video then text, raw query
    assert ev.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                         "<|vision_start|><|video_pad|><|vision_end|>To accurately")
    assert f'"{q}"' in ev
    # default: same order, query stripped only
    assert '"The Man Sits down."' in de and "<|vision_end|>To accurately" in de
    # train: template's default system, text then video, lower-cased and one trailing "." removed
    assert tr.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nTo accurately")
    assert '"the man sits down"' in tr
    assert tr.index("For example") < tr.index("<|video_pad|>")
    assert all(t.count("<|video_pad|>") == 1 for t in (ev, de, tr))


def test_prompt_files_text_and_yaml(tmp_path):
    txt = tmp_path / "mine.txt"
    txt.write_text("Find {query}. Answer <answer>a to b</answer>.")
    p = P.get_prompt(str(txt))
    assert p.fill(query="the cat") == "Find the cat. Answer <answer>a to b</answer>."
    assert p.source == str(txt) and p.name == "mine"
    y = tmp_path / "mcq.yaml"
    y.write_text("task: mcq\ntemplate: |-\n  Q: {question}\n  {options}\nassistant_prefix: 'Best Option: ('\n")
    m = P.get_prompt(str(y), task="mcq")
    assert m.fill(question="why?", options=["x", "y"]) == "Q: why?\n(A) x\n(B) y"
    assert m.assistant_prefix == "Best Option: ("
    # the hash follows the text: one character changes it
    txt.write_text("Find {query}! Answer <answer>a to b</answer>.")
    assert P.get_prompt(str(txt)).sha256 != p.sha256


@pytest.mark.parametrize("content,suffix,message", [
    ("no placeholder here", ".txt", "lacks the placeholder"),
    ("template: [1, 2]", ".yaml", "'template' string"),
    ("task: other\ntemplate: '{}'", ".yaml", "task must be"),
])
def test_bad_prompt_files_are_user_errors(tmp_path, content, suffix, message):
    f = tmp_path / f"p{suffix}"
    f.write_text(content)
    with pytest.raises(Timer1Error, match=message):
        P.get_prompt(str(f))


def test_unknown_preset_layout_and_task_mismatch():
    with pytest.raises(Timer1Error, match="unknown prompt"):
        P.get_prompt("r2")
    with pytest.raises(Timer1Error, match="layout"):
        P.build_messages("x", "r1", "sideways")
    with pytest.raises(Timer1Error, match="not 'mcq'"):
        P.get_prompt("r1", task="mcq")


def test_chat_template_from_processor_files(tmp_path, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    template = tok.chat_template
    tok.chat_template = None
    with pytest.raises(Timer1Error, match="no chat template"):
        P.render_prompt(tok, P.build_messages("x"))
    (tmp_path / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    P.ensure_chat_template(tok, tmp_path)
    assert P.render_prompt(tok, P.build_messages("x")).count("<|video_pad|>") == 1


# TencentARC/TimeLens evaluation/utils.py, GROUNDER_PROMPT and GROUNDER_PROMPT_TEXT_TIMESTAMP, as published
TIMELENS = ("Please find the visual event described by the sentence '{}', determining its starting and ending times. "
            "The format should be: 'The event happens in <start time> - <end time> seconds'.")
TIMELENS_TS = ("You are given a video with multiple frames. "
               "The numbers before each video frame indicate its sampling timestamp (in seconds). ") + TIMELENS


@pytest.mark.parametrize("preset,published", [("timelens", TIMELENS), ("timelens_ts", TIMELENS_TS)])
def test_timelens_presets_equal_the_published_text_and_its_answer_parses(preset, published):
    from tvgbench.core.parsing import parse_answer

    query = 'the man "jumps" {x}'
    prompt = P.get_prompt(preset)
    assert prompt.fill(query=query) == published.format(query) and prompt.assistant_prefix == ""
    # TimeLens's answer format ("The event happens in S - E seconds") is a span the canonical parser reads
    assert parse_answer("The event happens in 12.5 - 17.8 seconds.").span == (12.5, 17.8)


def test_mimo_think_asks_for_the_answer_only_and_the_answer_after_the_reasoning_is_parsed():
    from tvgbench.core.parsing import parse_answer

    mimo = P.get_prompt("mimo_think")
    # MiMo-VL reasons in <think> by default: no think instruction, no forced prefix (nothink would suppress it)
    assert "<think>" not in mimo.template and mimo.assistant_prefix == "" and "<answer>" in mimo.template
    assert mimo.template == P.get_prompt("default").template
    reasoned = "<think>\nIs it 3.0 to 5.0? <answer>3.0 to 5.0</answer> no, later.\n</think>\n<answer>12.5 to 17.8</answer>"
    assert parse_answer(reasoned).span == (12.5, 17.8) and parse_answer(reasoned).flags == ()
    untagged = "<think>\nmaybe 3.0 to 5.0, no\n</think>\nThe event is from 12.5 to 17.8 seconds."
    assert parse_answer(untagged).span == (12.5, 17.8)  # the last span, after the reasoning


def test_every_preset_is_in_the_prompt_help_and_new_presets_leave_the_tiny_tokenizer_alone():
    import random

    from tvgbench.models.qwen2_5_vl.tiny import _training_lines

    for name in P.PRESETS:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", P.PROMPT_HELP), name
    # the tiny tokenizer (and so every tiny model's output) is trained on Time-R1's presets only
    assert set(P.TIME_R1_PRESETS) < set(P.PRESETS)
    lines = _training_lines(random.Random(0), n=0)
    assert lines == [P.PRESETS[n].replace("{}", "a person opens the door") for n in P.TIME_R1_PRESETS]
    assert not any("visual event described" in line for line in lines)
