"""The synthetic benchmark: events are visible in the decoded video exactly at the stated times."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tvgbench.data import synth
from tvgbench.cli.main import cli
from tvgbench.core.schema import QTYPES
from tvgbench.core.splits import load_split

TOLERANCE = 35  # max per-channel error of H.264 4:2:0 at a flat region's centre is far below this


def decode_rgb(path: Path) -> tuple[np.ndarray, list[float]]:
    import av

    with av.open(str(path)) as container:
        frames, times = [], []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            times.append(float(frame.time))
    return np.stack(frames), times


@pytest.fixture(scope="module")
def split(synth_split):
    return load_split(synth_split)


@pytest.fixture(scope="module")
def decoded(split, synth_split):
    return {v: decode_rgb(synth_split / v) for v in sorted({s.video for s in split.samples})}


def shows(frame: np.ndarray, x: int, y: int, colour: str) -> bool:
    return int(np.abs(frame[y, x].astype(int) - np.array(synth.COLOURS[colour])).max()) <= TOLERANCE


def test_every_probe_holds_in_the_decoded_video(split, decoded):
    checked = 0
    for s in split.samples:
        frames, _ = decoded[s.video]
        for probe in s.meta["probes"]:
            index = round(probe["t"] * synth.FPS)
            assert abs(index / synth.FPS - probe["t"]) < 1e-9, "probe times fall on frames"
            for x, y, colour, present in probe["expect"]:
                got = frames[index, y, x].tolist()
                assert shows(frames[index], x, y, colour) == present, (
                    f"{s.qtype} {s.query!r} span {s.span}: at t={probe['t']} pixel ({x},{y}) is {got}, "
                    f"expected {'' if present else 'not '}{colour}"
                )
                checked += 1
    assert checked >= 4 * len(split.samples)  # at least four pixel checks per query


def test_probes_bracket_the_stated_span(split):
    """The probes sit exactly at the span's boundaries, and the picture changes across each boundary."""
    dt = 1.0 / synth.FPS
    for s in split.samples:
        a, b = s.span
        probes = {p["t"]: p["expect"] for p in s.meta["probes"]}
        if s.meta["kind"] in ("state", "sequence"):
            assert sorted(probes) == pytest.approx(sorted([a - dt, a, b - dt, b]))
            assert probes[a - dt] != probes[a] and probes[b - dt] != probes[b]
        else:  # motion or fade: at rest just before the start, changing at mid-span, at rest again at the end
            assert sorted(probes) == pytest.approx(sorted([a - dt, (a + b) / 2, b]))


def test_boundaries_are_exact_against_the_renderer(split, decoded):
    """Every decoded frame is close to the frame the plan says is shown at that time (timing, not only probes)."""
    video = split.samples[0].video
    frames, times = decoded[video]
    duration = split.samples[0].duration
    assert len(frames) == round(duration * synth.FPS)
    assert times[:3] == pytest.approx([0.0, 1 / synth.FPS, 2 / synth.FPS])
    idx = int(video.rsplit("_", 1)[1].split(".")[0])
    durations = synth.video_durations(np.random.default_rng([0, 0]), 4, 60.0)
    plan = synth.plan_video(np.random.default_rng([0, 1, idx]), durations[idx])
    errors = [np.abs(frames[i].astype(int) - synth.render_frame(plan, i / synth.FPS)).mean() for i in range(len(frames))]
    assert max(errors) < 3.0
    # a wrong time (one frame late) would be visible at each crisp boundary
    crisp = [s for s in split.samples if s.video == video and s.meta["kind"] == "state"]
    for s in crisp:
        i = round(s.span[0] * synth.FPS)
        assert np.abs(frames[i].astype(int) - synth.render_frame(plan, (i - 1) / synth.FPS)).max() > 100


def test_split_covers_all_query_types_with_valid_records(split, synth_split):
    assert len(split) == 4 * 11
    by_type = {}
    for s in split.samples:
        by_type.setdefault(s.qtype, []).append(s)
        assert s.source == "synth" and s.window is None and not s.flags
        assert 0 <= s.span[0] < s.span[1] <= s.duration <= 60.0
        assert (synth_split / s.video).is_file() and not Path(s.video).is_absolute()
        assert s.span[0] % synth.GRID_S == 0 and s.span[1] % synth.GRID_S == 0
    assert set(by_type) == set(QTYPES)
    assert all(len(v) == 4 for v in by_type.values())
    # one query per event type per video: no two records of a video share a span and a type
    assert len({(s.video, s.qtype) for s in split.samples}) == len(split)
    assert split.info["build"]["seed"] == 0 and split.info["window_mode"] == "crop"


