"""``timer1 model families``, ``model tiny --family`` and ``quickstart --family``: built from the FAMILIES
registry and the adapters' class attributes, so a new family appears everywhere once it registers; the
README's family table is the command's output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.harness.backends import BACKENDS
from tvgbench.models.base import FAMILIES, TABLE_BACKENDS, adapter_class, family_rows

REPO = Path(__file__).resolve().parents[1]
README_TABLE = re.compile(r"<!-- timer1 model families -->\n(.*?)\n<!-- /timer1 model families -->", re.DOTALL)


def test_families_json_is_one_row_per_family_from_the_adapters():
    r = CliRunner().invoke(cli, ["model", "families", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert sorted(t for row in rows for t in row["model_types"]) == sorted(FAMILIES)  # every model type, once
    for row in rows:
        for model_type in row["model_types"]:
            cls = adapter_class(model_type)
            assert (cls.family, cls.time_encoding, list(cls.backends), list(cls.trainer)) == (
                row["family"], row["time_encoding"], row["backends"], row["trainer"])
            assert set(cls.backends) <= set(BACKENDS)
    qwen = next(row for row in rows if row["family"] == "Qwen2.5-VL")
    assert qwen["backends"] == ["hf", "vllm", "openai"] and qwen["trainer"] == ["grpo", "sft"]
    assert "second_per_grid_ts" in qwen["time_encoding"]


def test_the_table_columns_are_the_harness_backends_and_one_row_per_family():
    assert TABLE_BACKENDS == BACKENDS
    table = CliRunner().invoke(cli, ["model", "families"]).output.strip().splitlines()
    assert table[0] == "| family | model types | time encoding | hf | vllm | openai | trainer |"
    assert len(table) == 2 + len(family_rows())
    assert any(line.startswith("| Qwen2.5-VL | `qwen2_5_vl` |") and line.endswith("| yes | yes | yes | grpo, sft |")
               for line in table)


def test_readme_family_table_is_the_command_output():
    found = README_TABLE.search((REPO / "README.md").read_text())
    assert found, "README.md lost its <!-- timer1 model families --> table"
    table = CliRunner().invoke(cli, ["model", "families"]).output.strip()
    assert found.group(1).strip() == table, (
        "README.md's family table is stale: replace it with the output of `timer1 model families`")


def test_tiny_and_quickstart_offer_every_registered_family():
    for command in (["model", "tiny"], ["quickstart"]):
        help_text = CliRunner().invoke(cli, [*command, "--help"]).output
        assert all(t in help_text for t in FAMILIES), help_text
    r = subprocess.run([sys.executable, "-c", "import sys; sys.argv[0] = 'timer1'; from tvgbench.cli.main import main; "
                        "main()", "model", "tiny", "--family", "llava", "-o", "x"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode != 0 and r.stderr.startswith("error: ") and "qwen2_5_vl" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_model_tiny_family_builds_that_family(tmp_path):
    out = tmp_path / "tiny"
    r = CliRunner().invoke(cli, ["model", "tiny", "--family", "qwen2_5_vl", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "tiny Qwen2.5-VL: " in r.output
    assert json.loads((out / "config.json").read_text())["model_type"] == "qwen2_5_vl"


def test_quickstart_runs_with_another_family(tmp_path):
    """The whole quick start with the tiny model of a family other than the default (the last registered)."""
    model_type = list(FAMILIES)[-1]
    if model_type == "qwen2_5_vl":
        import pytest

        pytest.skip("only one family registered")
    family = adapter_class(model_type).family
    out = tmp_path / "qs"
    r = CliRunner().invoke(cli, ["quickstart", "--family", model_type, "-o", str(out), "--videos", "1",
                                 "--max-new-tokens", "4"])
    assert r.exit_code == 0, r.output
    run_dir = out / "runs" / ("tiny-" + re.sub(r"[^a-z0-9.]+", "-", family.lower()))  # one folder, no "/"
    assert run_dir.parent == out / "runs" and run_dir.is_dir()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["family"]["model_type"] == model_type and run["status"] in ("clean", "partial")
    assert json.loads((out / "tiny-model" / "config.json").read_text())["model_type"] == model_type
    assert f"tiny random {family}" in r.output


def test_first_prompt_record_for_each_backend_form():
    """What run.json's first_prompt holds per backend: hf's decoded model input, the ids sent to vLLM, and the
    text of an OpenAI chat request with each frame as <image>; the sha256 is over that exact text."""
    import hashlib
    from types import SimpleNamespace

    from tvgbench.harness.provenance import prompt_record

    class Tok:
        def decode(self, ids, **kw):
            assert kw == {"skip_special_tokens": False, "clean_up_tokenization_spaces": False}
            return "".join(chr(96 + i) for i in ids)

    backend = SimpleNamespace(tokenizer=Tok())
    hf = prompt_record(backend, SimpleNamespace(input_ids=[1, 2, 3]))
    assert hf == {"text": "abc", "form": "model input", "sha256": hashlib.sha256(b"abc").hexdigest()}
    vllm = prompt_record(backend, SimpleNamespace(prompt={"prompt_token_ids": [3, 2]}))
    assert vllm["text"] == "cb" and "vLLM" in vllm["form"]
    body = {"messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": [
        {"type": "text", "text": "Frame 0 at 0.0 s:"}, {"type": "image_url", "image_url": {"url": "data:..."}},
        {"type": "text", "text": " when?"}]}]}
    openai = prompt_record(SimpleNamespace(), body)
    assert openai["text"] == "[system] sys\n[user] Frame 0 at 0.0 s:<image> when?"
    assert prompt_record(SimpleNamespace(), object()) is None
