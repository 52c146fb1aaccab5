"""``timer1 train`` end to end on CPU: the tiny-cpu recipe (short variant), exact resume, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMER1 = [sys.executable, "-m", "tvgbench.cli.main"]
# the short variant of tiny-cpu: few steps, few frames, short completions
SHORT = ["trl.num_generations=4", "trl.per_device_train_batch_size=4", "trl.max_completion_length=8",
         "video.max_frames=4", "trl.save_steps=1", "trl.logging_steps=1"]


def run_cli(*args, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([*TIMER1, *args], capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


def sets(*items):
    return [a for item in items for a in ("--set", item)]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--recipe", "nope", "-o", "x"], "unknown recipe 'nope'"),
        (["--recipe", "tiny-cpu", "--set", "trl.foo=1", "-o", "x"], "unknown trl option(s) foo"),
        (["--recipe", "tiny-cpu", "--set", "trl.max_steps=abc", "--dry-run"], "trl.max_steps must be int"),
        (["--recipe", "tiny-cpu"], "--output-dir is required"),
        (["--recipe", "timer1-posttrain", "-o", "x"], "data.split_dir is not set"),
        (["-o", "x"], "--recipe is required"),
        (["--recipe", "tiny-cpu", "-o", "x", "--set", "trl.report_to=wandb"], "needs the wandb package"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    r = CliRunner().invoke(cli, ["train", *args])  # in-process: the same root group and error handling
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1] and "Traceback" not in r.output


def test_help_and_dry_run_and_schema():
    r = run_cli("train", "--help")  # the real entry point, in a fresh process
    assert r.returncode == 0 and "--recipe" in r.stdout and "--resume" in r.stdout
    bad = run_cli("train", "--recipe", "nope", "-o", "x")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: unknown recipe")
    r = run_cli("train", "--recipe", "timer1-posttrain-sf", "--dry-run", "--set", "trl.max_steps=3")
    assert r.returncode == 0, r.stderr
    import yaml

    resolved = yaml.safe_load(r.stdout)
    assert resolved["sample_filter"]["enabled"] and resolved["trl"]["max_steps"] == 3
    schema = json.loads(run_cli("train", "--print-schema").stdout)
    assert set(schema["properties"]) >= {"model", "data", "video", "rewards", "trl", "sample_filter", "lora"}


@pytest.mark.slow
def test_tiny_cpu_recipe_trains_end_to_end_and_resumes_exactly(tmp_path):
    torch = pytest.importorskip("torch")
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    full = tmp_path / "full"
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(full),
                *sets(*SHORT, "trl.max_steps=2", "trl.report_to=tensorboard"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert list(full.rglob("events.out.tfevents*")), "report_to=tensorboard wrote no event file"
    run = json.loads((full / "run.json").read_text())
    assert run["steps"] == 2 and run["n_records"] > 0 and run["versions"]["trl"] == "1.16.0"
    log = [json.loads(x) for x in (full / "train_log.jsonl").read_text().splitlines()]
    logged = set().union(*log)
    assert {"rewards/iou_v2/mean", "rewards/format/mean", "rewards/tags/mean", "kl", "loss"} <= logged
    assert (full / "checkpoint-1" / "optimizer.pt").exists() and (full / "checkpoint-2").exists()
    assert (full / "config.yaml").exists() and (full / "final" / "tokenizer.json").exists()

    from transformers import Qwen2_5_VLForConditionalGeneration

    # the trained model reloads, and it is not the initial one
    trained = Qwen2_5_VLForConditionalGeneration.from_pretrained(full / "final", dtype=torch.float32)
    initial = Qwen2_5_VLForConditionalGeneration.from_pretrained(full / "tiny-model", dtype=torch.float32)
    trained_sd, initial_sd = trained.state_dict(), initial.state_dict()
    assert any(not torch.equal(trained_sd[k], initial_sd[k]) for k in trained_sd if ".merger." in k)
    assert all(torch.equal(trained_sd[k], initial_sd[k]) for k in trained_sd if ".visual.blocks." in k)

    # stop after step 1 (keep only checkpoint-1), resume: same weights as the uninterrupted run.
    # Step 1 must have changed the weights, or an exact resume would prove nothing.
    from safetensors.torch import load_file

    step1, start = load_file(full / "checkpoint-1" / "model.safetensors"), load_file(full / "tiny-model" / "model.safetensors")
    assert any(not torch.equal(step1[k], start[k]) for k in start)
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed, ignore=shutil.ignore_patterns("checkpoint-2", "final", "run.json"))
    half_written = resumed / "checkpoint-2"  # as if killed while saving: no trainer_state.json yet
    half_written.mkdir()
    (half_written / "model.safetensors").write_bytes(b"partial")
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(resumed), "--resume", *sets(*SHORT, "trl.max_steps=2"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((resumed / "run.json").read_text())["resumed_from"].endswith("checkpoint-1")
    again = Qwen2_5_VLForConditionalGeneration.from_pretrained(resumed / "final", dtype=torch.float32).state_dict()
    diffs = {k: (again[k] - trained_sd[k]).abs().max().item() for k in trained_sd}
    assert max(diffs.values()) == 0.0, sorted(diffs.items(), key=lambda kv: -kv[1])[:3]


@pytest.mark.slow
def test_sample_filtering_rounds_score_through_the_harness_and_shrink_the_set(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    out = tmp_path / "sf"
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), *sets(
        *SHORT, "data.limit=2", "sample_filter.enabled=true", "sample_filter.rounds=2",
        "sample_filter.backend=hf", "sample_filter.max_new_tokens=16", "sample_filter.batch_size=2"))
    assert r.returncode == 0, r.stderr[-3000:]
    round0 = json.loads((out / "round-0" / "round.json").read_text())
    assert round0["n_in"] == 2 and round0["steps"] == 2  # one epoch = 2 prompts, 1 per step
    preds = [json.loads(x) for x in (out / "round-0" / "filter" / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 2 and all("text" in p for p in preds)
    assert round0["n_kept"] + round0["dropped_easy"] + round0["dropped_zero"] == round0["n_in"]
    run = json.loads((out / "run.json").read_text())
    assert run["rounds"][0]["round"] == 0 and Path(run["final"]).is_dir()


@pytest.mark.slow
def test_sf_optimizer_reset_is_a_choice(tmp_path, synth_split, tiny_model_dir):
    """reset_optimizer=False carries AdamW's state into the next round; True starts it afresh."""
    torch = pytest.importorskip("torch")
    from trainer.config import load_config
    from trainer.train import train_round
    from tvgbench.core.splits import load_split

    cfg = load_config("tiny-cpu", [*SHORT, "trl.save_steps=100", f"model.path={tiny_model_dir}",
                                   f"data.split_dir={synth_split}", "trl.max_steps=1"])
    split = load_split(synth_split)
    common = dict(cfg=cfg, ref_path=None, samples=split.samples[:1], split_info=split.info,
                  video_root=synth_split, resume=None)
    first = train_round(model_path=str(tiny_model_dir), out=tmp_path / "r0", **common)
    state = Path(first["final"]) / "optimizer_state.pt"
    carried = train_round(model_path=first["final"], out=tmp_path / "r1", optimizer_state=state, **common)
    fresh = train_round(model_path=first["final"], out=tmp_path / "r1b", optimizer_state=None, **common)

    def adam_steps(result):
        saved = torch.load(Path(result["final"]) / "optimizer_state.pt", weights_only=True)
        return {int(v["step"]) for v in saved["state"].values()}

    assert adam_steps(first) == {1} and adam_steps(fresh) == {1} and adam_steps(carried) == {2}


