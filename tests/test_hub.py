"""Hub publish and download, through one seam: a fake HfApi that stores commits in a folder.

The fake keeps files under ``root/<repo_id>/`` exactly as the Hub would serve them, so a publish followed
by ``download --from-dir`` of that folder is a full round trip without a network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from tvgbench.data import hub
from tvgbench.data.hub import downloading, extract, staging
from tvgbench.data.hub import plan as hub_plan
from tvgbench.core.errors import Timer1Error
from tvgbench.data.sources import ingest
from tvgbench.core.splits import content_hash, load_split

REPO = Path(__file__).resolve().parents[1]


class FakeHfApi:
    """Records every call; commits write their files under ``root/<repo_id>``."""

    def __init__(self, root: Path, fail_on_commit: int | None = None):
        self.root = root
        self.calls: list[tuple[str, dict]] = []
        self.commits: list[dict] = []
        self.fail_on_commit = fail_on_commit

    def repo(self, repo_id: str) -> Path:
        return self.root / repo_id

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        self.repo(repo_id).mkdir(parents=True, exist_ok=True)
        return f"https://huggingface.co/datasets/{repo_id}"

    def create_branch(self, repo_id, **kw):
        self.calls.append(("create_branch", {"repo_id": repo_id, **kw}))

    def list_repo_files(self, repo_id, **kw):
        self.calls.append(("list_repo_files", {"repo_id": repo_id, **kw}))
        base = self.repo(repo_id)
        return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())

    def get_paths_info(self, repo_id, paths, **kw):
        self.calls.append(("get_paths_info", {"repo_id": repo_id, "paths": paths, **kw}))
        out = []
        for p in paths:
            f = self.repo(repo_id) / p
            if f.is_file():
                out.append(SimpleNamespace(path=p, lfs=SimpleNamespace(sha256=hashlib.sha256(f.read_bytes()).hexdigest())))
        return out

    def create_commit(self, repo_id, operations, *, commit_message, **kw):
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        if self.fail_on_commit is not None and len(self.commits) == self.fail_on_commit:
            raise ConnectionError("connection reset by peer")  # the network drops mid-upload
        ops = list(operations)
        self.commits.append({"message": commit_message, "ops": ops, **kw})
        base = self.repo(repo_id)
        for op in ops:
            if isinstance(op, CommitOperationAdd):
                dest = base / op.path_in_repo
                dest.parent.mkdir(parents=True, exist_ok=True)
                with op.as_file() as f:
                    dest.write_bytes(f.read())
            elif isinstance(op, CommitOperationDelete):
                (base / op.path_in_repo).unlink()
        return SimpleNamespace(oid="0" * 40, commit_url=f"https://huggingface.co/datasets/{repo_id}/commit/{len(self.commits)}")


class Boom:
    def __getattr__(self, name):
        raise AssertionError(f"dry run must not touch the Hub (called {name})")


def paths_of(commit) -> set[str]:
    return {op.path_in_repo for op in commit["ops"]}


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def SHARD(synth_split) -> int:
    """A shard limit just above the largest video: the largest sits alone, so there are several shards."""
    return max(hub_plan.tar_member_bytes((synth_split / v).stat().st_size) for v in hub_plan.referenced_videos(synth_split)) + 1


def test_dry_run_plans_without_touching_the_hub(synth_split, SHARD):
    res = hub.publish(synth_split, "me/synth", api=Boom(), video_root=synth_split, dry_run=True, shard_bytes=SHARD)
    plan = {f.path_in_repo: f for f in res.files}
    assert {"README.md", "timer1.json", "data/test-00000-of-00001.parquet", hub_plan.SHARD_INDEX} <= set(plan)
    assert plan["data/test-00000-of-00001.parquet"].size == (synth_split / "data/test-00000-of-00001.parquet").stat().st_size
    members = [m for f in res.files for m, _ in f.members]
    assert sorted(members) == hub_plan.referenced_videos(synth_split) and len(members) == 4
    assert all(f.commit == "shard" for f in res.files if f.path_in_repo.endswith(".tar"))


def test_publish_commits_exactly_the_split_then_one_atomic_commit(synth_split, tmp_path, SHARD):
    api = FakeHfApi(tmp_path / "hub")
    res = hub.publish(synth_split, "me/synth", api=api, video_root=synth_split, private=True, revision="v1",
                      stage_dir=tmp_path / "stage", shard_bytes=SHARD, progress=False)
    assert ("create_repo", {"repo_id": "me/synth", "repo_type": "dataset", "private": True, "exist_ok": True}) in api.calls
    assert any(c[0] == "create_branch" and c[1]["branch"] == "v1" for c in api.calls)
    shards = sorted(f.path_in_repo for f in res.files if f.commit == "shard")
    assert len(shards) >= 2
    # one commit per shard, then the annotations in one final commit, all on the requested revision
    assert [paths_of(c) for c in api.commits[:-1]] == [{s} for s in shards]
    assert paths_of(api.commits[-1]) == {"README.md", "timer1.json", "data/test-00000-of-00001.parquet", hub_plan.SHARD_INDEX}
    assert all(c["revision"] == "v1" and c["repo_type"] == "dataset" for c in api.commits)
    remote = api.repo("me/synth")
    for name in ("timer1.json", "data/test-00000-of-00001.parquet"):
        assert (remote / name).read_bytes() == (synth_split / name).read_bytes()
    # the uploaded card is the split's card plus how to download it, and still a valid Hub card
    card = (remote / "README.md").read_text()
    assert card.startswith((synth_split / "README.md").read_text().rstrip("\n"))
    assert "timer1 data download me/synth -o DIR" in card and "video_shards/index.json" in card
    hub_plan.check_card(remote / "README.md")
    # the shards hold every referenced video, byte for byte, and the index says which shard holds what
    seen = {}
    for s in shards:
        with tarfile.open(remote / s) as tar:
            for m in tar.getmembers():
                seen[m.name] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
    assert seen == {v: sha(synth_split / v) for v in hub_plan.referenced_videos(synth_split)}
    index = json.loads((remote / hub_plan.SHARD_INDEX).read_text())
    assert [s["path"] for s in index["shards"]] == shards
    assert all(s["sha256"] == sha(remote / s["path"]) for s in index["shards"])
    # the dry-run size estimate of each shard is exact
    estimate = {f.path_in_repo: f.size for f in hub_plan.make_plan(synth_split, synth_split, SHARD) if f.commit == "shard"}
    assert estimate == {s: (remote / s).stat().st_size for s in shards}
    assert res.commit_url.endswith(f"/commit/{len(api.commits)}")


def test_interrupted_upload_resumes_with_the_missing_shards_only(synth_split, tmp_path, SHARD):
    stage_dir = tmp_path / "stage"
    api = FakeHfApi(tmp_path / "hub", fail_on_commit=1)
    with pytest.raises(Timer1Error, match="unreachable"):
        hub.publish(synth_split, "me/synth", api=api, video_root=synth_split, stage_dir=stage_dir,
                    shard_bytes=SHARD, progress=False)
    assert len(api.commits) == 1  # the first shard made it
    first = next(iter(paths_of(api.commits[0])))
    api.fail_on_commit = None
    res = hub.publish(synth_split, "me/synth", api=api, video_root=synth_split, stage_dir=stage_dir,
                      shard_bytes=SHARD, progress=False)
    assert res.skipped == [first]
    assert first not in {p for c in api.commits[1:] for p in paths_of(c)}
    remaining = [p for p in res.uploaded if p.endswith(".tar")]
    assert first not in remaining and len(remaining) >= 1
    assert len(api.commits) == 1 + len(remaining) + 1  # first shard, the rest, one annotations commit


def test_republish_deletes_files_the_new_publish_no_longer_has(synth_split, tmp_path):
    api = FakeHfApi(tmp_path / "hub")
    remote = api.repo("me/synth")
    (remote / "data").mkdir(parents=True)
    (remote / "data/test-00001-of-00002.parquet").write_bytes(b"old shard")
    (remote / "data/train-00000-of-00001.parquet").write_bytes(b"old split")
    (remote / "notes.txt").write_text("kept: not ours to delete")
    res = hub.publish(synth_split, "me/synth", api=api, stage_dir=tmp_path / "stage", progress=False)
    assert res.deleted == ["data/test-00001-of-00002.parquet", "data/train-00000-of-00001.parquet"]
    assert len(api.commits) == 1  # no videos: one atomic commit adds and deletes together
    assert sorted(api.list_repo_files("me/synth")) == ["README.md", "data/test-00000-of-00001.parquet",
                                                       "notes.txt", "timer1.json"]


def test_round_trip_publish_then_download_from_dir(synth_split, tmp_path, SHARD):
    api = FakeHfApi(tmp_path / "hub")
    hub.publish(synth_split, "me/synth", api=api, video_root=synth_split, stage_dir=tmp_path / "stage",
                shard_bytes=SHARD, progress=False)
    out = tmp_path / "downloaded"
    res = hub.download("me/synth", from_dir=api.repo("me/synth"), out=out, progress=False)
    assert res.splits == {"test": 44} and res.videos_found == 4 and res.videos_missing == 0
    original, copy = load_split(synth_split), load_split(out)
    assert content_hash(s.to_row() for s in copy.samples) == content_hash(s.to_row() for s in original.samples)
    for v in hub_plan.referenced_videos(out):
        assert sha(out / v) == sha(synth_split / v)
    # publishing the downloaded copy again does not repeat the usage section
    hub.publish(out, "me/synth2", api=api, stage_dir=tmp_path / "stage2", progress=False)
    assert (api.repo("me/synth2") / "README.md").read_text().count(staging.USAGE_MARKER) == 1
    # running it again resumes: nothing is rewritten
    again = hub.download("me/synth", from_dir=api.repo("me/synth"), out=out, progress=False)
    assert again.videos_found == 4
    # without videos only the annotations come over
    bare = hub.download("me/synth", from_dir=api.repo("me/synth"), out=tmp_path / "bare", videos=False, progress=False)
    assert bare.splits == {"test": 44} and not (tmp_path / "bare" / "videos").exists()


@pytest.fixture
def official_release(tmp_path, tvgbench_json, timerft_json):
    """A folder laid out like the Time-R1 release: annotations plus tvgbench_data/ and a zipped timerft_data/."""
    import zipfile

    rel = tmp_path / "TimeR1-Dataset"
    (rel / "annotations").mkdir(parents=True)
    shutil.copyfile(tvgbench_json, rel / "annotations" / "tvgbench.json")
    shutil.copyfile(timerft_json, rel / "annotations" / "train_2k5.json")
    tvg_videos = sorted({Path(r["path"]).name for r in json.loads(tvgbench_json.read_text())})[:3]
    (rel / "tvgbench_data").mkdir()
    for name in tvg_videos:
        (rel / "tvgbench_data" / name).write_bytes(b"not really a video")
    rft_videos = sorted({Path(r["video"]).name for r in json.loads(timerft_json.read_text())})[:2]
    with zipfile.ZipFile(rel / "timerft_data.zip", "w") as z:
        for name in rft_videos:
            z.writestr(f"timerft_data/{name}", b"not really a video either")
    return rel


def test_download_official_layout_from_dir(official_release, tmp_path, tvgbench_json, timerft_json):
    res = hub.download("tvgbench", from_dir=official_release, out=tmp_path / "tvgbench", progress=False)
    expected = ingest("timer1-tvgbench", tvgbench_json)
    assert res.splits == {"test": len(expected.samples)} and len(expected.samples) > 700
    split = load_split(tmp_path / "tvgbench")
    assert [s.qid for s in split.samples] == [s.qid for s in expected.samples]
    assert split.info["build"]["repo_id"] == downloading.OFFICIAL_REPO
    assert res.video_root == official_release / "tvgbench_data" and res.videos_found == 3

    res = hub.download("timerft", from_dir=official_release, out=tmp_path / "timerft", progress=False)
    assert res.splits == {"train": len(ingest("timer1-timerft", timerft_json).samples)}
    assert res.video_root == official_release / "timerft_data" and res.videos_found == 2  # unzipped


def test_download_needs_the_annotation_file(tmp_path, tvgbench_json):
    (tmp_path / "videos_only" / "tvgbench_data").mkdir(parents=True)
    with pytest.raises(Timer1Error, match="--annotations"):
        hub.download("tvgbench", from_dir=tmp_path / "videos_only", out=tmp_path / "o", progress=False)
    res = hub.download("tvgbench", from_dir=tmp_path / "videos_only", out=tmp_path / "o",
                       annotations=tvgbench_json, progress=False)
    assert res.splits["test"] > 700


def test_bad_input_is_one_clear_error(synth_split, tmp_path):
    with pytest.raises(Timer1Error, match="ORG/NAME|invalid repo id"):
        hub.publish(synth_split, "no-slash", api=Boom(), dry_run=True)
    with pytest.raises(Timer1Error, match="holds no split"):
        hub.publish(tmp_path, "me/x", api=Boom(), dry_run=True)
    empty_root = tmp_path / "no_videos"
    empty_root.mkdir()
    with pytest.raises(Timer1Error, match="referenced video"):
        hub.publish(synth_split, "me/x", api=Boom(), video_root=empty_root, dry_run=True)
    with pytest.raises(Timer1Error, match="unknown dataset"):
        hub.download("charades", from_dir=tmp_path)
    with pytest.raises(Timer1Error, match="cannot read size"):
        hub_plan.parse_size("lots")
    assert hub_plan.parse_size("500MB") == 500_000_000 and hub_plan.parse_size("2G") == 2_000_000_000


def test_extraction_refuses_paths_outside_the_folder(tmp_path):
    import io

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        info = tarfile.TarInfo("../escaped.mp4")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    with pytest.raises(Timer1Error, match="unsafe member"):
        extract.safe_extract(evil, tmp_path / "dest", progress=False)
    assert not (tmp_path / "escaped.mp4").exists()


def run_cli(args, tmp_path, **env):
    base = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HF_HUB_OFFLINE")}
    base.update(HF_HOME=str(tmp_path / "hf_home"), **env)
    return subprocess.run([sys.executable, "-m", "tvgbench.cli.main", *args], capture_output=True, text=True, env=base,
                          cwd=tmp_path, timeout=120)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_cli_fails_with_one_line_offline_without_token_or_network(synth_split, tmp_path):
    r = run_cli(["data", "download", "tvgbench"], tmp_path, HF_HUB_OFFLINE="1")
    assert r.returncode == 2 and "offline mode is on" in one_line(r.stderr) and "--from-dir" in r.stderr
    r = run_cli(["data", "publish", str(synth_split), "--repo-id", "me/x"], tmp_path)
    assert r.returncode == 2 and one_line(r.stderr) == "error: no Hugging Face token: run `hf auth login` or set HF_TOKEN"
    r = run_cli(["data", "publish", str(synth_split), "--repo-id", "me/x", "--stage-dir", str(tmp_path / "st")],
                tmp_path, HF_TOKEN="hf_fake", HF_ENDPOINT="http://127.0.0.1:9")
    assert r.returncode == 2 and "the Hub is unreachable" in one_line(r.stderr)
    assert not (tmp_path / "st").exists()  # failed before packing anything


def test_cli_dry_run_prints_the_plan(synth_split, tmp_path):
    r = run_cli(["data", "publish", str(synth_split), "--repo-id", "me/x", "--dry-run", "--with-videos",
                 str(synth_split), "--shard-size", "100KB"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run: would publish" in r.stdout and "data/test-00000-of-00001.parquet" in r.stdout
    assert "video_shards/videos-00000-of-" in r.stdout and "1 atomic annotations commit" in r.stdout
    r = run_cli(["data", "download", "--help"], tmp_path)
    assert r.returncode == 0 and "--from-dir" in r.stdout and "--no-videos" in r.stdout


def test_publish_refuses_a_split_edited_after_writing(synth_split, tmp_path):
    import pyarrow.parquet as pq

    edited = tmp_path / "edited"
    shutil.copytree(synth_split, edited, ignore=shutil.ignore_patterns("videos"))
    f = edited / "data/test-00000-of-00001.parquet"
    table = pq.read_table(f)
    pq.write_table(table.slice(1), f)  # one record dropped by hand
    with pytest.raises(Timer1Error, match="changed after it was written"):
        hub.publish(edited, "me/x", api=Boom(), dry_run=True)


def test_download_through_snapshot_download(official_release, tmp_path):
    """The real path calls huggingface_hub.snapshot_download; here a stand-in serves the release folder."""
    calls = []

    def fake_snapshot_download(repo_id, **kw):
        calls.append({"repo_id": repo_id, **kw})
        dest = Path(kw["local_dir"])
        shutil.copytree(official_release, dest, dirs_exist_ok=True)
        return str(dest)

    res = hub.download("tvgbench", out=tmp_path / "out", local_dir=tmp_path / "raw", videos=False, revision="r1",
                       snapshot_download=fake_snapshot_download, progress=False)
    assert calls == [{"repo_id": downloading.OFFICIAL_REPO, "repo_type": "dataset", "revision": "r1",
                      "local_dir": tmp_path / "raw", "allow_patterns": downloading.ANNOTATION_PATTERNS}]
    assert res.splits["test"] > 700 and res.video_root is None
    assert not (tmp_path / "raw" / "timerft_data").exists()  # --no-videos: archives stay packed

    # with videos: annotations first, then only this part's videos
    calls.clear()
    res = hub.download("timerft", out=tmp_path / "out2", local_dir=tmp_path / "raw2",
                       snapshot_download=fake_snapshot_download, progress=False)
    assert [c["allow_patterns"] for c in calls] == [downloading.ANNOTATION_PATTERNS, [*downloading.ANNOTATION_PATTERNS, "*timerft_data*"]]
    assert res.splits["train"] > 2400 and res.videos_found == 2


def test_download_without_annotations_fails_before_fetching_videos(tmp_path):
    calls = []

    def videos_only_release(repo_id, **kw):
        calls.append(kw["allow_patterns"])
        (Path(kw["local_dir"]) / "tvgbench_data").mkdir(parents=True, exist_ok=True)
        return kw["local_dir"]

    with pytest.raises(Timer1Error, match="--annotations FILE"):
        hub.download("tvgbench", out=tmp_path / "o", local_dir=tmp_path / "raw",
                     snapshot_download=videos_only_release, progress=False)
    assert calls == [downloading.ANNOTATION_PATTERNS]


def test_cli_download_from_dir(official_release, tmp_path):
    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    r = CliRunner().invoke(cli, ["data", "download", "tvgbench", "--from-dir", str(official_release),
                                 "-o", str(tmp_path / "tvg")])
    assert r.exit_code == 0, r.output
    assert "test: " in r.stdout and f"--video-root {official_release / 'tvgbench_data'}" in r.stdout
    assert "3 found" in r.stdout
    r = CliRunner().invoke(cli, ["data", "download", "tvgbench", "--from-dir", str(tmp_path / "missing")])
    assert r.exit_code == 2 and r.stderr.startswith("error: --from-dir folder not found")


def test_download_checks_shards_and_rows_against_what_was_published(synth_split, tmp_path, SHARD):
    api = FakeHfApi(tmp_path / "hub")
    hub.publish(synth_split, "me/synth", api=api, video_root=synth_split, stage_dir=tmp_path / "stage",
                shard_bytes=SHARD, progress=False)
    remote = api.repo("me/synth")
    shard = sorted((remote / hub_plan.SHARD_DIR).glob("*.tar"))[0]
    good = shard.read_bytes()
    shard.write_bytes(good[:2000] + bytes([good[2000] ^ 0xFF]) + good[2001:])  # one damaged byte
    with pytest.raises(Timer1Error, match="corrupt"):
        hub.download("me/synth", from_dir=remote, out=tmp_path / "a", progress=False)
    shard.unlink()
    with pytest.raises(Timer1Error, match="missing"):
        hub.download("me/synth", from_dir=remote, out=tmp_path / "b", progress=False)
    shard.write_bytes(good)
    sidecar = json.loads((remote / "timer1.json").read_text())
    sidecar["splits"]["test"]["content_hash"] = "sha256:" + "0" * 64
    (remote / "timer1.json").write_text(json.dumps(sidecar))
    with pytest.raises(Timer1Error, match="changed after it was written"):
        hub.download("me/synth", from_dir=remote, out=tmp_path / "c", progress=False)


def test_publish_uploads_the_plots_the_card_embeds(synth_split, tmp_path):
    """The full card embeds plots/*.png by relative path: without them on the Hub its images are broken."""
    import re

    from tvgbench.data.cards import write_build_card

    carded = tmp_path / "carded"
    shutil.copytree(synth_split, carded, ignore=shutil.ignore_patterns("videos"))
    write_build_card(carded)
    api = FakeHfApi(tmp_path / "hub")
    remote = api.repo("me/synth")
    (remote / "plots").mkdir(parents=True)
    (remote / "plots/train_sources.png").write_bytes(b"a plot of a split this publish no longer has")
    res = hub.publish(carded, "me/synth", api=api, stage_dir=tmp_path / "stage", progress=False)
    embedded = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (remote / "README.md").read_text())
    assert len(embedded) == 3 and all(p.startswith("plots/") and p.endswith(".png") for p in embedded)
    assert all((remote / p).read_bytes() == (carded / p).read_bytes() for p in embedded)
    assert set(embedded) <= paths_of(api.commits[-1])  # in the one atomic annotations commit
    assert res.deleted == ["plots/train_sources.png"]
    # a download brings them back beside the card
    out = tmp_path / "downloaded"
    hub.download("me/synth", from_dir=remote, out=out, videos=False, progress=False)
    assert all((out / p).read_bytes() == (carded / p).read_bytes() for p in embedded)


def test_download_never_replaces_files_timer1_did_not_write(synth_split, tmp_path):
    """`data download -o DIR` into a user's folder: their README.md, plots and parquet files stay as they were."""
    api = FakeHfApi(tmp_path / "hub")
    hub.publish(synth_split, "me/synth", api=api, stage_dir=tmp_path / "stage", progress=False)
    out = tmp_path / "project"
    (out / "data").mkdir(parents=True)
    (out / "README.md").write_text("my project\n")
    (out / "data" / "mine.parquet").write_bytes(b"user data")
    with pytest.raises(Timer1Error, match="README.md was not written by timer1"):
        hub.download("me/synth", from_dir=api.repo("me/synth"), out=out, videos=False, progress=False)
    assert (out / "README.md").read_text() == "my project\n"
    assert (out / "data" / "mine.parquet").read_bytes() == b"user data"
    # beside files of its own kind (an earlier download) it replaces only those, and keeps the user's
    (out / "README.md").unlink()
    hub.download("me/synth", from_dir=api.repo("me/synth"), out=out, videos=False, progress=False)
    hub.download("me/synth", from_dir=api.repo("me/synth"), out=out, videos=False, progress=False)
    assert (out / "data" / "mine.parquet").read_bytes() == b"user data"
    assert load_split(out).samples
