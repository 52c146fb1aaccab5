"""InternVL3/3.5 (``internvl``) behind the adapter: pixels equal transformers' processor, the prompt
carries each frame's time, the tiny model loads and generates deterministically, ``timer1 eval run``
runs end to end, and two GRPO steps see the video in every forward pass.

transformers' InternVL video processor needs torchvision (a CUDA build here that does not load), so
the processor runs in a subprocess against test_video_qwen's test-only stand-in, with a ``resize``
that is torchvision's tensor algorithm (float32 bicubic antialias, clamp, round back to uint8): the
processor itself decides the size (the fixed tile), the filter and the order of the steps.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from test_video_qwen import TV_STANDIN  # noqa: E402
from test_video_support import make_testsrc  # noqa: E402
from tvgbench.cli.main import cli  # noqa: E402
from tvgbench.core.errors import Timer1Error  # noqa: E402
from tvgbench.models import adapter_class, adapter_for  # noqa: E402
from tvgbench.models.internvl import frames_text, internvl_video_inputs  # noqa: E402
from tvgbench.models.prompts import build_messages, render_prompt  # noqa: E402
from tvgbench.video import SampledVideo, sample_video  # noqa: E402

TV_RESIZE = '''
        def resize(image, size, interpolation=None, antialias=True):  # torchvision's tensor algorithm
            import torch.nn.functional as F
            shape, dtype = image.shape, image.dtype
            x = image.reshape(-1, *shape[-3:]).to(torch.float32)
            y = F.interpolate(x, size=list(size), mode=interpolation.value, align_corners=False, antialias=antialias)
            y = y.reshape(*shape[:-2], *y.shape[-2:])
            return y.clamp_(0, 255).round_().to(dtype) if dtype == torch.uint8 else y
        pad = crop = _refuse
'''

PROCESSOR_SCRIPT = """
import json, sys
import numpy as np, torch
from transformers import AutoProcessor

model_dir, case_dir = sys.argv[1], sys.argv[2]
proc = AutoProcessor.from_pretrained(model_dir)
names = json.loads(open(f"{case_dir}/cases.json").read())
texts = {}
for name in names:
    frames = np.load(f"{case_dir}/{name}.npy")
    text = "<|im_start|>user\\n<video>\\nWhen?<|im_end|>\\n"
    out = proc(text=[text], videos=[frames], do_sample_frames=False, return_tensors="pt")
    torch.save({k: out[k] for k in ("pixel_values", "input_ids")}, f"{case_dir}/{name}.pt")
    texts[name] = [text, proc.tokenizer.decode(out["input_ids"][0])]