def test_upstream_trainer_resume_still_loads_no_qwen_weights(tiny_model_dir, tmp_path):
    """Pins the transformers 5.17 behaviour VideoGRPOTrainer._load_from_checkpoint fixes.

    save_pretrained writes Qwen2.5-VL's legacy key names and Trainer._load_from_checkpoint loads them
    with a plain load_state_dict(strict=False): nothing matches. When this fails, upstream resumes
    correctly and the override can go.
    """
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.float32)
    model.save_pretrained(tmp_path / "ckpt")
    result = model.load_state_dict(load_file(tmp_path / "ckpt" / "model.safetensors"), strict=False)
    assert result.missing_keys and result.unexpected_keys, "upstream keys now match: drop the resume override"


def run_json_hash(out: Path) -> str:
    return json.loads((out / "run.json").read_text())["split_hash"]


def _short_run(tiny_model_dir, synth_split, *extra):
    return sets(*SHORT, f"model.path={tiny_model_dir}", f"data.split_dir={synth_split}", "data.limit=2", *extra)


@pytest.mark.slow
def test_resume_of_a_finished_run_trains_nothing_and_completes_final(tmp_path, tiny_model_dir, synth_split):
    """A resume whose last checkpoint is at max_steps (a finished run, or one killed while writing final/)
    never trains past max_steps: final/ stays as it was, or is rebuilt from that checkpoint."""
    out = tmp_path / "run"
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    assert r.returncode == 0, r.stderr[-3000:]
    weights = (out / "final" / "model.safetensors").read_bytes()
    from huggingface_hub import ModelCard

    for readme in (out / "final" / "README.md", out / "README.md"):  # timer1's card, not TRL's default one
        card = ModelCard.load(readme)
        assert "timer1" in card.data.tags and "huggingface.co/None" not in card.text and "licence" not in str(card)
        assert run_json_hash(out) in card.text and "timer1 eval run" in card.text
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), "--resume",
                *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert "nothing to train" in r.stderr and "checkpoint-1" in r.stderr
    assert not (out / "checkpoint-2").exists()
    assert (out / "final" / "model.safetensors").read_bytes() == weights
    assert json.loads((out / "run.json").read_text())["steps"] == 1

    shutil.rmtree(out / "final")  # killed between the last checkpoint and final/
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), "--resume",
                *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert not (out / "checkpoint-2").exists()
    final = out / "final"
    assert (final / "model.safetensors").read_bytes() == weights
    for name in ("config.json", "tokenizer.json", "preprocessor_config.json", "optimizer_state.pt"):
        assert (final / name).is_file(), name
    assert not (final / "trainer_state.json").exists() and not (final / "rng_state.pth").exists()

    # asking for more steps than the checkpoint has still trains on from it
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), "--resume",
                *_short_run(tiny_model_dir, synth_split, "trl.max_steps=2"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "checkpoint-2").is_dir() and not (out / "checkpoint-3").exists()
    assert json.loads((out / "run.json").read_text())["steps"] == 2


