"""``timer1 train``: run a training recipe (imports only click at module level)."""

from __future__ import annotations

import json

import click

from tvgbench.core.errors import Timer1Error


def _recipe_list() -> str:
    from .config import recipe_names

    return ", ".join(recipe_names())


@click.command("train", context_settings={"max_content_width": 100})
@click.option("--recipe", "-r", default=None, metavar="NAME|FILE.yaml",
              help="Built-in recipe (timer1-posttrain, timer1-posttrain-sf, finetune-charades, "
                   "finetune-activitynet, tiny-cpu) or a YAML file.")
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
def train(recipe, overrides, output_dir, resume, dry_run, print_schema, list_recipes):
    """Video GRPO training of Qwen2.5-VL with Time-R1's rewards (TRL 1.16, video in every forward pass).

    \b
    Examples:
      timer1 train --recipe tiny-cpu --output-dir runs/tiny                # minutes on a CPU
      timer1 train --recipe timer1-posttrain -o runs/r1 \\
          --set data.split_dir=splits/timerft --set data.video_root=/data/timerft
      accelerate launch --config_file trainer/launch/accelerate_zero3.yaml -m trainer \\
          --recipe timer1-posttrain -o runs/r1 --set data.split_dir=splits/timerft
      timer1 train --recipe tiny-cpu -o runs/tiny --resume                 # continue after a stop
    """
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
