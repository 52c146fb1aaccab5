"""Data cards: Hub YAML that loads with DatasetCard, validates against the folder, and reloads with datasets."""

from __future__ import annotations

import pytest
import yaml

from tvgbench.data.build import BuildConfig, build_balanced
from tvgbench.data.cards import render_full_card, validate_card, write_build_card
from tvgbench.core.errors import Timer1Error
from tvgbench.core.splits import read_sidecar, write_split


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from test_build import synthetic_candidates

    res = build_balanced(synthetic_candidates(short_supply=6), BuildConfig(size=120, seed=1, min_per_type=3),
                         classify=False)
    out = tmp_path_factory.mktemp("card")
    write_split(res.samples, out, "test", build={"command": "timer1 data build tvgbench --seed 1 ...", "seed": 1,
                                                  "sources": [{"name": "alpha", "path": "a.json", "format": "charades-sta",
                                                               "sha256": "sha256:abc", "records": 10, "ingest": {}}]},
                report={"balance": res.report})
    write_build_card(out, kind="tvgbench", license="cc-by-nc-4.0")
    return out, res


def test_card_loads_and_validates(built):
    out, res = built
    meta = validate_card(out / "README.md")
    assert meta["license"] == "cc-by-nc-4.0" and meta["size_categories"] == ["n<1K"]
    assert meta["source_datasets"] == ["extended|alpha"]
    assert meta["dataset_info"]["splits"] == [{"name": "test", "num_examples": 120}]
    text = (out / "README.md").read_text()
    side = read_sidecar(out)["splits"]["test"]
    for needle in (side["content_hash"], "--seed 1", "scorer 1.", "Known quirks", "sha256:abc",
                   "bins that lacked supply: 7", "plots/test_duration_bins.png"):
        assert needle in text, needle


def test_balance_plots_are_pngs(built):
    from PIL import Image

    out, _ = built
    for key in ("duration_bins", "sources", "qtypes"):
        with Image.open(out / "plots" / f"test_{key}.png") as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_card_reloads_with_datasets_offline(built):
    import datasets

    from tvgbench.core.schema import features

    out, res = built
    ds = datasets.load_dataset(str(out), split="test")
    assert len(ds) == 120 and ds.features == features()
    assert sorted(ds["qid"]) == sorted(s.qid for s in res.samples)


def test_validate_card_catches_a_stale_card(built, tmp_path):
    import shutil

    out, _ = built
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    head, body = (copy / "README.md").read_text().split("---\n", 2)[1:]
    meta = yaml.safe_load(head)
    meta["dataset_info"]["splits"][0]["num_examples"] = 7
    (copy / "README.md").write_text("---\n" + yaml.safe_dump(meta) + "---\n" + body)
    with pytest.raises(Timer1Error, match="differ from the files"):
        validate_card(copy / "README.md")
    (copy / "README.md").write_text("no yaml here\n")
    with pytest.raises(Timer1Error):
        validate_card(copy / "README.md")


def test_generic_and_timerft_templates_render(tmp_path):
    from tvgbench.core.schema import Sample

    s = [Sample(video="v.mp4", query="a person opens a door", span=(1, 3), duration=30, source="x", difficulty=40.0)]
    write_split(s, tmp_path, "train", build={"command": "timer1 data build timerft --pool p", "seed": 0},
                report={"selection": {"rule": "gaussian", "center": 0.3, "sigma": 0.2, "seed": 0, "k": 1, "pool": 5,
                                      "eligible": 4, "selected": 1, "iou_mean": 0.4, "iou_median": 0.4,
                                      "difficulty_histogram": [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]}})
    side = read_sidecar(tmp_path)
    for kind, needle in (("generic", "canonical schema"), ("timerft", "exp(-(IoU - 0.3)^2")):
        text = render_full_card(tmp_path, side, kind=kind)
        assert needle in text
    write_build_card(tmp_path, kind="timerft")
    assert validate_card(tmp_path / "README.md")["dataset_info"]["splits"][0]["num_examples"] == 1
