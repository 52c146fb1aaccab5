"""The openai backend against a loopback stub of an OpenAI-compatible server (127.0.0.1 only)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli

FAST = {"fps": 1.0, "total_pixels": 128 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}
KEY = "sk-test-not-a-real-key"


class Stub:
    """Answers with a span derived from what it received: [first timestamp, last timestamp] of the frames.

    Fails with ``status`` on every ``fail_every``-th call and on the first ``fail_first`` calls, with
    ``always`` on every call; ``reply`` replaces the chat completion it answers with.
    """

    def __init__(self, fail_every: int = 0, status: int = 503, retry_after: str | None = None, always: int = 0,
                 fail_first: int = 0, reply: dict | None = None):
        self.bodies, self.headers, self.calls, self.times, self.retry_counts = [], [], 0, [], []
        self.paths = []  # the request targets, query string included
        self.fail_every, self.status, self.retry_after, self.always = fail_every, status, retry_after, always
        self.fail_first, self.reply = fail_first, reply
        self.lock = threading.Lock()

    def handler(self):
        stub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.calls += 1
                    n = stub.calls
                    stub.times.append(time.monotonic())
                    stub.retry_counts.append(self.headers.get("x-stainless-retry-count"))
                    stub.paths.append(self.path)
                    fail = stub.always or (stub.fail_every and n % stub.fail_every == 0) or n <= stub.fail_first
                    if not fail:
                        stub.bodies.append(body)
                        stub.headers.append(dict(self.headers))
                if urlsplit(self.path).path != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                if fail:
                    self.send_response(stub.always or stub.status)
                    if stub.retry_after is not None:
                        self.send_header("Retry-After", stub.retry_after)
                    self.end_headers()
                    self.wfile.write(b'{"error": "try later"}')
                    return
                user = next(m for m in body["messages"] if m["role"] == "user")
                parts = user["content"] if isinstance(user["content"], list) else []
                stamps = [float(p["text"][:-1]) for p in parts if p["type"] == "text"
                          and p["text"].endswith("s") and p["text"][:-1].replace(".", "").isdigit()]
                text = (f"<think>saw {len(stamps)} frames</think><answer>{stamps[0]:.2f} to {stamps[-1]:.2f}</answer>"
                        if stamps else "no frames")
                reply = stub.reply or {
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                    "usage": {"completion_tokens": 7, "prompt_tokens": 1, "total_tokens": 8}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return H


@pytest.fixture
def serve():
    servers = []

    def start(stub: Stub) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), stub.handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_eval_run_over_the_stub_sends_timestamped_frames_and_retries(tmp_path, synth_split, serve, monkeypatch):
    from PIL import Image

    from tvgbench.harness.runner import run_eval
    from tvgbench.core.splits import load_split

    monkeypatch.setenv("STUB_KEY", KEY)
    stub = Stub(fail_every=4, status=503, retry_after="0.01")
    base = serve(stub)
    out = tmp_path / "run"
    summary = run_eval(synth_split, synth_split, "stub-model", backend="openai", out_dir=out, batch_size=4, limit=12,
                       sampling=FAST, gen={"max_new_tokens": 64}, progress=False, bootstrap=0,
                       backend_options={"api_base": base, "api_key_env": "STUB_KEY", "timeout_s": 30})
    assert summary["status"] == "clean" and summary["counts"]["lines"] == 12
    # every 4th call failed with 503 and the SDK retried it: 12 answers take exactly 15 calls (4, 8 and 12 failed)
    assert stub.calls == 15 and len(stub.bodies) == 12
    samples = {s.qid: s for s in load_split(synth_split).samples}
    recs = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    for body in stub.bodies:
        assert body["model"] == "stub-model" and body["max_tokens"] == 64 and body["temperature"] == 0.0
        assert body["messages"][0] == {"role": "system", "content": "You are a helpful assistant."}
        parts = body["messages"][1]["content"]
        images = [p for p in parts if p["type"] == "image_url"]
        assert parts[-1]["type"] == "text" and "To accurately pinpoint" in parts[-1]["text"]  # video first
        png = base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "JPEG" and im.size[0] % 28 == 0 and im.size[1] % 28 == 0
    for rec in recs:
        n = rec["video"]["n_frames"]
        assert rec["text"].startswith(f"<think>saw {n} frames")
        assert rec["pred"][0] == pytest.approx(0.0, abs=0.6)  # first frame is at the clip start
        assert rec["pred"][1] <= samples[rec["qid"]].duration + 1e-6
    assert all(h.get("Authorization") == f"Bearer {KEY}" for h in stub.headers)
    run_text = (out / "run.json").read_text()
    backend = json.loads(run_text)["backend"]
    assert KEY not in run_text and backend["api_key_env"] == "STUB_KEY" and backend["api_base"] == base
    assert backend["openai_sdk"] and backend["max_retries"] == 5


def test_nothink_prefix_continues_the_assistant_turn_and_vllm_keys_reach_the_body(tmp_path, synth_split, serve,
                                                                                  monkeypatch):
    from tvgbench.harness.runner import run_eval

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a keyless local vLLM server
    stub = Stub()
    base = serve(stub)
    run_eval(synth_split, synth_split, "m", backend="openai", prompt="nothink", out_dir=tmp_path / "r", limit=2,
             sampling=FAST, gen={"top_k": 5}, progress=False, bootstrap=0, backend_options={"api_base": base})
    body = stub.bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\n</think>\n"}
    # vLLM-server keys go through the SDK's extra_body and land at the top level of the JSON body
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False and body["top_k"] == 5
    assert "extra_body" not in body
    assert stub.headers[0].get("Authorization") == "Bearer EMPTY"  # the placeholder the SDK accepts


def test_http_errors_become_one_line_errors(tmp_path, synth_split, serve):
    stub = Stub(always=400)
    bad = serve(stub)
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", "m", "--backend", "openai",
                                   "--api-base", bad, "--out", str(tmp_path / "a"), "--quiet", "--limit", "1",
                                   "--fps", "1", "--total-pixels", str(FAST["total_pixels"])])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert f"{bad}/chat/completions answered HTTP 400" in res.output and "try later" in res.output
    assert "Traceback" not in res.output
    assert stub.calls == 1  # a 400 is not retried


def _backend(base: str, **kw):
    from tvgbench.harness.backends.base import GenParams
    from tvgbench.harness.backends.openai import OpenAIBackend

    return OpenAIBackend("m", GenParams(), api_base=base, timeout_s=10, **kw)


HELLO = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def test_the_sdk_retries_503_then_succeeds(serve):
    """Fails if the SDK stops retrying 503: the stub must see exactly max_retries + 1 attempts."""
    stub = Stub(fail_first=2, status=503, retry_after="0.01")
    be = _backend(serve(stub), max_retries=2)
    [gen] = be.generate([HELLO])
    assert gen.text == "no frames" and gen.n_tokens == 7 and gen.finish_reason == "stop"
    assert stub.calls == 3 and stub.retry_counts == ["0", "1", "2"]
    assert be.retries_used == 2


def test_503_until_retries_run_out_is_one_error_with_url_and_status(serve):
    from tvgbench.core.errors import Timer1Error

    stub = Stub(always=503, retry_after="0.01")
    base = serve(stub)
    be = _backend(base, max_retries=3)
    with pytest.raises(Timer1Error) as err:
        be.generate([HELLO])
    msg = str(err.value)
    assert msg.startswith(f"{base}/chat/completions failed after 4 attempts (HTTP 503") and "\n" not in msg
    assert stub.calls == 4 and be.retries_used == 3


def test_retry_after_is_honoured(serve):
    # the SDK's own first backoff is at most 0.5 s; the server asks for 1 s
    stub = Stub(fail_first=1, status=429, retry_after="1")
    be = _backend(serve(stub), max_retries=1)
    be.generate([HELLO])
    assert stub.calls == 2 and stub.times[1] - stub.times[0] >= 0.95


def test_a_reply_without_choices_is_one_error(serve):
    from tvgbench.core.errors import Timer1Error

    stub = Stub(reply={"id": "c1", "object": "chat.completion", "created": 0, "model": "m", "choices": []})
    base = serve(stub)
    with pytest.raises(Timer1Error, match=f"^{base}/chat/completions returned no choices"):
        _backend(base).generate([HELLO])


def test_requests_in_a_batch_run_concurrently(serve):
    stub = Stub()
    barrier = threading.Barrier(4, timeout=5)  # the stub answers only once all four requests are in flight
    real = stub.handler

    def handler():
        base_cls = real()

        class H(base_cls):
            def do_POST(self):
                barrier.wait()
                super().do_POST()

        return H

    stub.handler = handler
    gens = _backend(serve(stub), max_retries=0).generate([HELLO] * 4)
    assert [g.text for g in gens] == ["no frames"] * 4 and stub.calls == 4


def test_help_does_not_import_the_sdk():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from tvgbench.cli.main import cli; "
            "r = CliRunner().invoke(cli, ['eval', 'run', '--help']); assert r.exit_code == 0, r.output; "
            "print('openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_gives_up_after_retries(tmp_path):
    # nothing listens on this port (bound then closed), so every attempt is refused
    import socket

    from tvgbench.core.errors import Timer1Error
    from tvgbench.harness.backends.base import GenParams
    from tvgbench.harness.backends.openai import OpenAIBackend

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    be = OpenAIBackend("m", GenParams(), api_base=f"http://127.0.0.1:{port}/v1", max_retries=1, timeout_s=5)
    with pytest.raises(Timer1Error, match=f"^http://127.0.0.1:{port}/v1/chat/completions failed after 2 attempts"):
        be.generate([HELLO])
    assert be.retries_used == 1


# -- hardening (issue 13): failures are recorded, resumes are checked, secrets stay out of the records --

def _run_args(split, base, out, *extra):
    return ["eval", "run", "--split", str(split), "--model", "m", "--backend", "openai", "--api-base", base,
            "--out", str(out), "--quiet", "--fps", "1", "--total-pixels", str(FAST["total_pixels"]),
            "--max-pixels", str(FAST["max_pixels"]), "--min-pixels", str(FAST["min_pixels"]), "--bootstrap", "0", *extra]


def test_a_run_that_fails_records_failed_and_the_reason(tmp_path, synth_split, serve):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, _run_args(synth_split, serve(Stub(always=400)), out, "--limit", "2"))
    assert res.exit_code == 2, res.output
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "answered HTTP 400" in run["error"]
    assert res.output.strip() == f"error: {run['error']}"
    assert run["failed_at"] >= run["started_at"]


def test_an_interrupted_run_records_failed(tmp_path, synth_split, serve, monkeypatch):
    from tvgbench.harness.backends.openai import OpenAIBackend
    from tvgbench.harness.runner import run_eval

    def interrupted(self, requests):
        raise KeyboardInterrupt

    monkeypatch.setattr(OpenAIBackend, "generate", interrupted)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_eval(synth_split, synth_split, "m", backend="openai", out_dir=out, limit=2, sampling=FAST, progress=False,
                 backend_options={"api_base": serve(Stub())})
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and run["error"] == "interrupted"
    assert not (out / ".timer1.lock").exists()


def test_resume_refuses_duplicate_and_foreign_qids_before_running(tmp_path, synth_split, serve):
    stub = Stub()
    out = tmp_path / "run"
    args = _run_args(synth_split, serve(stub), out, "--limit", "4", "--batch-size", "2")
    assert CliRunner().invoke(cli, args).exit_code == 0
    pred = out / "predictions.jsonl"
    lines = pred.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])["qid"]
    calls = stub.calls

    pred.write_text("".join(lines[:3] + [lines[0]]))  # the first query twice, the last one not yet done
    res = CliRunner().invoke(cli, args + ["--resume"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: cannot resume {out}: {pred} line 4 repeats qid {first}"), res.output

    foreign = {**json.loads(lines[0]), "qid": "qid-of-another-split"}
    pred.write_text("".join(lines[:3]) + json.dumps(foreign) + "\n")
    res = CliRunner().invoke(cli, args + ["--resume"])
    assert res.exit_code == 2, res.output
    assert res.output.startswith(f"error: cannot resume {out}: {pred} line 4 has qid qid-of-another-split"), res.output
    assert "not one of this run's 4 queries" in res.output
    assert stub.calls == calls  # refused before asking the model anything
    assert pred.read_text().endswith(json.dumps(foreign) + "\n")  # and the file is left as it was


@pytest.mark.parametrize("form", ["http://admin:hunter2@{host}/v1", "http://admin@{host}/v1",
                                  "http://{host}/v1?api_key=hunter2", "http://{host}/v1?api-version=1&token=hunter2"])
def test_credentials_in_the_api_base_are_refused_with_a_hint(tmp_path, synth_split, serve, form):
    stub = Stub()
    host = serve(stub).split("/")[2]
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, _run_args(synth_split, form.format(host=host), out, "--limit", "1"))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --api-base") and "--api-key-env" in lines[0], res.output
    assert "hunter2" not in res.output
    assert stub.calls == 0 and not out.exists()


def test_a_query_string_in_the_api_base_is_sent_as_query_parameters(tmp_path, synth_split, serve):
    stub = Stub()
    base = serve(stub) + "?api-version=2024-06-01"
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, _run_args(synth_split, base, out, "--limit", "1"))
    assert res.exit_code == 0, res.output
    assert stub.paths == ["/v1/chat/completions?api-version=2024-06-01"]
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["backend_options"]["api_base"] == base and run["backend"]["api_base"] == base


def test_secrets_are_redacted_wherever_settings_are_recorded(tmp_path, synth_split, serve, monkeypatch):
    from tvgbench.harness.config import PredictConfig
    from tvgbench.harness.predict import predict_one
    from tvgbench.harness.runner import run_eval

    monkeypatch.setenv("STUB_KEY", KEY)
    base = serve(Stub())
    options = {"api_base": base, "api_key_env": "STUB_KEY", "api_key": KEY}  # a key passed by mistake
    out = tmp_path / "run"
    run_eval(synth_split, synth_split, "m", backend="openai", out_dir=out, limit=1, sampling=FAST, progress=False,
             bootstrap=0, backend_options=options)
    recorded = (out / "run.json").read_text()
    assert KEY not in recorded
    assert json.loads(recorded)["settings"]["backend_options"] == {**options, "api_key": "<redacted>"}
    video = sorted((synth_split / "videos").glob("*.mp4"))[0]
    result = predict_one(PredictConfig(model="m", backend="openai", sampling=FAST, backend_options=options), video, "q")
    assert KEY not in json.dumps(result)
