"""SFT and SFT-LoRA (trainer/video_sft.py) on CPU: completion-only labels, the video in every forward pass for
every family, exact resume, adapters that load in ``eval run``, GRPO starting from an SFT output."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from test_trainer_cli import run_cli, sets
from tvgbench.core.errors import Timer1Error

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg binary not on PATH")

FAMILIES = ["qwen2_5_vl", "qwen3_vl", "qwen3_5", "internvl"]
# the short variant of the tiny SFT recipes: one synthetic video, few frames, two steps, a checkpoint each
SHORT = ["data.synthetic.n_videos=1", "video.max_frames=4", "trl.max_steps=2", "trl.save_steps=1"]
COMPLETION = "<think></think><answer>{start:.2f} to {end:.2f}</answer>"


@pytest.fixture(scope="module")
def one_video(tmp_path_factory) -> Path:
    from tvgbench.data.synth import make_synthetic

    out = tmp_path_factory.mktemp("sft_synth")
    make_synthetic(out, n_videos=1, seed=0, max_duration=30.0, split="train")
    return out


@pytest.fixture(scope="module")
def family_models(tmp_path_factory):
    """model_type -> a tiny random checkpoint folder of that family, built on first use."""
    from tvgbench.models import adapter_class

    root, built = tmp_path_factory.mktemp("sft_families"), {}

    def get(model_type: str) -> Path:
        if model_type not in built:
            built[model_type] = Path(adapter_class(model_type).build_tiny(root / model_type, seed=0))
        return built[model_type]

    return get


def _provider(model_dir: Path, split_dir: Path):
    """(model, tokenizer, adapter, samples, VideoInputs) as train_round builds them."""
    from trainer.config import TrainConfig, sampling_config
    from trainer.model import load_policy
    from trainer.train import VideoInputs
    from tvgbench.core.splits import load_split
    from tvgbench.models import adapter_for

    model, tok = load_policy(str(model_dir), "float32")
    adapter = adapter_for(model.config)
    cfg = TrainConfig()
    cfg.video.max_frames, cfg.video.fps, cfg.video.total_pixels = 4, 0.5, 12544
    sampling = dataclasses.replace(sampling_config(cfg), **adapter.sampling_factors())
    samples = load_split(split_dir, "train").samples
    return model, tok, adapter, samples, VideoInputs(samples, split_dir, "crop", sampling, adapter=adapter)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_labels_are_the_completion_only_and_the_video_tokens_are_masked(model_type, family_models, one_video):
    from trainer.train import build_rows
    from trainer.video_sft import IGNORE_INDEX, VideoSFTCollator, sft_rows

    model, tok, adapter, samples, provider = _provider(family_models(model_type), one_video)
    rows = sft_rows(build_rows(samples[:2], tok, "r1", "timer1-train"), COMPLETION)
    batch = VideoSFTCollator(provider, adapter, tok)(rows)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    eot = tok.convert_tokens_to_ids(adapter.tokens.stop[0])
    for i, (row, sample) in enumerate(zip(rows, samples[:2], strict=True)):
        kept = labels[i] != IGNORE_INDEX
        first = int(kept.nonzero()[0])
        # everything before the completion is masked: the chat prompt and every video token
        video = provider(row)
        assert not kept[:first].any() and first > int(video["num_video_tokens"]) > 0
        # the kept labels are the input ids of the answer written from the true span, then the end of turn
        n = int(mask[i].sum())
        assert bool(kept[first:n].all()) and not kept[n:].any() and torch.equal(labels[i, first:n], ids[i, first:n])
        start, end = sample.span
        assert tok.decode(ids[i, first:n - 1]) == f"<think></think><answer>{start:.2f} to {end:.2f}</answer>"
        assert int(ids[i, n - 1]) == eot
        # the prompt part is exactly what the evaluation's hf backend feeds (the adapter's expansion)
        prompt_ids = tok(row["prompt"], add_special_tokens=False)["input_ids"]
        assert ids[i, :first].tolist() == adapter.expand_prompt_ids(prompt_ids, video, tok)
    assert set(adapter.video_keys) <= set(batch)


@pytest.mark.parametrize("model_type", FAMILIES)
def test_every_forward_pass_gets_the_video_and_the_loss_is_on_the_answer(model_type, family_models, tmp_path):
    """Two SFT steps through run_training; a forward pre-hook sees the family's video tensors in each pass."""
    from trainer.config import load_config
    from trainer.train import run_training
    from trainer.video_sft import VideoSFTTrainer

    seen = []

    class Recorded(VideoSFTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.model.register_forward_pre_hook(self._record, with_kwargs=True)

        def _record(self, module, args, kwargs):
            seen.append({k: v for k, v in kwargs.items() if k in self.adapter.video_keys or k == "labels"})

    model_dir = family_models(model_type)
    cfg = load_config("tiny-cpu-sft", [*SHORT, f"model.path={model_dir}", "trl.save_steps=10"])
    run = run_training(cfg, tmp_path / "run", trainer_cls=Recorded)
    assert run["steps"] == 2 and len(seen) == 2
    from tvgbench.models import adapter_class

    keys = adapter_class(json.loads((model_dir / "config.json").read_text())["model_type"]).video_keys
    for kwargs in seen:
        assert set(keys) <= set(kwargs) and all(kwargs[k].numel() > 0 for k in keys)
        assert (kwargs["labels"] != -100).sum() > 0
    log = [json.loads(x) for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert all(e["loss"] > 0 for e in log if "loss" in e)


def test_a_batch_without_its_video_is_refused(family_models, one_video):
    from trainer.video_sft import VideoSFTTrainer

    trainer = VideoSFTTrainer.__new__(VideoSFTTrainer)
    trainer.adapter = _provider(family_models("qwen2_5_vl"), one_video)[2]
    with pytest.raises(Timer1Error, match="pixel_values_videos"):
        trainer.compute_loss(None, {"input_ids": torch.zeros(1, 3, dtype=torch.long)})


def test_the_trl_version_is_checked(monkeypatch):
    import trl

    from trainer.video_sft import VideoSFTTrainer

    monkeypatch.setattr(trl, "__version__", "9.9.9")
    with pytest.raises(Timer1Error, match="installed trl is 9.9.9"):
        VideoSFTTrainer(model=None, video_inputs=None)


@pytest.fixture(scope="module")
def sft_runs(tmp_path_factory):
    """``timer1 train --recipe tiny-cpu-sft`` and ``tiny-cpu-sft-lora``, two steps each (a checkpoint per step)."""
    root, runs = tmp_path_factory.mktemp("sft_runs"), {}
    for kind, recipe in (("full", "tiny-cpu-sft"), ("lora", "tiny-cpu-sft-lora")):
        r = run_cli("train", "--recipe", recipe, "-o", str(root / kind), *sets(*SHORT))
        assert r.returncode == 0, r.stderr[-3000:]
        runs[kind] = root / kind
    return runs


def _train(recipe: str, out: Path, overrides: list[str], resume=None) -> dict:
    from trainer.config import load_config
    from trainer.train import run_training

    return run_training(load_config(recipe, overrides, runnable=True), out, resume=resume)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    name = "adapter_model.safetensors" if (folder / "adapter_config.json").exists() else "model.safetensors"
    return load_file(folder / name)


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_resume_gives_the_same_final_weights_as_an_uninterrupted_run(kind, sft_runs, tmp_path):
    full = sft_runs[kind]
    recipe = "tiny-cpu-sft" if kind == "full" else "tiny-cpu-sft-lora"
    step1, final = _weights(full / "checkpoint-1"), _weights(full / "final")
    assert any(not torch.equal(step1[k], final[k]) for k in final), "step 2 changed nothing: resume would prove nothing"
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed, ignore=shutil.ignore_patterns("checkpoint-2", "final", "run.json"))
    # a subprocess like the uninterrupted run: in-process, torch state other tests left (threads) changes sums
    r = run_cli("train", "--recipe", recipe, "-o", str(resumed), *sets(*SHORT), "--resume")
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads((resumed / "run.json").read_text())
    assert run["resumed_from"].endswith("checkpoint-1") and run["steps"] == 2
    again = _weights(resumed / "final")
    assert again.keys() == final.keys()
    assert max((again[k] - final[k]).abs().max().item() for k in final) == 0.0


def test_full_sft_trains_the_merger_and_llm_not_the_encoder_and_writes_a_real_card(sft_runs):
    run = sft_runs["full"]
    trained, initial = _weights(run / "final"), _weights(run / "tiny-model")
    assert any(not torch.equal(trained[k], initial[k]) for k in trained if ".merger." in k)
    assert any(not torch.equal(trained[k], initial[k]) for k in trained if "language_model" in k or "layers" in k)
    assert all(torch.equal(trained[k], initial[k]) for k in trained if ".visual.blocks." in k)
    card = (run / "final" / "README.md").read_text()
    assert "- sft\n" in card and "full SFT" in card and "true span" in card and "mean_token_accuracy" in card
    assert "grpo" not in card.split("---")[1]


def test_lora_adapter_names_its_base_trains_the_merger_and_both_folders_load_in_eval_run(sft_runs, tmp_path):
    run = sft_runs["lora"]
    adapter = json.loads((run / "final" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((run / "tiny-model").resolve())
    assert adapter["modules_to_save"] == ["model.visual.merger"]
    merged, base = _weights(run / "final" / "merged"), _weights(run / "tiny-model")
    assert merged.keys() == base.keys()
    assert any(not torch.equal(merged[k], base[k]) for k in merged if ".merger." in k)
    assert any(not torch.equal(merged[k], base[k]) for k in merged if "layers" in k and "q_proj" in k)
    assert all(torch.equal(merged[k], base[k]) for k in merged if ".visual.blocks." in k)
    assert "library_name: peft" in (run / "final" / "README.md").read_text()
    texts = {}
    for name, model in (("adapter", run / "final"), ("merged", run / "final" / "merged")):
        out = tmp_path / name
        r = run_cli("eval", "run", "--split", str(run / "synthetic"), "--video-root", str(run / "synthetic"),
                    "--model", str(model), "--backend", "hf", "--out", str(out), "--limit", "2",
                    "--max-new-tokens", "6")
        assert r.returncode == 0, r.stderr[-3000:]
        texts[name] = [json.loads(x)["text"] for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(texts["adapter"]) == 2 and texts["adapter"] == texts["merged"]


@pytest.mark.parametrize("kind", ["full", "lora"])
def test_grpo_starts_from_an_sft_output(kind, sft_runs, tmp_path):
    start = sft_runs[kind] / "final"
    grpo = ["trl.num_generations=2", "trl.per_device_train_batch_size=2", "trl.max_completion_length=4",
            "video.max_frames=4", "trl.max_steps=1", "trl.save_steps=1", "data.synthetic.n_videos=1"]
    out = tmp_path / "grpo"
    assert _train("tiny-cpu", out, [*grpo, f"model.path={start}"])["steps"] == 1
    if kind == "lora":  # the adapter merged once into the starting point the policy and the reference load
        begun, sft_merged = _weights(out / "start-model"), _weights(start / "merged")
        assert all(torch.equal(begun[k], sft_merged[k]) for k in sft_merged)
    trained = _weights(out / "final")
    assert trained.keys() == _weights(start / "merged" if kind == "lora" else start).keys()


def test_sft_recipes_resolve_and_refuse_what_sft_cannot_do():
    from trainer.config import load_config

    for name in ("tiny-cpu-sft", "tiny-cpu-sft-lora", "finetune-sft", "finetune-sft-lora"):
        cfg = load_config(name)
        assert cfg.paradigm == "sft" and cfg.lora.enabled == name.endswith("lora")
    assert load_config("tiny-cpu").paradigm == "grpo"
    with pytest.raises(Timer1Error, match="not SFTConfig fields"):
        load_config("tiny-cpu-sft", ["trl.num_generations=4"])
    with pytest.raises(Timer1Error, match="trl.remove_unused_columns is set by timer1"):
        load_config("tiny-cpu-sft", ["trl.remove_unused_columns=true"])
    with pytest.raises(Timer1Error, match="sample_filter"):
        load_config("tiny-cpu-sft", ["sample_filter.enabled=true"])
    with pytest.raises(Timer1Error, match="paradigm must be one of grpo, sft"):
        load_config("tiny-cpu", ["paradigm=dpo"])


@pytest.mark.parametrize("model_type", FAMILIES)
def test_lora_trains_each_familys_projector_whole(model_type, family_models):
    from trainer.model import load_policy, projector_names
    from tvgbench.models import adapter_for

    model, _ = load_policy(str(family_models(model_type)), "float32")
    names = projector_names(model)
    modules = dict(model.named_modules())
    _, projector = adapter_for(model.config).vision_parts(model)
    assert {id(p) for name in names for p in modules[name].parameters()} == {id(p) for p in projector.parameters()}


@pytest.mark.parametrize("name", ["tiny-cpu-sft", "tiny-cpu-sft-lora", "finetune-sft", "finetune-sft-lora"])
def test_every_sft_recipe_builds_an_sft_config(name, tmp_path):
    from trainer.config import load_config
    from trainer.video_sft import sft_args

    cfg = load_config(name, ["trl.use_cpu=true", "trl.bf16=false", "trl.gradient_checkpointing=false"])
    args = sft_args(cfg.trl, tmp_path)
    assert args.remove_unused_columns is False and args.dataset_kwargs == {"skip_prepare_dataset": True}
    assert args.learning_rate == cfg.trl["learning_rate"]


def test_upstream_sft_trainer_still_trains_a_video_model_on_text_alone(family_models, one_video, tmp_path):
    """Why VideoSFTTrainer exists: stock SFTTrainer given the same prompt/completion rows tokenises the text
    and runs the forward pass with no video tensors (the <|video_pad|> is one text token). When this fails,
    upstream passes video itself: revisit trainer/video_sft.py."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from trainer.train import build_rows
    from trainer.video_sft import sft_rows

    model, tok, adapter, samples, _ = _provider(family_models("qwen2_5_vl"), one_video)
    rows = [{"prompt": r["prompt"], "completion": r["completion"]}
            for r in sft_rows(build_rows(samples[:2], tok, "r1", "timer1-train"), COMPLETION)]
    seen = []
    model.register_forward_pre_hook(lambda m, a, kw: seen.append(set(kw)), with_kwargs=True)
    args = SFTConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2, use_cpu=True,
                     report_to="none", save_strategy="no", logging_steps=1)
    SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok).train()
    assert seen and not any(set(adapter.video_keys) & keys for keys in seen)


def test_a_lora_run_killed_before_final_is_completed_from_its_last_checkpoint(sft_runs, tmp_path):
    run = tmp_path / "killed"
    shutil.copytree(sft_runs["lora"], run, ignore=shutil.ignore_patterns("final", "run.json"))
    assert _train("tiny-cpu-sft-lora", run, SHORT, resume=True)["train_seconds"] == 0.0  # nothing left to train
    adapter = json.loads((run / "final" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str((run / "tiny-model").resolve())
    again, first = _weights(run / "final"), _weights(sft_runs["lora"] / "final")
    assert again.keys() == first.keys() and all(torch.equal(again[k], first[k]) for k in first)
    rebuilt, merged = _weights(run / "final" / "merged"), _weights(sft_runs["lora"] / "final" / "merged")
    assert all(torch.equal(rebuilt[k], merged[k]) for k in merged)
