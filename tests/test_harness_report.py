"""`eval report` and `predict`: numbers agree with the scorer; plots are real images."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.harness.backends.base import Generation

FAST = {"fps": 1.0, "total_pixels": 128 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}


class ScriptedBackend:
    """Test-only backend: answers each query with its true span shifted by a seeded jitter."""

    name = "scripted"

    def __init__(self, samples, jitter: float, seed: int, unparsable_every: int = 0):
        self.gt = {(s.video.rsplit("/", 1)[-1], s.query): s.span for s in samples}
        self.rng = np.random.default_rng(seed)
        self.jitter = jitter
        self.every = unparsable_every
        self.count = 0

    def prepare(self, messages, prefix, sampled):
        text = messages[-1]["content"][-1]["text"]
        query = re.search(r'event "(.*)" in the video', text).group(1)
        return (sampled.meta["path"].rsplit("/", 1)[-1], query)

    def generate(self, queries):
        out = []
        for q in queries:
            self.count += 1
            if self.every and self.count % self.every == 0:
                out.append(Generation("<think>no idea</think><answer>never</answer>", 5, "stop"))
                continue
            s, e = self.gt[q]
            d = self.rng.normal(0, self.jitter, 2)
            out.append(Generation(f"<think>x</think><answer>{s + d[0]:.2f} to {e + d[1]:.2f}</answer>", 10, "stop"))
        return out

    def settings(self):
        return {"backend": self.name, "jitter": self.jitter}

    def close(self):
        pass


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, synth_split):
    from tvgbench.harness.runner import run_eval
    from tvgbench.core.splits import load_split

    samples = load_split(synth_split).samples
    base = tmp_path_factory.mktemp("runs")
    dirs = []
    for name, jitter, every in (("good", 0.5, 0), ("noisy", 4.0, 5)):
        run_eval(synth_split, synth_split, "scripted", backend="scripted", out_dir=base / name, sampling=FAST,
                 backend_obj=ScriptedBackend(samples, jitter, 0, every), progress=False, bootstrap=300)
        dirs.append(base / name)
    return dirs


def _table_rows(md: str, title: str) -> list[list[str]]:
    part = md.split(title, 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in part.splitlines()
            if line.startswith("|") and not line.startswith("|---")][1:]


def test_report_numbers_match_the_scorer_and_plots_are_images(two_runs, tmp_path):
    from PIL import Image

    good, _ = two_runs
    res = CliRunner().invoke(cli, ["eval", "report", str(good), "-o", str(tmp_path / "rep"), "--bootstrap", "300"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    scores = json.loads((good / "scores.json").read_text())
    head = {r[0]: r[1] for r in _table_rows(md, "## Headline")}
    for m in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"):
        assert head[m].startswith(f"{scores['metrics'][m]:.2f}")
    assert scores["metrics"]["R1@0.3"] > 50  # jitter 0.5 s on multi-second spans: mostly hits
    by_qtype = {r[0]: r for r in _table_rows(md, "## By query type")}
    for qtype, g in scores["breakdowns"]["qtype"].items():
        row = by_qtype[qtype]
        assert int(row[1]) == g["n"]
        assert row[2].startswith(f"{g['R1@0.5']:.2f}") and row[3].startswith(f"{g['mIoU']:.2f}")
    for png in ("qtype_r1_0.5.png", "qtype_miou.png", "iou_hist.png", "centre_length_scatter.png", "parse_status.png"):
        with Image.open(tmp_path / "rep" / png) as im:
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 100
            assert len(np.unique(np.asarray(im.convert("L")))) > 5  # not a blank canvas


def test_report_vs_gives_paired_delta_and_parse_rates(two_runs, tmp_path):
    good, noisy = two_runs
    res = CliRunner().invoke(cli, ["eval", "report", str(good), "--vs", str(noisy), "-o", str(tmp_path / "cmp"),
                                   "--bootstrap", "300"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "cmp" / "report.md").read_text()
    a = json.loads((good / "scores.json").read_text())["metrics"]
    b = json.loads((noisy / "scores.json").read_text())["metrics"]
    rows = {r[0]: r for r in _table_rows(md, "## Headline")}
    delta = float(rows["mIoU"][3].split()[0])
    assert delta == pytest.approx(b["mIoU"] - a["mIoU"], abs=0.01)
    lo, hi = (float(x) for x in re.findall(r"[-+]\d+\.\d", rows["mIoU"][3].split("[", 1)[1]))
    assert lo <= delta <= hi and hi < 0  # the noisy run is clearly worse
    n = json.loads((noisy / "scores.json").read_text())["counts"]["split_queries"]
    lines = [json.loads(x) for x in (noisy / "predictions.jsonl").read_text().splitlines()]
    unparsed = sum(r["pred"] is None for r in lines)
    assert unparsed >= n // 5  # every 5th answer has no span (a jittered negative end may add some)
    assert f"unparsed {unparsed} ({unparsed / n * 100:.1f}%)" in md


def test_predict_prints_reasoning_span_settings_and_plots(tmp_path, synth_split, tiny_model_dir):
    from PIL import Image

    from tvgbench.core.splits import load_split

    s = load_split(synth_split).samples[0]
    plot = tmp_path / "t.png"
    args = ["predict", "--model", str(tiny_model_dir), "--video", str(synth_split / s.video), "--query", s.query,
            "--gt", str(s.span[0]), str(s.span[1]), "--plot", str(plot), "--max-new-tokens", "8", "--threads", "1",
            "--fps", "1", "--total-pixels", str(FAST["total_pixels"]), "--max-pixels", str(FAST["max_pixels"])]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    for needle in ("model output", "parsed span:", "true span:", "frames at", "prompt r1", "greedy", "max_new_tokens 8"):
        assert needle in res.output
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.size[0] > 600
    before = plot.read_bytes()
    res = CliRunner().invoke(cli, args + ["--json"])  # an existing --plot file is never replaced unasked
    assert res.exit_code != 0 and res.output.startswith("error: ") and "--overwrite" in res.output
    assert plot.read_bytes() == before
    res = CliRunner().invoke(cli, args + ["--json", "--overwrite"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output[res.output.index("{"):])
    assert out["gt"] == list(s.span) and out["duration"] == pytest.approx(s.duration, abs=0.2)
    assert out["settings"]["prompt"]["sha256"] and out["settings"]["generation"]["max_new_tokens"] == 8
    assert out["video"]["n_frames"] >= 4


@pytest.mark.parametrize("extra,message", [
    (["--window", "5", "2"], "--window"),
    (["--gt", "5", "2"], "--gt"),
])
def test_predict_bad_input(tmp_path, synth_split, tiny_model_dir, extra, message):
    from tvgbench.core.splits import load_split

    s = load_split(synth_split).samples[0]
    res = CliRunner().invoke(cli, ["predict", "--model", str(tiny_model_dir), "--video", str(synth_split / s.video),
                                   "--query", "x", *extra])
    assert res.exit_code == 2 and res.output.strip().startswith("error:") and message in res.output


def test_predict_missing_video_is_one_line_error(tmp_path, tiny_model_dir):
    res = CliRunner().invoke(cli, ["predict", "--model", str(tiny_model_dir), "--video", str(tmp_path / "no.mp4"),
                                   "--query", "x"])
    assert res.exit_code == 2 and "missing" in res.output and len(res.output.strip().splitlines()) == 1


def test_report_never_replaces_a_users_file_and_rewrites_its_own(two_runs, tmp_path):
    good, _ = two_runs
    project = tmp_path / "project"
    project.mkdir()
    (project / "report.md").write_text("my notes\n")
    res = CliRunner().invoke(cli, ["eval", "report", str(good), "-o", str(project), "--bootstrap", "50"])
    assert res.exit_code != 0 and res.output.startswith("error: ") and "report.md" in res.output
    assert sorted(p.name for p in project.iterdir()) == ["report.md"]
    # --overwrite writes beside other files but never replaces one timer1 did not write
    res = CliRunner().invoke(cli, ["eval", "report", str(good), "-o", str(project), "--bootstrap", "50", "--overwrite"])
    assert res.exit_code != 0 and "was not written by timer1" in res.output
    assert (project / "report.md").read_text() == "my notes\n" and len(list(project.iterdir())) == 1
    # its own earlier report is recognised by the title it writes and replaced without --overwrite
    for _ in range(2):
        res = CliRunner().invoke(cli, ["eval", "report", str(good), "--bootstrap", "50"])
        assert res.exit_code == 0, res.output
    own = good / "report"
    assert (own / "report.md").read_text().startswith("# timer1 evaluation report: ")
    assert not [p for p in good.iterdir() if "timer1-" in p.name]  # no staging folder left
