"""``timer1 train``: run a training recipe (imports only click at module level)."""

from __future__ import annotations

import json

import click

from tvgbench.core.errors import Timer1Error


def _recipe_list() -> str:
    from .config import recipe_names

    return ", ".join(recipe_names())


@click.group("train", invoke_without_command=True, subcommand_metavar="[compare RUN...]",
             context_settings={"max_content_width": 100})
@click.option("--recipe", "-r", default=None, metavar="NAME|FILE.yaml",
              help="Built-in recipe (timer1-posttrain, timer1-posttrain-sf, finetune-charades, "
                   "finetune-activitynet, tiny-cpu; SFT: finetune-sft, finetune-sft-lora, tiny-cpu-sft, "
                   "tiny-cpu-sft-lora) or a YAML file.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value, dotted for sections (repeatable), e.g. --set trl.max_steps=5 "
                   "--set data.split_dir=splits/timerft --set rewards.format=0.5")
@click.option("--output-dir", "-o", type=click.Path(file_okay=False), default=None,
              help="Where checkpoints, logs and the final model go.")
@click.option("--resume", "resume", is_flag=False, flag_value="last", default=None, metavar="[CHECKPOINT]",
              help="Resume exactly (weights, optimizer, scheduler, RNG, data position): from CHECKPOINT, or "
                   "from the last checkpoint in --output-dir when given without a value.")
@click.option("--dry-run", is_flag=True, help="Validate and print the resolved config, then stop.")
@click.option("--print-schema", is_flag=True, help="Print the recipe JSON schema and exit.")
@click.option("--list", "list_recipes", is_flag=True, help="List the built-in recipes and exit.")
@click.pass_context
def train(ctx, recipe, overrides, output_dir, resume, dry_run, print_schema, list_recipes):
    """Video GRPO training with Time-R1's rewards, or SFT / SFT-LoRA on the true spans (recipe `paradigm`);
    TRL 1.16, the video in every forward pass.

    \b
    Examples:
      timer1 train --recipe tiny-cpu --output-dir runs/tiny                # minutes on a CPU
      timer1 train --recipe timer1-posttrain -o runs/r1 \\
          --set data.split_dir=splits/timerft --set data.video_root=/data/timerft
      accelerate launch --config_file trainer/launch/accelerate_zero3.yaml -m trainer \\
          --recipe timer1-posttrain -o runs/r1 --set data.split_dir=splits/timerft
      timer1 train --recipe tiny-cpu -o runs/tiny --resume                 # continue after a stop
      timer1 train --recipe tiny-cpu-sft-lora -o runs/sft-lora             # SFT-LoRA: final/ + final/merged/
      timer1 train --recipe tiny-cpu -o runs/sft-grpo --set model.path=runs/sft-lora/final  # GRPO from SFT
      timer1 train compare RUN_A RUN_B --plot compare.png                # runs side by side
    """
    if ctx.invoked_subcommand is not None:  # `timer1 train compare ...`: the options above are not used
        return
    from .config import config_schema, load_config

    if print_schema:
        click.echo(json.dumps(config_schema(), indent=2))
        return
    if list_recipes:
        from .config import load_recipe_dict, recipe_names

        for name in recipe_names():
            click.echo(f"{name:24s} {load_recipe_dict(name).get('description', '')}")
        return
    if recipe is None:
        raise Timer1Error(f"--recipe is required (built-in: {_recipe_list()})")
    # a training run checks its split and model before the trl checks load torch: a typo fails in a second
    cfg = load_config(recipe, overrides, runnable=output_dir is not None and not dry_run)
    from .train import config_summary

    if dry_run:
        import yaml

        click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False), nl=False)
        click.echo(f"# ok: {config_summary(cfg)}", err=True)
        return
    if output_dir is None:
        raise Timer1Error("--output-dir is required")
    click.echo(f"training {config_summary(cfg)} -> {output_dir}", err=True)
    from .progress import quiet_library_bars
    from .train import run_training

    with quiet_library_bars():  # the training bar is the one bar shown
        run = run_training(cfg, output_dir, resume=True if resume == "last" else resume)
    click.echo(f"done: {run.get('steps', '?')} steps in {run['wall_seconds']:.0f} s; model -> {run['final']}")


@train.command("compare", context_settings={"max_content_width": 100})
@click.argument("runs", nargs=-1, required=True, type=click.Path(), metavar="RUN...")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Write the curves (reward, loss, held-out mIoU by step) as a PNG here.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --plot file.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison (curves included) as JSON.")
def compare(runs, plot_path, overwrite, as_json):
    """Training runs side by side: reward / loss curves and the held-out scores where a run was evaluated.

    A RUN is a `timer1 train -o` folder (finished, or still training: read from its newest checkpoint).
    Held-out scores are the `timer1 eval run` folders saved inside it, e.g.
    `timer1 eval run --model RUN/final --split SPLIT --out RUN/eval-heldout`; one scored on the training
    split itself is never shown as held-out.

    \b
    Examples:
      timer1 train compare RUN_A RUN_B --plot compare.png
      timer1 train compare RUN_A --json
    """
    from tvgbench.core.outdir import check_output_file

    from .compare import as_json as to_json, compare_runs, table

    if plot_path:
        check_output_file(plot_path, overwrite=overwrite)
    summaries = compare_runs(list(runs), plot_path)
    if as_json:
        click.echo(json.dumps(to_json(summaries), indent=2))
    else:
        click.echo(table(summaries))
    if plot_path:
        click.echo(f"plot -> {plot_path}", err=True)