def _train_in_process(*args, env=None):
    """``timer1 train ARGS`` in a fresh interpreter; prints the output, the exit code and whether torch loaded."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom tvgbench.cli.main import cli\n"
            f"r = CliRunner().invoke(cli, ['train', *{list(args)!r}])\n"
            "print(r.output.strip()); print('exit', r.exit_code); print('torch loaded', 'torch' in sys.modules)")
    full_env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=full_env, timeout=120)
    return r.stdout.strip().splitlines()


@pytest.mark.parametrize("model", ["{tmp}/no-such-model", "{tmp}/empty-folder", "runs/x/final", "nobody-org/no-model"])
def test_missing_model_is_found_before_anything_heavy(tmp_path, model):
    """A missing folder, a folder without config.json or a Hub id in neither the cache nor (offline) the Hub:
    one line naming what was looked for, before torch loads, and no output folder left behind."""
    (tmp_path / "empty-folder").mkdir()
    model = model.format(tmp=tmp_path)
    out = tmp_path / "out"
    lines = _train_in_process("--recipe", "tiny-cpu", "-o", str(out), "--set", f"model.path={model}",
                              env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub-cache")})
    assert lines[-2:] == ["exit 2", "torch loaded False"], lines
    assert len(lines) == 3 and lines[0].startswith("error: ") and model in lines[0] and "looked for" in lines[0]
    assert "config.json" in lines[0]
    assert not out.exists()


def test_a_cached_hub_model_passes_the_model_check(tmp_path):
    from trainer.model import check_model_source

    snapshot = tmp_path / "models--some-org--some-model" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "models--some-org--some-model" / "refs").mkdir()
    (tmp_path / "models--some-org--some-model" / "refs" / "main").write_text("a" * 40)
    check_model_source("some-org/some-model", cache_dir=tmp_path, offline=True)  # no error
    from tvgbench.core.errors import Timer1Error

    with pytest.raises(Timer1Error, match="not in the Hugging Face cache"):
        check_model_source("some-org/other-model", cache_dir=tmp_path, offline=True)


def test_training_never_replaces_a_final_folder_it_did_not_write(tmp_path, tiny_model_dir, synth_split):
    """`train -o DIR` replaces DIR/final at its end: a user's own DIR/final is refused before anything is written."""
    out = tmp_path / "project"
    (out / "final").mkdir(parents=True)
    (out / "final" / "thesis.tex").write_text("my thesis\n")
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    assert r.returncode == 2 and "holds files no timer1 training run wrote (final" in r.stderr, r.stderr[-2000:]
    assert (out / "final" / "thesis.tex").read_text() == "my thesis\n"
    assert sorted(p.name for p in out.iterdir()) == ["final"]  # no config, no checkpoints
    # a timer1 run folder (its config.yaml) whose final/ no run left: still refused, by the final/ rule
    config = run_cli("train", "--recipe", "tiny-cpu", "--dry-run")
    (out / "config.yaml").write_text(config.stdout)
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    assert r.returncode == 2 and "was not written by a timer1 training run" in r.stderr, r.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "final"]


def test_training_refuses_a_folder_holding_a_users_files(tmp_path, tiny_model_dir, synth_split):
    """The run folder gets config.yaml, run.json and a README.md model card: a project folder is refused."""
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("# my project\n")
    (out / "config.yaml").write_text("lr: 3\n")  # a config, but not a training run's
    r = run_cli("train", "--recipe", "tiny-cpu", "-o", str(out), *_short_run(tiny_model_dir, synth_split, "trl.max_steps=1"))
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and last.startswith("error: ") and "(README.md, config.yaml)" in last, r.stderr[-2000:]
    assert (out / "README.md").read_text() == "# my project\n" and (out / "config.yaml").read_text() == "lr: 3\n"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.yaml"]
