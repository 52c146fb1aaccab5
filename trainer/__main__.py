"""``python -m trainer ...`` = ``timer1 train ...`` (the form ``accelerate launch -m trainer`` needs)."""

from __future__ import annotations

from tvgbench.cli.main import fail
from tvgbench.core.errors import Timer1Error

from .cli import train


def main() -> None:
    try:
        train.main(prog_name="timer1 train", standalone_mode=True)
    except Timer1Error as e:
        fail(str(e))


if __name__ == "__main__":
    main()
