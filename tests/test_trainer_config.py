"""Recipes, the config schema, --set overrides and the sample-filter rule (fast: no model)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from trainer import config as tc
from trainer.sample_filter import filter_by_difficulty
from tvgbench.core.errors import Timer1Error
from tvgbench.core.schema import Sample

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
    assert sf.sample_filter.enabled and sf.sample_filter.rounds == 5
    assert sf.sample_filter.reset_optimizer and sf.sample_filter.reset_reference  # Time-R1 resets both
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
        ("bogus.x=1", "at bogus: Key 'bogus' not in"),
        ("trl.not_a_grpo_option=1", "not_a_grpo_option"),
        ("trl.output_dir=x", "set by timer1"),
        ("trl.max_steps=abc", "trl.max_steps must be int, got 'abc'"),
        ("trl.bf16=1", "trl.bf16 must be bool"),
        ("trl.report_to=3", "trl.report_to must be"),
        ("video.resize=bilinear", "video.resize must be one of"),
        ("model=3", "ModelSection"),
        ("rewards.accuracy=1", "unknown reward"),
        ("sample_filter.rounds=0", "rounds"),
        ("trl={use_vllm: true, vllm_mode: server}", "vllm_mode=server: TRL 1.16's vLLM server rollouts carry images only"),
        ("data.limit=many", "data.limit"),
        ("novalue", "key=value"),
    ],
)
def test_bad_configs_are_one_line_user_errors(override, message):
    with pytest.raises(Timer1Error, match=message) as e:
        tc.load_config("tiny-cpu", [override])
    assert "\n" not in str(e.value)


def test_trl_values_of_the_field_type_pass():
    cfg = tc.load_config("tiny-cpu", ["trl.learning_rate=1", "trl.report_to=[tensorboard]", "trl.max_steps=3",
                                      "trl.model_init_kwargs={low_cpu_mem_usage: true}", "trl.warmup_steps=0"])
    assert cfg.trl["learning_rate"] == 1 and cfg.trl["report_to"] == ["tensorboard"]
    assert cfg.trl["model_init_kwargs"] == {"low_cpu_mem_usage": True}


def test_rewards_mapping_replaces_and_a_dotted_key_changes_one_weight(tmp_path):
    one = tc.load_config("tiny-cpu", ["rewards.format=0.5"])
    assert one.rewards == {"iou_v2": 1.0, "format": 0.5, "tags": 1.0}
    whole = tc.load_config("tiny-cpu", ["rewards={iou: 1}"])
    assert whole.rewards == {"iou": 1.0}
    child = tmp_path / "child.yaml"
    child.write_text("extends: tiny-cpu\nrewards:\n  iou: 1.0\n")
    assert tc.load_config(str(child)).rewards == {"iou": 1.0}  # not merged with the parent's three


def test_video_section_is_sampling_configs_fields_and_defaults():
    import dataclasses

    from tvgbench.video.config import SamplingConfig

    video = {f.name: f for f in dataclasses.fields(tc.VideoSection)}
    sampling = {f.name: f for f in dataclasses.fields(SamplingConfig)}
    assert set(video) == set(sampling) - set(tc.FIXED_SAMPLING_FIELDS) | {"cache_dir"}
    for name in set(video) - {"cache_dir"}:
        assert (video[name].type, video[name].default) == (sampling[name].type, sampling[name].default), name
    assert tc.sampling_config(tc.TrainConfig()) == SamplingConfig()  # what the trainer decodes by default
    cfg = tc.load_config("tiny-cpu", ["video.resize=torch", "video.decoder=pyav"])
    sampled = tc.sampling_config(cfg)
    assert (sampled.resize, sampled.decoder, sampled.max_frames) == ("torch", "pyav", 8)
    assert tc.load_config("tiny-cpu").video.resize == "fast"  # the trainer's resize before it was a setting


def test_sample_filter_does_not_import_the_round_trainer():
    import subprocess
    import sys

    code = "import sys, trainer.sample_filter; print('trainer.train' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


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


def test_sample_filter_keeps_0_to_0_7_with_timer1s_difficulty_parsing(tmp_path):
    samples = [Sample(video=f"v{i}.mp4", query=f"q{i}", span=(2.0, 4.0), duration=10.0, source="t") for i in range(6)]
    lines = [
        {"qid": samples[0].qid, "pred": [2.0, 4.0], "text": "<answer>2 to 4</answer>"},  # IoU 1: too easy
        {"qid": samples[1].qid, "pred": [2.0, 3.0], "text": "<answer>2 to 3</answer>"},  # IoU 0.5: kept
        {"qid": samples[2].qid, "pred": None, "text": "the event is 2, then 3.4 maybe"},  # first two numbers: 0.7
        {"qid": samples[3].qid, "pred": None, "text": "no idea"},  # unparsable: IoU 0, dropped
        {"qid": samples[4].qid, "pred": [5.0, 9.0], "text": "<answer>5 to 9</answer>"},  # IoU 0: dropped
    ]  # samples[5] has no prediction line: dropped and counted
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    kept, counts = filter_by_difficulty(path, samples)
    assert [s.qid for s in kept] == [samples[2].qid, samples[1].qid]  # hardest last: difficulty descending
    assert counts["n_kept"] == 2 and counts["dropped_easy"] == 1 and counts["dropped_zero"] == 2
    assert counts["missing_predictions"] == 1


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
