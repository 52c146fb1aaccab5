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
