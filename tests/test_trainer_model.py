"""Loading the policy on the machine at hand: the attention kernel, precision hints (fast: the tiny model)."""

from __future__ import annotations

import pytest

from tvgbench.core.errors import Timer1Error


def test_flash_attention_recipe_loads_with_sdpa_on_cpu_and_says_so(tiny_model_dir, capsys):
    """The GPU recipes ask for flash_attention_2; on a CPU that is an ImportError inside transformers."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from trainer.model import load_policy

    model, _ = load_policy(str(tiny_model_dir), "float32", "flash_attention_2")
    assert model.config._attn_implementation == "sdpa"
    notice = [ln for ln in capsys.readouterr().err.splitlines() if "flash_attention_2" in ln]
    assert len(notice) == 1 and "sdpa" in notice[0] and "model.attn_implementation" in notice[0]


@pytest.mark.parametrize("requested, cuda, flash_attn, expected", [
    ("flash_attention_2", False, False, "sdpa"),
    ("flash_attention_2", False, True, "sdpa"),
    ("flash_attention_2", True, True, "flash_attention_2"),
    ("sdpa", False, False, "sdpa"),
    ("eager", True, False, "eager"),
    (None, False, False, None),
])
def test_attention_choice(requested, cuda, flash_attn, expected):
    from trainer.model import choose_attention

    chosen, notice = choose_attention(requested, cuda=cuda, flash_attn_installed=flash_attn)
    assert chosen == expected and (notice is None) == (chosen == requested)


def test_flash_attention_on_a_gpu_without_the_package_names_the_setting():
    from trainer.model import choose_attention

    with pytest.raises(Timer1Error, match="model.attn_implementation=sdpa") as e:
        choose_attention("flash_attention_2", cuda=True, flash_attn_installed=False)
    assert "flash-attn" in str(e.value)


def test_bf16_on_a_cpu_names_the_settings_to_change(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    from trainer.config import load_config
    from trainer.rewards import resolve_rewards
    from trainer.train import grpo_args

    cfg = load_config("timer1-posttrain", ["trl.report_to=none", "trl.gradient_checkpointing=false"])
    with pytest.raises(Timer1Error, match=r"--set trl.bf16=false --set trl.use_cpu=true"):
        grpo_args(cfg, tmp_path, resolve_rewards(cfg.rewards)[1])


def _run_record(**changes):
    run = {"recipe": "timer1-posttrain", "model": "Qwen/Qwen2.5-VL-3B-Instruct", "split": "/data/splits/timerft",
           "split_name": "train", "split_hash": "sha256:" + "ab" * 32, "window_mode": "crop", "n_records": 2500,
           "video_root": "/data/timerft",
           "missing_videos": 3, "steps": 1563, "final": "/runs/r1/final", "train_seconds": 3600.0,
           "metrics": {"train_loss": 0.0123}, "resumed_from": None,
           "versions": {"torch": "2.13.0", "transformers": "5.17.0", "trl": "1.16.0"}}
    return {**run, **changes}


def test_model_card_names_base_model_recipe_split_rewards_steps_and_how_to_evaluate(tmp_path):
    from huggingface_hub import ModelCard

    from trainer.config import load_config
    from trainer.model_card import write_model_card

    cfg = load_config("timer1-posttrain", ["data.split_dir=/data/splits/timerft", "data.video_root=/data/timerft"])
    log = [{"step": 1563, "reward": 1.42, "rewards/iou_v2/mean": 0.61, "rewards/format/mean": 0.81, "loss": 0.01}]
    write_model_card(tmp_path / "README.md", cfg, _run_record(), log)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model == "Qwen/Qwen2.5-VL-3B-Instruct" and card.data.library_name == "transformers"
    assert {"timer1", "temporal-video-grounding", "grpo"} <= set(card.data.tags)
    text = card.text
    for wanted in ("timer1-posttrain", "sha256:" + "ab" * 32, "iou_v2", "1563", "0.61", "2500",
                   "timer1 eval run --split /data/splits/timerft --video-root /data/timerft --model /runs/r1/final",
                   "--prompt r1", "timer1 eval score"):
        assert wanted in text, wanted
    assert "None" not in text and "licence" not in str(card)


def test_model_card_of_a_local_base_model_has_no_hub_base_model(tmp_path, tiny_model_dir):
    from huggingface_hub import ModelCard

    from trainer.config import load_config
    from trainer.model_card import write_model_card

    cfg = load_config("tiny-cpu")
    write_model_card(tmp_path / "README.md", cfg, _run_record(model=str(tiny_model_dir), recipe="tiny-cpu"), [])
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.base_model is None and str(tiny_model_dir) in card.text  # base_model must be a Hub id
