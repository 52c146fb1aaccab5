"""Data cards: a README.md with Hub YAML metadata for a split folder.

The YAML follows the Hub dataset-card conventions (license, task_categories, size_categories,
source_datasets, ``configs`` with ``data_files`` per split, ``dataset_info`` with features and split
sizes). Richer templates (provenance, balance plots) live in ``data_cards/`` and are filled by the
builders; this module renders the always-valid minimum from a split folder's sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

SIZE_CATEGORIES = [
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
]


def size_category(n: int) -> str:
    for bound, label in SIZE_CATEGORIES:
        if n < bound:
            return label
    return "n>1T"


def card_metadata(sidecar: dict[str, Any], *, license: str = "other", pretty_name: str | None = None,
                  source_datasets: list[str] | None = None) -> dict[str, Any]:
    from .schema import features

    splits = sidecar.get("splits", {})
    total = sum(int(s.get("n", 0)) for s in splits.values())
    feats = features()
    # dataset_info.features in the Hub's YAML form, derived from the one schema declaration
    yaml_features = feats._to_yaml_list()
    return {
        "license": license,
        "pretty_name": pretty_name or "timer1 temporal video grounding split",
        "task_categories": ["video-text-to-text"],
        "tags": ["temporal-video-grounding", "video", "timer1"],
        "language": ["en"],
        "size_categories": [size_category(total)],
        "source_datasets": source_datasets or sorted({"original"}),
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": name, "path": f"data/{name}-*"} for name in sorted(splits)],
            }
        ],
        "dataset_info": {
            "features": yaml_features,
            "splits": [{"name": name, "num_examples": int(s.get("n", 0))} for name, s in sorted(splits.items())],
        },
    }


def render_card(split_dir: str | Path, sidecar: dict[str, Any], body: str | None = None, **meta_kwargs) -> str:
    meta = card_metadata(sidecar, **meta_kwargs)
    if body is None:
        lines = ["# timer1 split", "", "Canonical temporal-video-grounding records written by `timer1`.", ""]
        for name, s in sorted(sidecar.get("splits", {}).items()):
            lines.append(f"- **{name}**: {s.get('n', 0)} records, content hash `{s.get('content_hash', '')}`, "
                         f"windows: `{s.get('window_mode', 'crop')}`")
            if s.get("build"):
                lines.append(f"  - built with: `{json.dumps(s['build'], sort_keys=True)}`")
        body = "\n".join(lines) + "\n"
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n\n" + body
