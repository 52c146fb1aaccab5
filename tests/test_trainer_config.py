"""Recipes, the config schema, --set overrides and the sample-filter rule (fast: no model)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from trainer import config as tc
from trainer.sample_filter import difficulty_ious, keep_rule
from tvgbench.errors import Timer1Error
from tvgbench.schema import Sample

RECIPES = ["timer1-posttrain", "timer1-posttrain-sf", "finetune-charades", "finetune-activitynet", "tiny-cpu"]


def test_all_reference_recipes_ship_and_validate_against_the_schema():
    assert set(RECIPES) <= set(tc.recipe_names())
    schema = tc.config_schema()
    for name in tc.recipe_names():
        data = tc.load_recipe_dict(name)
        jsonschema.validate(data, schema)
        cfg = tc.load_config(name)
        assert cfg.name == name and cfg.description


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_builds_a_grpo_config(name, tmp_path):
    from trainer.rewards import resolve_rewards
    from trainer.train import grpo_args

    cfg = tc.load_config(name, ["trl.use_cpu=true", "trl.bf16=false", "trl.gradient_checkpointing=false"])
    _, weights = resolve_rewards(cfg.rewards)
    args = grpo_args(cfg, tmp_path, weights)
    assert args.num_generations == cfg.trl["num_generations"] and list(args.reward_weights) == weights


def test_posttrain_recipe_has_the_paper_settings():
    cfg = tc.load_config("timer1-posttrain")
    t = cfg.trl
    assert (t["num_generations"], t["beta"], t["learning_rate"], t["num_train_epochs"]) == (8, 0.04, 1e-6, 5)
    assert (t["max_completion_length"], t["temperature"], t["gradient_accumulation_steps"]) == (200, 1.0, 2)
    assert cfg.rewards == {"iou_v2": 1.0, "format": 1.0}
    assert cfg.model.freeze_vision and cfg.model.train_merger and not cfg.lora.enabled
    assert (cfg.video.fps, cfg.video.total_pixels, cfg.video.min_pixels) == (2.0, 3584 * 28 * 28, 16 * 28 * 28)
    sf = tc.load_config("timer1-posttrain-sf")
    assert sf.sample_filter.enabled and (sf.sample_filter.keep_min, sf.sample_filter.keep_max) == (0.0, 0.7)
    assert sf.trl["max_completion_length"] == 200 and sf.trl["beta"] == 0.04  # inherited via extends
    ft = tc.load_config("finetune-charades")
    assert ft.rewards == {"iou": 1.0, "format": 1.0} and ft.trl["beta"] == 0.0 and ft.trl["num_train_epochs"] == 2


def test_set_overrides_are_typed_and_nested():
    cfg = tc.load_config("tiny-cpu", ["trl.max_steps=5", "rewards={iou: 1, format: 0.5}", "video.fps=1",
                                      "sample_filter.enabled=true", "data.limit=3"])
    assert cfg.trl["max_steps"] == 5 and cfg.rewards == {"iou": 1, "format": 0.5}
    assert cfg.video.fps == 1.0 and isinstance(cfg.video.fps, float)
    assert cfg.sample_filter.enabled is True and cfg.data.limit == 3


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.dtype=3", "model.dtype"),
        ("bogus.x=1", "Additional properties"),
        ("trl.not_a_grpo_option=1", "not_a_grpo_option"),
        ("trl.output_dir=x", "set by timer1"),
        ("rewards.accuracy=1", "unknown reward"),
        ("sample_filter.keep_max=1.5", "keep_max"),
        ("trl.use_vllm=true", "vLLM"),
        ("data.limit=many", "data.limit"),
        ("novalue", "key=value"),
    ],
)
def test_bad_configs_are_one_line_user_errors(override, message):
    with pytest.raises(Timer1Error, match=message) as e:
        tc.load_config("tiny-cpu", [override])
    assert "\n" not in str(e.value)


def test_recipe_files_extend_and_cycles_are_caught(tmp_path):
    child = tmp_path / "mine.yaml"
    child.write_text("extends: timer1-posttrain\nname: mine\ndescription: x\ntrl:\n  max_steps: 7\n")
    cfg = tc.load_config(str(child))
    assert cfg.name == "mine" and cfg.trl["max_steps"] == 7 and cfg.trl["beta"] == 0.04
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"extends: {loop}\n")
    with pytest.raises(Timer1Error, match="cycle"):
        tc.load_config(str(loop))
    with pytest.raises(Timer1Error, match="not found"):
        tc.load_config(str(tmp_path / "missing.yaml"))


def test_sf_keep_rule_is_timerfts_open_closed_interval():
    assert [keep_rule(x) for x in (0.0, 1e-9, 0.3, 0.7, 0.7000001, 1.0, float("nan"))] == [
        False, True, True, True, False, False, False]


def test_difficulty_ious_parse_like_timer1s_difficulty_pass(tmp_path):
    samples = [Sample(video=f"v{i}.mp4", query=f"q{i}", span=(2.0, 4.0), duration=10.0, source="t") for i in range(4)]
    lines = [
        {"qid": samples[0].qid, "text": "<think>1 to 9</think><answer>2 to 4</answer>"},  # last range: exact
        {"qid": samples[1].qid, "text": "the event is 2, then 3 maybe"},  # force parser: first two numbers
        {"qid": samples[2].qid, "text": "no idea"},  # unparsable -> 0
    ]  # samples[3] missing -> 0
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ious = difficulty_ious(path, samples)
    assert ious[samples[0].qid] == 1.0 and ious[samples[1].qid] == pytest.approx(0.5)
    assert ious[samples[2].qid] == 0.0 and ious[samples[3].qid] == 0.0


def test_shipped_launch_configs_parse_and_point_at_existing_deepspeed_files():
    import yaml

    launch = tc.RECIPES_DIR.parent / "launch"
    stages = {json.loads((launch / f"{n}.json").read_text())["zero_optimization"]["stage"]
              for n in ("zero2", "zero3", "zero3_offload")}
    assert stages == {2, 3}
    for acc in launch.glob("accelerate_*.yaml"):
        cfg = yaml.safe_load(acc.read_text())
        assert cfg["num_processes"] >= 1
        if cfg["distributed_type"] == "DEEPSPEED":
            ds = tc.RECIPES_DIR.parents[1] / cfg["deepspeed_config"]["deepspeed_config_file"]
            assert ds.is_file(), f"{acc.name} points at a missing {ds}"