print(json.dumps(texts))
"""


@pytest.fixture(scope="module")
def internvl_dir(tmp_path_factory) -> Path:
    from tvgbench.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny_internvl") / "tiny-internvl", model_type="internvl")


@pytest.fixture(scope="module")
def adapter(internvl_dir):
    from transformers import AutoConfig

    return adapter_for(AutoConfig.from_pretrained(internvl_dir))


@pytest.fixture(scope="module")
def tokenizer(internvl_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(internvl_dir)


@pytest.fixture(scope="module")
def processor_outputs(tmp_path_factory, internvl_dir):
    root = tmp_path_factory.mktemp("tv_standin_internvl")
    for rel, text in TV_STANDIN.items():
        if rel == "transforms/v2/functional.py":
            text = text.replace("        resize = pad = crop = _refuse\n", TV_RESIZE)
        p = root / "torchvision" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    d = tmp_path_factory.mktemp("internvl_cases")
    wide = sample_video(make_testsrc(d / "wide.mp4", seconds=3, fps="10", size=(90, 160)))  # resized to the tile
    at_tile = SampledVideo(frames=np.random.default_rng(0).integers(0, 256, (3, 56, 56, 3), dtype=np.uint8),
                           timestamps=np.array([0.25, 1.0, 7.75]), sample_fps=0.4)  # already the tile size
    cases = {"wide": wide, "at_tile": at_tile}
    for name, s in cases.items():
        np.save(d / f"{name}.npy", s.frames)
    (d / "cases.json").write_text(json.dumps(list(cases)))
    env = {"PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", PROCESSOR_SCRIPT, str(internvl_dir), str(d)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    texts = json.loads(run.stdout.strip().splitlines()[-1])
    return {n: (s, torch.load(d / f"{n}.pt"), *texts[n]) for n, s in cases.items()}


@pytest.mark.parametrize("name", ["wide", "at_tile"])
def test_pixels_and_prompt_equal_transformers_processor(processor_outputs, adapter, tokenizer, name):
    sampled, expected, text, hf_text = processor_outputs[name]
    ours = adapter.video_inputs(sampled)
    assert ours["pixel_values"].dtype == torch.float32 and ours["pixel_values"].shape == (sampled.num_frames, 3, 56, 56)
    assert torch.equal(ours["pixel_values"], expected["pixel_values"])
    # uint8 kept for the prefetch queue, normalised in video_kwargs: the same values
    kept = adapter.video_inputs(sampled, normalize=False)
    assert kept["pixel_values"].dtype == torch.uint8
    ids = torch.zeros(1, 3, dtype=torch.long)
    assert torch.equal(adapter.video_kwargs([kept], ids)["pixel_values"], expected["pixel_values"])
    # our prompt is transformers' with each frame's time added: without " at {t} s" it is the same text and ids
    expanded = adapter.expand_prompt(text, ours)
    times = re.findall(r"Frame\d+ at (\d+\.\d) s: ", expanded)
    assert times == [f"{t:.1f}" for t in sampled.timestamps]
    untimed = re.sub(r"(Frame\d+) at \d+\.\d s:", r"\1:", expanded)
    assert untimed == hf_text
    assert tokenizer(untimed, add_special_tokens=False)["input_ids"] == expected["input_ids"][0].tolist()
    n_ctx = int((expected["input_ids"] == adapter.image_token_id).sum())
    assert ours["num_video_tokens"] == n_ctx == sampled.num_frames * adapter.config.image_seq_length


def test_prompt_interleaves_each_frames_time(adapter):
    ctx = "<img>" + "<IMG_CONTEXT>" * 4 + "</img>"
    video = {"timestamps": [0.0, 0.5, 12.25, 61.0]}
    out = adapter.expand_prompt("<|im_start|>user\n<video>\nWhen?", video)
    assert out == ("<|im_start|>user\n"
                   f"Frame1 at 0.0 s: {ctx}\nFrame2 at 0.5 s: {ctx}\nFrame3 at 12.2 s: {ctx}\nFrame4 at 61.0 s: {ctx}"
                   "\nWhen?")
    assert frames_text([3.0], 2, image="<IMG_CONTEXT>") == "Frame1 at 3.0 s: <IMG_CONTEXT>"
    with pytest.raises(Timer1Error, match="exactly one <video>"):
        adapter.expand_prompt("no placeholder", video)


@pytest.mark.parametrize("layout", ["default", "timer1-train"])
def test_trainer_ids_equal_the_eval_prompt_ids(adapter, tokenizer, layout):
    # the trainer expands token ids, the hf backend expands text: both must give the model the same ids
    text = render_prompt(tokenizer, build_messages("a person opens the door", "r1", layout))
    video = {"timestamps": [0.0, 1.04, 2.08]}
    from_text = tokenizer(adapter.expand_prompt(text, video), add_special_tokens=False)["input_ids"]
    from_ids = adapter.expand_prompt_ids(tokenizer(text, add_special_tokens=False)["input_ids"], video, tokenizer)
    assert from_ids == from_text
    assert from_text.count(adapter.image_token_id) == 3 * adapter.tokens_per_frame


def test_frames_must_have_their_times():
    bad = SampledVideo(frames=np.zeros((2, 30, 40, 3), np.uint8), timestamps=np.zeros(3), sample_fps=2.0)
    with pytest.raises(Timer1Error, match="2 frames but 3 timestamps"):
        internvl_video_inputs(bad, tile=(56, 56), per_frame=4)


def test_tiny_model_loads_offline_with_the_familys_tokens(internvl_dir, adapter, tokenizer):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(internvl_dir)
    assert cfg.model_type == "internvl" and type(adapter).__name__ == "InternVLAdapter"
    assert cfg.text_config.head_dim >= 32 and cfg.vision_config.hidden_size // cfg.vision_config.num_attention_heads >= 32
    for name in ("<img>", "</img>", "<IMG_CONTEXT>", "<video>", "<|im_end|>"):
        assert len(tokenizer(name, add_special_tokens=False)["input_ids"]) == 1, name
    assert tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>") == cfg.image_token_id
    assert tokenizer.convert_tokens_to_ids("<video>") == adapter.video_token_id
    assert (tokenizer.start_image_token, tokenizer.context_image_token, tokenizer.video_token) == (
        "<img>", "<IMG_CONTEXT>", "<video>")  # what transformers' InternVLProcessor reads
    assert adapter.tokens_per_frame == cfg.image_seq_length == 4
    assert adapter.sampling_factors() == {"frame_factor": 1, "image_factor": 28}


def test_video_token_id_comes_from_the_tokenizer_when_the_config_has_none(internvl_dir, tokenizer):
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(internvl_dir)
    del cfg.video_token_id  # what a real -hf checkpoint's config looks like
    assert not hasattr(cfg, "video_token_id")
    assert adapter_for(cfg).video_token_id == tokenizer.convert_tokens_to_ids("<video>")


def _generate(model, adapter, tokenizer, sampled):
    text = adapter.expand_prompt(render_prompt(tokenizer, build_messages("the dog runs", "r1")),
                                 video := adapter.video_inputs(sampled))
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False,
                             **adapter.video_kwargs([video], ids))
    return out[0, ids.shape[1]:].tolist()


def test_greedy_hf_output_is_deterministic_and_follows_the_video(internvl_dir, adapter, tokenizer):
    model = adapter.model_class().from_pretrained(internvl_dir, dtype=torch.float32).eval()
    rng = np.random.default_rng(1)
    a = SampledVideo(frames=rng.integers(0, 256, (4, 70, 90, 3), dtype=np.uint8), timestamps=np.arange(4) / 2,
                     sample_fps=2.0)
    b = SampledVideo(frames=255 - a.frames, timestamps=a.timestamps, sample_fps=2.0)
    first = _generate(model, adapter, tokenizer, a)
    assert len(first) == 8 and _generate(model, adapter, tokenizer, a) == first
    assert _generate(model, adapter, tokenizer, b) != first, "the output must depend on the frames"


def test_vllm_request_sends_frames_as_images_after_their_time_lines(adapter, tokenizer):
    # built only (no vLLM here): vLLM's InternVL processor expands each <IMG_CONTEXT> to <img>…</img> itself
    text = render_prompt(tokenizer, build_messages("the dog runs", "r1"))
    sampled = SampledVideo(frames=np.zeros((3, 70, 90, 3), np.uint8), timestamps=np.array([0.0, 2.0, 4.0]),
                           sample_fps=0.5)
    req = adapter.vllm_request(tokenizer(text, add_special_tokens=False)["input_ids"], sampled)
    assert "<video>" not in req["prompt"] and req["prompt"].count("<IMG_CONTEXT>") == 3
    assert "Frame1 at 0.0 s: <IMG_CONTEXT>\nFrame2 at 2.0 s: <IMG_CONTEXT>\nFrame3 at 4.0 s: <IMG_CONTEXT>" in req["prompt"]
    assert [im.shape for im in req["multi_modal_data"]["image"]] == [(56, 56, 3)] * 3
    assert req["mm_processor_kwargs"] == {"crop_to_patches": False}
    assert adapter.vllm_mm_limits["image"] >= 768 and adapter.vllm_mm_limits["video"] == 0


def test_unknown_type_names_internvl():
    with pytest.raises(Timer1Error, match=r"InternVL3/3.5 \(internvl\)"):
        adapter_class("llava_next_video")


def test_eval_run_end_to_end(tmp_path, internvl_dir):
    synth = tmp_path / "synth"
    res = CliRunner().invoke(cli, ["data", "synth", "--videos", "1", "-o", str(synth)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "eval", "run", "--split", str(synth), "--model", str(internvl_dir), "--out", str(out), "--quiet",
        "--limit", "2", "--max-new-tokens", "4", "--fps", "1", "--total-pixels", str(192 * 28 * 28),
        "--max-pixels", str(64 * 28 * 28), "--bootstrap", "0", "--threads", "1"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(r["error"] is None and r["n_tokens"] == 4 for r in lines)
    assert all(r["video"]["video_tokens"] == 4 * r["video"]["n_frames"] for r in lines)
    backend = json.loads((out / "run.json").read_text())["backend"]
    assert backend["video_time_encoding"].startswith("interleaved text") and backend["frame_tile"] == [56, 56]


# -- GRPO: two steps, the video (pixels and frame times) in every forward pass ------------------------
CLIPS = {"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [0.5, 2.5, 4.5]}  # frame times per training row


def fake_video_inputs(row):
    times = CLIPS[row["qid"]]
    gen = torch.Generator().manual_seed(len(times))
    return {"pixel_values": torch.randn(len(times), 3, 56, 56, generator=gen), "timestamps": times,
            "num_video_tokens": 4 * len(times)}


def digit_share(prompts=None, completions=(), **kw):
    """Shaping reward for a random model: non-zero advantages, hence real gradients."""
    return [sum(ch.isdigit() for ch in c) / max(1, len(c)) for c in completions]


def make_trainer(model_dir, out, **overrides):
    from datasets import Dataset
    from trl import GRPOConfig

    from trainer.model import freeze_vision, load_policy
    from trainer.video_grpo import VideoGRPOTrainer

    model, tok = load_policy(str(model_dir))
    freeze_vision(model, train_merger=True)
    rows = [{"prompt": render_prompt(tok, build_messages(q, "r1", "timer1-train")), "qid": qid}
            for qid, q in (("a", "a person opens the door"), ("b", "the dog runs"))]
    kw = dict(output_dir=str(out), per_device_train_batch_size=8, num_generations=4, max_completion_length=8,
              max_steps=2, num_iterations=2, use_cpu=True, bf16=False, report_to="none", beta=0.04,
              learning_rate=5e-2, save_strategy="no", gradient_accumulation_steps=1, loss_type="bnpo",
              logging_steps=1, seed=0)
    kw.update(overrides)
    return VideoGRPOTrainer(model=model, reward_funcs=[digit_share], args=GRPOConfig(**kw),
                            train_dataset=Dataset.from_list(rows), processing_class=tok, video_inputs=fake_video_inputs)


def test_two_grpo_steps_see_pixels_and_frame_times_in_every_pass(internvl_dir, tmp_path):
    tr = make_trainer(internvl_dir, tmp_path)
    tok, ctx_id = tr.processing_class, tr.adapter.image_token_id
    assert {tok.convert_tokens_to_ids("<video>"), ctx_id} <= set(tr.generation_config.suppress_tokens)
    clip_of = {round(float(fake_video_inputs({"qid": q})["pixel_values"].sum()), 2): q for q in CLIPS}
    calls = []

    def record(kind):
        def hook(module, args, kwargs):
            pixels = kwargs.get("pixel_values")
            if pixels is None:  # later decoding steps reuse the KV cache
                return
            ids = kwargs["input_ids"]
            rows = []
            for row in ids.tolist():
                times = [float(t) for t in re.findall(r"Frame\d+ at (\d+\.\d) s:", tok.decode(row))]
                rows.append((times, row.count(ctx_id)))
            calls.append((kind, torch.is_grad_enabled(), ids.shape[1], rows, pixels.shape[0], pixels))
        return hook

    tr.model.model.register_forward_pre_hook(record("policy"), with_kwargs=True)
    tr.ref_model.model.register_forward_pre_hook(record("ref"), with_kwargs=True)
    tower = {n: p.detach().clone() for n, p in tr.model.model.vision_tower.named_parameters()}
    projector = {n: p.detach().clone() for n, p in tr.model.model.multi_modal_projector.named_parameters()}
    tr.train()
    assert tr.state.global_step == 2
    no_grad = [c for c in calls if c[0] == "policy" and not c[1]]
    prompt_len = min(c[2] for c in no_grad)
    kinds = {"rollout": [c for c in no_grad if c[2] == prompt_len], "old": [c for c in no_grad if c[2] > prompt_len],
             "loss": [c for c in calls if c[0] == "policy" and c[1]], "ref": [c for c in calls if c[0] == "ref"]}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    for kind, group in kinds.items():
        for _, _, _, rows, n_frames, pixels in group:
            # every row's prompt lists its clip's frame times, and its pixels are that clip's frames, in row order
            assert all(times in CLIPS.values() and n_ctx == 4 * len(times) for times, n_ctx in rows), kind
            assert n_frames == sum(len(times) for times, _ in rows), kind
            start = 0
            for times, _ in rows:
                block = pixels[start:start + len(times)]
                start += len(times)
                assert CLIPS[clip_of[round(float(block.sum()), 2)]] == times, f"{kind}: a row got another clip's frames"
    params = dict(tr.model.model.vision_tower.named_parameters())
    assert all(torch.equal(params[n].detach(), v) for n, v in tower.items()), "the vision tower must stay frozen"
    params = dict(tr.model.model.multi_modal_projector.named_parameters())
    assert any(not torch.equal(params[n].detach(), v) for n, v in projector.items()), "the projector must train"
