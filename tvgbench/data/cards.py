"""Data cards: a README.md with Hub YAML metadata for a split folder.

The YAML follows the Hub dataset-card conventions (license, task_categories, size_categories,
source_datasets, ``configs`` with ``data_files`` per split, ``dataset_info`` with features and split
sizes). Richer templates (provenance, balance plots) live in ``data_cards/`` and are filled by the
builders; this module renders the always-valid minimum from a split folder's sidecar.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2
import pyarrow.compute as pc
from huggingface_hub import DatasetCard

from tvgbench import __version__
from tvgbench.core.errors import Timer1Error
from tvgbench.core.report import write_text_atomic
from tvgbench.core.schema import QTYPES
from tvgbench.core.splits import (  # noqa: F401 (the minimal card is the split writer's; re-exported here)
    SIZE_CATEGORIES, card_metadata, read_sidecar, read_split_table, render_card, size_category,
)
from tvgbench.core.version import SCORER_VERSION

# ---- full cards for built splits (templates in data_cards/) -----------------------------------------

CARD_KINDS = ("tvgbench", "timerft", "generic")
PRETTY_NAMES = {
    "tvgbench": "timer1 balanced temporal video grounding benchmark",
    "timerft": "timer1 TimeRFT-style training set",
    "generic": "timer1 temporal video grounding split",
}
KNOWN_QUIRKS = {
    "common": [
        "Times are seconds relative to the clip the model sees; when `window` is set on a `crop` split, "
        "the ground truth is relative to `window[0]`, not to the start of the file.",
        "Records dropped or flagged at ingestion (zero-length spans, ends past the video, stray whitespace) "
        "are counted in `timer1.json` under `report`; nothing is silently fixed.",
        "Hit rule: timer1's canonical scorer counts IoU >= threshold over every query (a missing answer is "
        "IoU 0); Time-R1 used IoU > threshold over the answered queries (`timer1 eval score --compat timer1`).",
    ],
    "tvgbench": [
        "Query types of sources that do not release them are predicted by an offline classifier "
        "(`meta.qtype_by`); its 5-fold held-out accuracy on the 800 labelled TVGBench queries is 0.75-0.77, "
        "so treat per-type scores as approximate.",
        "Zero-length spans, spans ending past the video and queries repeated on one clip with different "
        "spans are excluded by default (the original TVGBench kept 11 zero-length spans and 27 late ends).",
        "Videos of 180 s or more are excluded; a duration bin short of supply is listed in the balance section "
        "and its shortfall is spread over the other bins.",
    ],
    "timerft": [
        "`difficulty` is 100 x IoU of one model's greedy prediction, so higher means easier (Time-R1's name).",
        "Samples whose prediction could not be parsed have difficulty 0 and are never selected by the Gaussian "
        "rule (it draws over IoU > 0 only).",
        "Some files are already trimmed clips (`meta.pretrimmed: true`, e.g. InternVid-VTime names that carry "
        "their window): decode those whole although `window` is set; the window is provenance only.",
    ],
    "generic": [],
}


def _templates_dir() -> Path:
    try:
        from importlib.resources import files

        d = Path(str(files("data_cards")))
        if (d / "generic.md").exists():
            return d
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "data_cards"


def draw_balance_plots(split_dir: str | Path, sidecar: dict[str, Any]) -> list[dict[str, str]]:
    """Bar charts of queries per duration bin, source and query type, one PNG each per split."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global figure state, faster import


    out = Path(split_dir) / "plots"
    out.mkdir(parents=True, exist_ok=True)
    plots = []
    for name in sorted(sidecar.get("splits", {})):
        t = read_split_table(split_dir, name, columns=["source", "qtype", "bins"])
        videolen = pc.struct_field(t.column("bins").combine_chunks(), "videolen").to_pylist()
        panels = {
            "duration_bins": ("queries per 20-s duration bin", [f"{b * 20}-{b * 20 + 20}" for b in sorted(set(videolen))],
                              [videolen.count(b) for b in sorted(set(videolen))]),
            "sources": ("queries per source", *_counts(t.column("source").to_pylist())),
            "qtypes": ("queries per query type", *_counts([QTYPES.get(q, "none") if q else "none"
                                                           for q in t.column("qtype").to_pylist()])),
        }
        for key, (title, labels, values) in panels.items():
            fig = Figure(figsize=(7, 3.2), dpi=100)
            ax = fig.subplots()
            ax.bar(range(len(values)), values, color="#4477aa")
            ax.set_xticks(range(len(values)), labels, rotation=45 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center", fontsize=8)
            ax.set_title(f"{title} (split {name})", fontsize=10)
            ax.set_ylabel("queries")
            fig.tight_layout()
            rel = f"plots/{name}_{key}.png"
            tmp = Path(split_dir) / (rel + ".tmp.png")
            fig.savefig(tmp, format="png", metadata={"Software": None})  # no version stamp: reproducible bytes
            os.replace(tmp, Path(split_dir) / rel)
            plots.append({"title": f"{title} (split {name})", "path": rel})
    return plots


def _counts(values: list) -> tuple[list[str], list[int]]:
    c = sorted(Counter(values).items())
    return [str(k) for k, _ in c], [v for _, v in c]


def render_full_card(split_dir: str | Path, sidecar: dict[str, Any], *, kind: str = "generic",
                     plots: list[dict[str, str]] | None = None, license: str = "other",
                     pretty_name: str | None = None) -> str:
    """README.md text: Hub YAML (from :func:`card_metadata`) and the ``data_cards/<kind>.md`` body."""
    if kind not in CARD_KINDS:
        raise ValueError(f"card kind must be one of {CARD_KINDS}")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_templates_dir())), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=False)
    splits = [
        {"name": name, "n": s.get("n", 0), "content_hash": s.get("content_hash", ""),
         "window_mode": s.get("window_mode", "crop"), "build": _Attr(s.get("build") or {}),
         "report": _Attr(s.get("report") or {})}
        for name, s in sorted(sidecar.get("splits", {}).items())
    ]
    pretty = pretty_name or PRETTY_NAMES[kind]
    body = env.get_template(f"{kind}.md").render(
        pretty_name=pretty, splits=splits, plots=plots or [], timer1_version=__version__,
        scorer_version=SCORER_VERSION, quirks=KNOWN_QUIRKS["common"] + KNOWN_QUIRKS[kind],
    )
    names = sorted({src.get("name") or src.get("format", "") for s in sidecar.get("splits", {}).values()
                    for src in (s.get("build") or {}).get("sources", [])} - {""})
    meta_kwargs: dict[str, Any] = {"license": license, "pretty_name": pretty}
    if names:
        meta_kwargs["source_datasets"] = [f"extended|{n}" for n in names]
    return render_card(split_dir, sidecar, body=body, **meta_kwargs)


