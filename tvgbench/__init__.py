"""tvgbench: the core of timer1 (sample schema, ingestion, parsing, metrics, scoring)."""

__version__ = "0.1.0"
