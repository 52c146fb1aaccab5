"""``timer1 model``: model utilities (the tiny offline Qwen2.5-VL)."""

import click

from .cli import LazyGroup


@click.group("model", cls=LazyGroup, entry_point_group="timer1.model")
def model():
    """Model utilities (build the tiny offline Qwen2.5-VL used by tests and CPU recipes)."""
