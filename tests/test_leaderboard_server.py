"""The leaderboard web app through its HTTP interface (Starlette TestClient): uploads, limits, tokens, no ground truth."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.guards import is_loopback
from leaderboard.server import create_app
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex
from test_leaderboard_validate import jsonl
from tvgbench.cli.main import cli
from tvgbench.core.schema import Sample
from tvgbench.core.splits import write_split

TOKEN = "s3cret-upload-token"
GT_MARKERS = ("3.14159265", "27.1828182")  # digits that only the ground truth spans contain


@pytest.fixture(scope="module")
def gt_split(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gt_split")
    samples = [Sample(video=f"v{i % 3}.mp4", query=f"query {i}", span=(i + 3.14159265, i + 27.1828182), duration=60.0,
                      source="charades", qtype="Human Pose") for i in range(10)]
    write_split(samples, out, "test")
    return out


@pytest.fixture
def client_for(gt_split, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    def make(**kw):
        store = open_store(tmp_path / "lb.sqlite3")
        kw.setdefault("split_dirs", [str(gt_split)])
        app = create_app(store, bootstrap=50, **kw)
        return TestClient(app, base_url="http://127.0.0.1"), store

    return make


def preds(split_dir, k=None, shift=1.0) -> bytes:
    idx = SplitIndex.from_dir(split_dir)
    return jsonl({"qid": q, "pred": [i + shift, i + 20.0]} for i, q in enumerate(idx.qids[:k]))


def upload(client, data: bytes, *, model="m", meta="", bearer=None, path="/api/submissions", **extra):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.post(path, files={"file": ("preds.jsonl", data, "application/jsonl")},
                       data={"model_name": model, "split": "test", "meta": meta, **extra}, headers=headers,
                       follow_redirects=False)


def test_upload_scores_stores_and_ranks(client_for, gt_split):
    client, store = client_for()
    r = upload(client, preds(gt_split), model="first", meta="fps=2\nprompt=v1")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["created"] and body["rank"] == 1 and body["meta"] == {"fps": "2", "prompt": "v1"}
    assert body["coverage"] == {"lines": 10, "matched": 10, "missing": 0, "missing_examples": []}
    again = upload(client, preds(gt_split), model="second")
    assert again.status_code == 200 and not again.json()["created"] and store.count() == 1
    board = client.get("/api/leaderboard").json()["boards"]
    assert [e["model_name"] for e in board[0]["entries"]] == ["first"]
    assert board[0]["entries"][0]["metrics"] == body["canonical"]["metrics"]
    assert client.get("/api/leaderboard?sort=R9").status_code == 400


def test_rejections_are_one_line_and_store_nothing(client_for, gt_split):
    client, store = client_for()
    bad = [b"", b"\x00\x01", b'{"qid": "zzz", "pred": [1, 2]}', preds(gt_split, 2) + preds(gt_split, 1),
           b'{"qid": 1, "pred": [NaN, 1]}']
    for data in bad:
        r = upload(client, data)
        assert r.status_code == 400
        err = r.json()["error"]
        assert err and "\n" not in err
    assert upload(client, preds(gt_split), model="").status_code == 400
    assert upload(client, preds(gt_split), meta="not a pair").status_code == 400
    assert upload(client, preds(gt_split), split="other").json()["error"].startswith("unknown split")
    r = client.post("/api/submissions", content=preds(gt_split), headers={"content-type": "application/jsonl"})
    assert r.status_code == 415
    assert store.count() == 0


def test_upload_size_limit_before_parsing(client_for, gt_split):
    client, store = client_for(max_upload_bytes=4096)
    big = preds(gt_split) + b"\n" * 5000
    r = upload(client, big)
    assert r.status_code == 400 and "larger than" in r.json()["error"]  # the file part alone is over
    r = upload(client, big + b"\n" * 70_000)
    assert r.status_code == 413  # the whole body is over: refused from Content-Length, unread

    def chunks():  # no Content-Length: counted while streaming
        yield b"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\n"
        for _ in range(100):
            yield b"\n" * 1024

    r = client.post("/api/submissions", content=chunks(), headers={"content-type": "multipart/form-data; boundary=xx"})
    assert r.status_code == 413 and store.count() == 0


def test_token_required_when_configured(client_for, gt_split):
    client, store = client_for(token=TOKEN)
    assert upload(client, preds(gt_split)).status_code == 401
    assert upload(client, preds(gt_split), bearer="wrong-token").status_code == 401
    assert upload(client, preds(gt_split), token="wrong-token").status_code == 401
    assert store.count() == 0
    assert upload(client, preds(gt_split), bearer=TOKEN).status_code == 201
    r = upload(client, preds(gt_split, 5), path="/submit", token=TOKEN)  # the form's token field
    assert r.status_code == 303 and r.headers["location"] == "/?submitted=2"
    page = client.get(r.headers["location"]).text
    assert "Stored submission #2" in page and 'type="password"' in page


def test_read_only_without_upload_splits(client_for):
    client, store = client_for(split_dirs=[])
    page = client.get("/").text
    assert "upload-form" not in page and "No submissions yet" in page
    assert upload(client, b'{"qid": "a", "pred": [1, 2]}').status_code == 403


def test_ground_truth_and_server_paths_never_served(client_for, gt_split):
    client, store = client_for()
    upload(client, preds(gt_split), model="m")
    upload(client, preds(gt_split, 4), path="/submit", model="n")
    urls = ["/", "/index.html", "/api/leaderboard", "/api/submissions/1", "/api/submissions/2",
            "/submissions/1.html", "/submissions/2.html", "/static/leaderboard.js", "/static/leaderboard.css"]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, url
        for marker in GT_MARKERS + (str(gt_split), '"span"', "query 1"):
            assert marker not in r.text, (url, marker)
    for url in ["/data/test-00000-of-00001.parquet", "/static/../store.py", "/static/%2e%2e/store.py",
                "/static/__init__.py", "/static/", "/static/%2e%2e/prediction_row.schema.json",
                "/timer1.json", "/api/submissions/99", "/submissions/99.html"]:
        assert client.get(url).status_code == 404, url


def test_security_headers_and_escaping_in_responses(client_for, gt_split):
    client, _ = client_for()
    upload(client, preds(gt_split), model="<script>alert(1)</script>", meta="note=<img src=x onerror=alert(2)>")
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<img src=x" not in r.text
    assert "<script>alert(1)" not in client.get("/submissions/1.html").text
    assert json.loads(client.get("/api/leaderboard").text)["boards"][0]["entries"][0]["model_name"].startswith("<script>")


def test_serve_refuses_anonymous_uploads_on_public_address(gt_split, tmp_path):
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")
    r = CliRunner().invoke(cli, ["leaderboard", "serve", "--host", "0.0.0.0", "--split", str(gt_split),
                                 "--db", str(tmp_path / "lb.db")])
    assert r.exit_code == 2 and "--token-file" in r.output
    short = tmp_path / "token"
    short.write_text("abc")
    r = CliRunner().invoke(cli, ["leaderboard", "serve", "--token-file", str(short), "--db", str(tmp_path / "lb.db")])
    assert r.exit_code == 2 and "shorter than 8" in r.output
