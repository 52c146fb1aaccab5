"""The ``timer1`` command.

Each package contributes its own click group through the ``timer1.commands`` entry-point group
(see pyproject.toml), so this root never imports upward and ``timer1 --help`` loads only the small
CLI modules, never torch, transformers, trl or vllm.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points

import click

from tvgbench import __version__
from tvgbench.core.errors import Timer1Error

ENTRY_POINT_GROUP = "timer1.commands"


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit: the only way timer1 reports bad input."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


class LazyGroup(click.Group):
    """A group whose subcommands come from an entry-point group, loaded on first use.

    ``timer1.commands`` holds the top-level groups; ``timer1.<group>`` (e.g. ``timer1.data``,
    ``timer1.data.build``) holds a group's subcommands, so any package can add a subcommand
    without the core importing it.
    """

    def __init__(self, *args, entry_point_group: str = ENTRY_POINT_GROUP, **kwargs):
        super().__init__(*args, **kwargs)
        self.entry_point_group = entry_point_group

    def _entry_points(self):
        return {ep.name: ep for ep in entry_points(group=self.entry_point_group)}

    def list_commands(self, ctx):
        names = set(super().list_commands(ctx)) | set(self._entry_points())
        # hide commands whose module is not importable (e.g. an optional extra is missing)
        return sorted(n for n in names if self._load(n, quiet=True) is not None)

    def _load(self, name, quiet=False):
        cmd = super().get_command(None, name)
        if cmd is not None:
            return cmd
        ep = self._entry_points().get(name)
        if ep is None:
            return None
        try:
            return ep.load()
        except ImportError as e:
            if quiet:
                return None
            fail(f"'{name}' is unavailable: {e}", 1)

    def get_command(self, ctx, name):
        return self._load(name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Timer1Error as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except BrokenPipeError:
            sys.exit(0)
        except Exception as e:  # never a traceback for users; TIMER1_DEBUG=1 shows it
            if os.environ.get("TIMER1_DEBUG"):
                raise
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            fail(f"{type(e).__name__}: {msg} (set TIMER1_DEBUG=1 for the traceback)", 1)


@click.group(cls=LazyGroup, entry_point_group=ENTRY_POINT_GROUP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="timer1", message="%(prog)s %(version)s")
def cli():
    """timer1: temporal video grounding datasets, benchmarks, evaluation, leaderboard and GRPO training.

    \b
    Quick start (synthetic benchmark, CPU, offline):
      timer1 quickstart -o timer1-quickstart     # the whole pipeline, down to a static leaderboard site
      timer1 data synth -o synth && timer1 eval baseline --split synth --kind middle -o middle.jsonl
      timer1 eval score middle.jsonl --split synth
    """


def main() -> None:
    """Entry point: click usage errors, like every other error, become one line on stderr."""
    try:
        rv = cli.main(prog_name="timer1", standalone_mode=False)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx else "timer1"
        fail(f"{e.format_message()} (see '{where} --help')", e.exit_code)
    except click.ClickException as e:
        fail(e.format_message(), e.exit_code)
    except click.exceptions.Abort:
        fail("aborted", 1)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
