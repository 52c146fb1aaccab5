"""Leaderboard hardening (issue 13, items 2, 10-13, 26): reading never creates, ids SQLite cannot hold,
CSRF / DNS rebinding, unauthenticated bodies, hidden ground truth, pretty names and same-named splits."""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import sqlite3
import threading
import time
import tracemalloc
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from leaderboard.server import create_app
from leaderboard.service import submit
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex
from test_leaderboard_validate import jsonl, make_tiny_split, rows_for
from tvgbench.cli.main import cli
from tvgbench.core.schema import QTYPES, Sample
from tvgbench.core.splits import write_split

HUGE_ID = "99999999999999999999999"  # > 2**63: SQLite cannot hold it


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = make_tiny_split(tmp_path_factory.mktemp("tiny_split"))
    return d, SplitIndex.from_dir(d)


def client_of(app, host="127.0.0.1"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    return TestClient(app, base_url=f"http://{host}")


def lb(*args):
    return CliRunner().invoke(cli, ["leaderboard", *map(str, args)])


# ---- item 2: reading never creates ------------------------------------------------------------------


def test_show_on_a_missing_database_creates_nothing(tmp_path):
    db = tmp_path / "missing" / "dir" / "lb.sqlite"
    for args in (["show"], ["show", "--json"], ["withdraw", "1", "--reason", "x"]):
        r = lb(*args, "--db", db)
        assert r.exit_code == 2, (args, r.output)
        assert r.output.startswith("error: ") and r.output.count("\n") == 1 and "no leaderboard database" in r.output
    assert not (tmp_path / "missing").exists()


def test_show_on_an_empty_or_foreign_file_leaves_it_untouched(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all\n" * 10)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    before = {p: p.read_bytes() for p in (empty, text, other)}
    for p in before:
        r = lb("show", "--db", p)
        assert r.exit_code == 2 and r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
        assert "not a leaderboard database" in r.output
    assert {p: p.read_bytes() for p in before} == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["empty.db", "notes.txt", "other.sqlite"]


def test_show_on_a_corrupt_database_is_one_error_line(tiny, tmp_path):
    split_dir, idx = tiny
    db = tmp_path / "lb.sqlite3"
    with open_store(db) as store:
        for k in range(1, 6):
            submit(store, jsonl(rows_for(idx, k)), split_dir, model_name=f"m{k}", bootstrap=20, split=idx)
    with sqlite3.connect(db) as c:  # fold the WAL in: every row now lives in the main file
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    intact = db.read_bytes()
    page = 4096
    errors = 0
    for start in range(page, len(intact), page):  # damage one page at a time (the header page stays)
        for fill in (b"\xff", b"\x00"):
            raw = bytearray(intact)
            raw[start + 8:start + page] = fill * (page - 8)
            db.write_bytes(bytes(raw))
            r = lb("show", "--db", db)
            assert r.exit_code in (0, 2), (start, fill, r.output)
            assert "internal error" not in r.output and "Traceback" not in r.output, (start, fill, r.output)
            if r.exit_code == 2:
                errors += 1
                assert r.output.startswith("error: ") and r.output.count("\n") == 1, r.output
                assert "corrupt" in r.output or "malformed" in r.output, r.output
    assert errors >= 4  # the rows' pages were hit


# ---- item 13: ids SQLite cannot hold; 500s keep the security headers --------------------------------


def test_ids_too_large_for_sqlite_are_not_found(tiny, tmp_path):
    split_dir, idx = tiny
    store = open_store(tmp_path / "lb.sqlite3")
    submit(store, jsonl(rows_for(idx)), split_dir, model_name="m", bootstrap=20, split=idx)
    client = client_of(create_app(store, split_dirs=[str(split_dir)], bootstrap=20))
    for url in (f"/api/submissions/{HUGE_ID}", f"/submissions/{HUGE_ID}.html"):
        r = client.get(url)
        assert r.status_code == 404, (url, r.status_code)
        assert r.headers["x-content-type-options"] == "nosniff"
    r = client.get(f"/?submitted={HUGE_ID}")
    assert r.status_code == 200 and "Stored submission" not in r.text
    assert store.get(int(HUGE_ID)) is None and store.get(-1) is None
    r = lb("withdraw", HUGE_ID, "--reason", "x", "--db", tmp_path / "lb.sqlite3")
    assert r.exit_code == 2 and r.output == f"error: no submission #{HUGE_ID}\n", r.output


class _BrokenStore:
    """A store whose reads fail the way a bug would: the app must still answer with its headers."""

    def submissions(self, split_name=None):
        raise RuntimeError("disk on fire")

    def get(self, sub_id):
        raise RuntimeError("disk on fire")


def test_internal_errors_keep_the_security_headers(caplog):
    client = client_of(create_app(_BrokenStore()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = client.get("/api/leaderboard")
    assert r.status_code == 500 and r.json() == {"error": "internal error"}
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "disk on fire" not in r.text


# ---- item 10: CSRF and DNS rebinding --------------------------------------------------------------


def upload_form(client, data: bytes, *, model="m", path="/api/submissions", headers=None, **extra):
    return client.post(path, files={"file": ("preds.jsonl", data, "application/jsonl")},
                       data={"model_name": model, "split": "test", **extra}, headers=headers or {},
                       follow_redirects=False)


def test_uploads_from_another_origin_are_refused(tiny, tmp_path):
    split_dir, idx = tiny
    store = open_store(tmp_path / "lb.sqlite3")
    client = client_of(create_app(store, split_dirs=[str(split_dir)], bootstrap=20))
    data = jsonl(rows_for(idx))
    cross = [{"origin": "http://evil.example"}, {"origin": "null"}, {"origin": "http://127.0.0.1:9999"},
             {"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},  # same-site: another port
             {"origin": "http://evil.example", "sec-fetch-site": "same-origin"}]
    for path in ("/api/submissions", "/submit"):
        for headers in cross:
            r = upload_form(client, data, path=path, headers=headers)
            assert r.status_code == 403, (path, headers, r.status_code)
            assert "refused" in r.text
    assert store.count() == 0
    # the board's own page, a fetch from its origin, and a non-browser client (no Origin) still upload
    assert upload_form(client, data, path="/submit", headers={"origin": "http://127.0.0.1",
                                                              "sec-fetch-site": "same-origin"}).status_code == 303
    assert upload_form(client, jsonl(rows_for(idx, 5)), headers={"sec-fetch-site": "same-origin"}).status_code == 201
    assert upload_form(client, jsonl(rows_for(idx, 4))).status_code == 201
    assert store.count() == 3


def test_requests_for_other_host_names_are_refused(tiny, tmp_path):
    split_dir, idx = tiny
    store = open_store(tmp_path / "lb.sqlite3")
    app = create_app(store, split_dirs=[str(split_dir)], bootstrap=20)
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "testserver"):
        client = client_of(app, host)
        assert client.get("/").status_code == 400, host
        r = upload_form(client, jsonl(rows_for(idx)), headers={"origin": f"http://{host}"})
        assert r.status_code == 400 and "--allowed-host" in r.text and "nosniff" in r.headers["x-content-type-options"]
    assert store.count() == 0
    for host in ("127.0.0.1:8000", "localhost", "[::1]:8000", "LOCALHOST:1"):
        assert client_of(app, host).get("/").status_code == 200, host
    public = create_app(store, split_dirs=[str(split_dir)], bootstrap=20, allowed_hosts=["board.example.org"])
    assert client_of(public, "board.example.org").get("/api/leaderboard").status_code == 200
    assert client_of(public, "evil.example").get("/api/leaderboard").status_code == 400


# ---- item 11: the token before the body, bounded uploads ------------------------------------------


@contextlib.contextmanager
def serving(app):
    """The app under uvicorn on a free loopback port, in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def multipart_head(port: int, length: int, auth: str | None = None) -> bytes:
    lines = ["POST /api/submissions HTTP/1.1", f"Host: 127.0.0.1:{port}",
             "Content-Type: multipart/form-data; boundary=xx", f"Content-Length: {length}"]
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'


def test_a_wrong_token_is_refused_before_the_body_is_sent(tiny, tmp_path):
    split_dir, _ = tiny
    app = create_app(open_store(tmp_path / "lb.sqlite3"), split_dirs=[str(split_dir)], token="right-token-123")
    with serving(app) as port:
        for auth in (None, "wrong-token-456"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(multipart_head(port, 30 * 2**20, auth))  # announces 30 MiB, sends none of it
                answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 401"), answer[:80]


def test_concurrent_uploads_are_capped(tiny, tmp_path):
    import httpx

    split_dir, idx = tiny
    store = open_store(tmp_path / "lb.sqlite3")
    app = create_app(store, split_dirs=[str(split_dir)], max_concurrent_uploads=1, bootstrap=20)
    with serving(app) as port, socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
        slow.sendall(multipart_head(port, 2**20) + b"\n" * 1000)  # holds the only slot, body unfinished
        files = {"file": ("p.jsonl", jsonl(rows_for(idx)), "application/jsonl")}
        deadline = time.monotonic() + 5
        while True:
            r = httpx.post(f"http://127.0.0.1:{port}/api/submissions", files=files, data={"model_name": "m"})
            if r.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert r.status_code == 503 and r.headers["retry-after"] == "5", r.text
        assert store.count() == 0
    with serving(app) as port:  # the slot is free again once that upload ended
        r = httpx.post(f"http://127.0.0.1:{port}/api/submissions", files=files, data={"model_name": "m"})
        assert r.status_code == 201, r.text


def test_an_upload_streams_to_disk_not_memory(tiny, tmp_path):
    import httpx

    split_dir, _ = tiny
    limit = 16 * 2**20
    app = create_app(open_store(tmp_path / "lb.sqlite3"), split_dirs=[str(split_dir)], max_upload_bytes=limit)
    chunk = b"\n" * 2**16

    def body():  # no Content-Length: the server only learns the size by reading
        yield b'--xx\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for _ in range(limit // len(chunk) + 8):
            yield chunk

    with serving(app) as port:
        tracemalloc.start()
        try:
            r = httpx.post(f"http://127.0.0.1:{port}/api/submissions", content=body(), timeout=60,
                           headers={"content-type": "multipart/form-data; boundary=xx"})
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert r.status_code == 413
    assert peak < limit / 4, f"{peak / 2**20:.1f} MiB held for a {limit / 2**20:.0f} MiB upload"


# ---- item 12: hidden ground truth does not leak ---------------------------------------------------

PROBE_N = 200


def mark_hidden(split_dir: Path) -> None:
    sidecar = split_dir / "timer1.json"
    info = json.loads(sidecar.read_text())
    info["splits"]["test"]["hidden_ground_truth"] = True
    sidecar.write_text(json.dumps(info, indent=2))


@pytest.fixture(scope="module")
def probe_splits(tmp_path_factory):
    """The same 200 queries twice: one split public, one marked as having hidden ground truth."""
    rng = random.Random(13)
    samples = []
    for i in range(PROBE_N):
        duration = rng.choice([60.0, 90.0, 120.0, 150.0])
        length = rng.uniform(0.15, 0.4) * duration
        start = rng.uniform(0, duration - length)
        samples.append(Sample(video=f"v{i % 40}.mp4", query=f"the person does thing {i}.", span=(start, start + length),
                              duration=duration, source="charades", qtype=list(QTYPES)[i % len(QTYPES)]))
    dirs = {}
    for kind in ("open", "hidden"):
        d = tmp_path_factory.mktemp(kind)
        write_split(samples, d, "test")
        if kind == "hidden":
            mark_hidden(d)
        dirs[kind] = d
    truth = {SplitIndex.from_dir(dirs["open"]).qids[i]: s for i, s in enumerate(samples)}
    return dirs, truth


def probe_attack(post, qid: str, duration: float, pad: list[dict]) -> tuple[float, float] | None:
    """Five submissions for one query, read back through the public mIoU (= IoU * 100 / N when every other
    line is a miss): [0, D] gives the span's length; [0, x] bisects until x falls inside the span, where
    the IoU solves for the start exactly."""
    def iou(pred):
        body = post(pad + [{"qid": qid, "pred": pred}])
        return None if body is None else body["canonical"]["metrics"]["mIoU"] * PROBE_N / 100

    full = iou([0.0, duration])
    if full is None:
        return None
    length = full * duration
    lo, hi = 0.0, duration
    for _ in range(4):
        x = (lo + hi) / 2
        v = iou([0.0, x])
        if v is None:
            return None
        if v < 1e-3:
            lo = x  # the span starts after x
        elif length and abs(v - length / x) < 1e-3:
            hi = x  # the span ends before x
        else:
            start = (x - v * length) / (1 + v)
            return start, start + length
    return None


def run_probes(client, truth, *, pad_others: bool, bearer=None) -> tuple[int, list[int]]:
    statuses = []
    qids = list(truth)

    def post(rows):
        r = client.post("/api/submissions", files={"file": ("p.jsonl", jsonl(rows), "application/jsonl")},
                        data={"model_name": "probe"}, headers={"authorization": f"Bearer {bearer}"} if bearer else {})
        statuses.append(r.status_code)
        return r.json() if r.status_code in (200, 201) else None

    recovered = 0
    for qid in qids[:5]:
        pad = [{"qid": q, "pred": None} for q in qids if q != qid] if pad_others else []
        s = truth[qid]
        guess = probe_attack(post, qid, s.duration, pad)
        if guess and abs(guess[0] - s.span[0]) <= 0.25 and abs(guess[1] - s.span[1]) <= 0.25:
            recovered += 1
    return recovered, statuses


def test_probing_recovers_spans_of_a_public_split(probe_splits, tmp_path):
    dirs, truth = probe_splits
    client = client_of(create_app(open_store(tmp_path / "lb.sqlite3"), split_dirs=[str(dirs["open"])], bootstrap=0))
    recovered, statuses = run_probes(client, truth, pad_others=False)
    assert recovered >= 4 and set(statuses) == {201}  # the attack of the issue, on a split that hides nothing


def test_probing_no_longer_recovers_hidden_spans(probe_splits, tmp_path):
    dirs, truth = probe_splits
    tokens = ["attacker-token-1", "attacker-token-2"]
    store = open_store(tmp_path / "lb.sqlite3")
    client = client_of(create_app(store, split_dirs=[str(dirs["hidden"])], bootstrap=0, token=tokens))
    # one-line submissions: refused for coverage, nothing stored, nothing learnt
    recovered, statuses = run_probes(client, truth, pad_others=False, bearer=tokens[0])
    assert recovered == 0 and set(statuses) == {400} and store.count() == 0
    # padded to full coverage with misses: rounded scores, and 5 a day per token
    recovered, statuses = run_probes(client, truth, pad_others=True, bearer=tokens[0])
    assert recovered == 0
    assert statuses[:5] == [201] * 5 and set(statuses[5:]) == {429}, statuses
    assert store.count() == 5
    rows = [{"qid": q, "pred": None} for q in truth]
    rows[0]["pred"] = [1.0, 30.0]
    r = client.post("/api/submissions", files={"file": ("p.jsonl", jsonl(rows), "application/jsonl")},
                    data={"model_name": "other"}, headers={"authorization": f"Bearer {tokens[1]}"})
    assert r.status_code == 201  # another token has its own quota
    # every public view: one decimal, no per-group breakdowns
    body = r.json()
    views = [body["canonical"], body["timer1"], client.get("/api/submissions/6").json()["canonical"]]
    views += [e for b in client.get("/api/leaderboard").json()["boards"] for e in b["entries"]]
    for v in views:
        assert all(round(x, 1) == x for x in v["metrics"].values()), v["metrics"]
        assert not v.get("breakdowns")
    page = client.get("/submissions/6.html").text
    assert 'class="chart"' not in page
    for html in (page, client.get("/").text):
        shown = re.findall(r'class="num">(\d+\.\d+)', html)
        assert shown and all(len(x.split(".")[1]) == 1 for x in shown), shown
    full = store.get(6).canonical  # the maintainers keep the full result
    assert full["breakdowns"]["qtype"] and full["split"]["hidden_ground_truth"] is True


# ---- item 26: the dataset's name on the board; two splits both named "test" -------------------------


def named_split(folder: Path, pretty: str) -> Path:
    d = make_tiny_split(folder)
    card = d / "README.md"
    lines = card.read_text().splitlines(keepends=True)
    card.write_text("".join(f"pretty_name: {pretty}\n" if ln.startswith("pretty_name:") else ln for ln in lines))
    return d


def test_board_shows_pretty_names_and_serves_two_splits_named_test(tmp_path):
    alpha = named_split(tmp_path / "alpha", "Alpha Grounding Bench")
    beta = make_tiny_split(tmp_path / "beta", n=10)
    (beta / "README.md").write_text("no card header here\n")  # no pretty name: the folder's name is shown
    info = json.loads((beta / "timer1.json").read_text())
    info["splits"]["test"]["pretty_name"] = "Beta Set (sidecar)"
    (beta / "timer1.json").write_text(json.dumps(info))
    assert SplitIndex.from_dir(alpha).pretty_name == "Alpha Grounding Bench"
    assert SplitIndex.from_dir(beta).pretty_name == "Beta Set (sidecar)"
    db = tmp_path / "lb.sqlite3"
    store = open_store(db)
    app = create_app(store, split_dirs=[str(alpha), str(beta)], bootstrap=20)
    assert app.state.splits == ["alpha/test", "beta/test"]
    client = client_of(app)
    for key, d in (("alpha/test", alpha), ("beta/test", beta)):
        r = upload_form(client, jsonl(rows_for(SplitIndex.from_dir(d))), split=key)
        assert r.status_code == 201, r.text
    r = upload_form(client, jsonl(rows_for(SplitIndex.from_dir(beta))), split="test")
    assert r.status_code == 400 and "alpha/test" in r.json()["error"]  # ambiguous: the keys are listed
    boards = client.get("/api/leaderboard").json()["boards"]
    assert sorted(b["split"]["pretty_name"] for b in boards) == ["Alpha Grounding Bench", "Beta Set (sidecar)"]
    assert {b["split"]["name"] for b in boards} == {"test"}
    page = client.get("/").text
    assert "Alpha Grounding Bench</span> · split <code>test</code>" in page and "Beta Set (sidecar)</span>" in page
    assert '<option value="beta/test">Beta Set (sidecar) · test</option>' in page
    assert "Alpha Grounding Bench" in client.get("/submissions/1.html").text
    store.close()
    shown = lb("show", "--db", db)
    assert shown.exit_code == 0 and "Alpha Grounding Bench · split test" in shown.output
    assert "Beta Set (sidecar) · split test" in shown.output
