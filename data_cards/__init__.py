"""Data-card templates (Jinja2 Markdown bodies) filled by :mod:`tvgbench.data.cards`.

``tvgbench.md`` for balanced benchmark splits, ``timerft.md`` for difficulty-selected training splits and
``generic.md`` for any other split timer1 writes. The YAML header is generated, never templated, so it
always matches the files.
"""