def test_card_loads_and_validates(synth_split):
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(synth_split / "README.md")
    assert card.data.license == "apache-2.0"
    assert card.data.configs[0]["data_files"][0]["split"] == "test"
    assert "synth" in card.text and "content hash" in card.text


def test_same_seed_same_bytes_other_seed_other_content(tmp_path):
    def build(d, seed):
        synth.make_synthetic(d, n_videos=2, seed=seed, max_duration=20.0)
        return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(d.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".mp4")}

    first, second = build(tmp_path / "a", 3), build(tmp_path / "b", 3)
    assert first == second and len(first) == 3
    other = build(tmp_path / "c", 4)
    assert set(other.values()).isdisjoint(first.values())


def test_durations_spread_over_the_twenty_second_bins():
    durations = synth.video_durations(np.random.default_rng(0), 9)
    assert sorted(int(d // 20) for d in durations) == list(range(9))
    assert all(synth.MIN_DURATION_S <= d <= synth.MAX_DURATION_S for d in durations)


def test_cli_help_and_one_line_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["data", "synth", "--help"])
    assert res.exit_code == 0 and "--videos" in res.output and "--seed" in res.output
    res = runner.invoke(cli, ["data", "synth", "-o", str(tmp_path / "x"), "--videos", "0"])
    assert res.exit_code == 2
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    res = runner.invoke(cli, ["data", "synth", "-o", str(blocker / "sub")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error: cannot create output folder") and len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(cli, ["data", "synth", "-o", str(tmp_path / "y"), "--max-duration", "3"])
    assert res.exit_code == 2 and "at least" in res.stderr


def test_cli_writes_split(tmp_path):
    res = CliRunner().invoke(cli, ["data", "synth", "-o", str(tmp_path / "s"), "--videos", "1", "--seed", "5",
                                   "--max-duration", "15", "--split", "train"])
    assert res.exit_code == 0, res.output
    assert "11 queries over 1 videos" in res.stdout
    info = json.loads((tmp_path / "s" / "timer1.json").read_text())
    assert info["splits"]["train"]["n"] == 11
    assert len(load_split(tmp_path / "s", "train")) == 11


def test_plans_keep_their_invariants_over_many_seeds():
    """Cheap (no rendering): the relations between queries that make each one unambiguous hold for any seed."""
    dt = 1.0 / synth.FPS
    for seed in range(150):
        rng = np.random.default_rng(seed)
        duration = float(rng.choice([synth.MIN_DURATION_S, 37.5, synth.MAX_DURATION_S]))
        plan = synth.plan_video(rng, duration)
        ev = {e.qtype: e for e in plan.events}
        assert set(ev) == set(QTYPES)
        for e in plan.events:
            a, b = e.span
            assert 0 < a < b < duration and (b - a) >= synth.GRID_S
            assert all(0 <= p["t"] <= duration - dt for p in e.probes)
        oes, oa, oec = ev["Object Existence (Simple)"].span, ev["Object Attribute"].span, ev["Object Existence (Complex)"].span
        assert oec == (max(oes[0], oa[0]), min(oes[1], oa[1]))  # the complex query is the overlap
        assert oes != oec and oa != oec
        hp, hap = ev["Human Pose"].span, ev["Human Action (Procedural)"].span
        has, hac = ev["Human Action (Simple)"].span, ev["Human Action (Complex)"].span
        assert hap[0] == hp[0] and hap[1] > hp[1] and hap[1] <= has[0] and has[1] < hac[0]
        assert plan.jumps[1] == hac and plan.jumps[0][1] == hap[1]
        # the peak count of dots occurs exactly once
        peak = max(n for _, _, n in plan.dots)
        assert [n for _, _, n in plan.dots].count(peak) == 1


def test_split_units_respects_minimums_and_the_grid():
    rng = np.random.default_rng(1)
    for total in (14, 20, 37, 359):
        mins = [1, 2, 1, 2, 1, 3, 1, 2, 1]
        cuts = synth._split_units(rng, total, mins)
        edges = [0.0, *cuts, total * synth.GRID_S]
        lengths = [(b - a) / synth.GRID_S for a, b in zip(edges, edges[1:])]
        assert all(float(n).is_integer() and n >= m for n, m in zip(lengths, mins))
    with pytest.raises(ValueError):
        synth._split_units(rng, 5, [1, 2, 3])
