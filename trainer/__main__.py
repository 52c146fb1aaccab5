"""``python -m trainer ...`` = ``timer1 train ...`` (the form ``accelerate launch -m trainer`` needs)."""

from tvgbench.cli import LazyGroup  # noqa: F401  (same error handling as the timer1 root)


def main() -> None:
    import sys

    from tvgbench.cli import fail
    from tvgbench.errors import Timer1Error

    from .cli import train

    try:
        train.main(prog_name="timer1 train", standalone_mode=True)
    except Timer1Error as e:
        fail(str(e))
    sys.exit(0)


if __name__ == "__main__":
    main()
