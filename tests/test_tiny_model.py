"""The tiny offline Qwen2.5-VL: builds offline, reloads with from_pretrained, and really sees video."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folder_is_small_and_complete(tiny_model_dir):
    names = {p.name for p in tiny_model_dir.iterdir()}
    for needed in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                   "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json"):
        assert needed in names
    size = sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert size < 2_000_000, size
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    assert cfg["model_type"] == "qwen2_5_vl"
    assert cfg["vision_config"]["tokens_per_second"] == 2  # Qwen2.5-VL's time scale (2 fps -> 1 position / 0.5 s)


def test_loads_offline_without_torchvision_and_generates(tiny_model_dir):
    # a fresh interpreter where torchvision/torchcodec imports fail and the hub is off
    code = f"""
import sys
sys.modules['torchvision'] = None
sys.modules['torchcodec'] = None
import torch
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
path = {str(tiny_model_dir)!r}
tok = AutoTokenizer.from_pretrained(path)
model = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=torch.float32).eval()
msgs = [{{"role": "user", "content": [{{"type": "video"}}, {{"type": "text", "text": "when?"}}]}}]
text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
assert text.count("<|video_pad|>") == 1
text = text.replace("<|video_pad|>", "<|video_pad|>" * 8)
ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values_videos=torch.randn(32, 1176),
                     video_grid_thw=torch.tensor([[2, 4, 4]]), second_per_grid_ts=torch.tensor([1.0]),
                     mm_token_type_ids=(ids == model.config.video_token_id).long() * 2, max_new_tokens=5)
print(out.shape[1] - ids.shape[1])
"""
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "5"


def test_video_pixels_change_the_logits(tiny_model_dir):
    """The model must read the video: a different clip gives different next-token logits."""
    import torch
    from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    ids = tok("<|vision_start|>" + "<|video_pad|>" * 8 + "<|vision_end|>when", return_tensors="pt").input_ids
    kw = dict(input_ids=ids, video_grid_thw=torch.tensor([[2, 4, 4]]), second_per_grid_ts=torch.tensor([1.0]),
              mm_token_type_ids=(ids == model.config.video_token_id).long() * 2)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        a = model(pixel_values_videos=torch.randn(32, 1176, generator=g), **kw).logits[0, -1]
        b = model(pixel_values_videos=torch.randn(32, 1176, generator=g), **kw).logits[0, -1]
    assert not torch.allclose(a, b)


def test_same_seed_same_weights_other_seed_differs(tmp_path, tiny_model_dir):
    from tvgbench.models.tiny import build_tiny_model

    again = build_tiny_model(tmp_path / "again", seed=0)
    other = build_tiny_model(tmp_path / "other", seed=1)
    assert _sha(again / "model.safetensors") == _sha(tiny_model_dir / "model.safetensors")
    assert _sha(again / "tokenizer.json") == _sha(tiny_model_dir / "tokenizer.json")
    assert _sha(other / "model.safetensors") != _sha(tiny_model_dir / "model.safetensors")


def test_tokenizer_round_trips_grounding_text(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "<think>the door opens <timestep>3.20 to 7.85</timestep></think> <answer>3.20 to 7.85</answer> é✓"
    assert tok.decode(tok(text, add_special_tokens=False).input_ids) == text
    for special in ("<|im_start|>", "<|im_end|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"):
        assert len(tok(special, add_special_tokens=False).input_ids) == 1
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_cli_builds_wide_head_variant_for_vllm(tmp_path):
    out = tmp_path / "hd64"
    res = CliRunner().invoke(cli, ["model", "tiny", "-o", str(out), "--hidden-size", "128", "--num-heads", "2"])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output
    cfg = json.loads((out / "config.json").read_text())
    text = cfg.get("text_config", cfg)
    head_dim = text["hidden_size"] // text["num_attention_heads"]
    assert head_dim == 64
    assert sum(text["rope_parameters"]["mrope_section"]) == head_dim // 2


@pytest.mark.parametrize("args", [["--hidden-size", "30"], ["--num-heads", "0"]])
def test_cli_bad_sizes_are_one_line_errors(tmp_path, args):
    res = CliRunner().invoke(cli, ["model", "tiny", "-o", str(tmp_path / "x"), *args])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and len(res.output.strip().splitlines()) == 1