class _Attr(dict):
    """A dict whose keys read as attributes in templates; missing keys are None."""

    def __getattr__(self, key):
        v = self.get(key)
        if isinstance(v, dict) and not isinstance(v, _Attr):
            return _Attr(v)
        if isinstance(v, list):
            return [_Attr(x) if isinstance(x, dict) else x for x in v]
        return v

    def get(self, key, default=None):
        v = dict.get(self, key, default)
        return _Attr(v) if isinstance(v, dict) and not isinstance(v, _Attr) else v


def write_build_card(split_dir: str | Path, *, kind: str = "generic", license: str = "other",
                     plots: bool = True, pretty_name: str | None = None) -> Path:
    """(Re)write ``README.md`` of a split folder with the full card and its balance plots."""
    sidecar = read_sidecar(split_dir)
    drawn = draw_balance_plots(split_dir, sidecar) if plots else []
    text = render_full_card(split_dir, sidecar, kind=kind, plots=drawn, license=license, pretty_name=pretty_name)
    path = Path(split_dir) / "README.md"
    write_text_atomic(path, text)
    return path


def validate_card(readme: str | Path) -> dict[str, Any]:
    """Load a card with ``huggingface_hub.DatasetCard`` and check its metadata against the folder.

    Raises :class:`~tvgbench.core.errors.Timer1Error` naming the first problem; returns the metadata dict.
    """
    readme = Path(readme)
    try:
        card = DatasetCard.load(readme)
    except Exception as e:  # huggingface_hub raises several types for a bad header
        raise Timer1Error(f"{readme} does not load as a dataset card: {str(e).splitlines()[0]}") from None
    meta = card.data.to_dict()
    for key in ("license", "task_categories", "size_categories", "source_datasets", "configs", "dataset_info"):
        if not meta.get(key):
            raise Timer1Error(f"{readme}: metadata lacks {key!r}")
    valid_sizes = {label for _, label in SIZE_CATEGORIES} | {"n>1T"}
    if not set(meta["size_categories"]) <= valid_sizes:
        raise Timer1Error(f"{readme}: size_categories {meta['size_categories']} is not a Hub value")
    splits = read_sidecar(readme.parent).get("splits", {})
    declared = {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]}
    actual = {name: int(s.get("n", 0)) for name, s in splits.items()}
    if declared != actual:
        raise Timer1Error(f"{readme}: dataset_info splits {declared} differ from the files {actual}")
    for config in meta["configs"]:
        for df in config["data_files"]:
            if not list(readme.parent.glob(df["path"])):
                raise Timer1Error(f"{readme}: data_files {df['path']!r} of split {df['split']!r} matches no file")
    if size_category(sum(actual.values())) not in meta["size_categories"]:
        raise Timer1Error(f"{readme}: size_categories does not match {sum(actual.values())} records")
    return meta
