"""The openai backend against a loopback stub of an OpenAI-compatible server (127.0.0.1 only)."""

from __future__ import annotations

import base64
import io
import json
import re
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


# -- --family: the served model's family writes each frame's time text ---------------------------------------

def _five_frames():
    """Five 32x32 frames at 0, 1, 2, 3, 4 s: an odd count, so Qwen3-VL's last temporal patch repeats a frame."""
    import numpy as np

    from tvgbench.video.sample import SampledVideo

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(5, 32, 32, 3), dtype=np.uint8)
    return SampledVideo(frames=frames, timestamps=np.arange(5, dtype=np.float64), sample_fps=1.0)


def _video_parts(body: dict) -> list[str]:
    """The user turn's parts as they were sent: each text part's text, each image as 'IMG'."""
    return ["IMG" if p["type"] == "image_url" else p["text"] for p in body["messages"][1]["content"]]


# frame i is at i seconds; Qwen3-VL: one time per temporal patch of 2 frames (the mean), before its first frame
FAMILY_PARTS = {
    None: ["0.0s", "IMG", "1.0s", "IMG", "2.0s", "IMG", "3.0s", "IMG", "4.0s", "IMG"],
    "qwen2_5_vl": ["0.0s", "IMG", "1.0s", "IMG", "2.0s", "IMG", "3.0s", "IMG", "4.0s", "IMG"],
    "qwen3_vl": ["<0.5 seconds>", "IMG", "IMG", "<2.5 seconds>", "IMG", "IMG", "<4.0 seconds>", "IMG"],
    "qwen3_5": ["<0.5 seconds>", "IMG", "IMG", "<2.5 seconds>", "IMG", "IMG", "<4.0 seconds>", "IMG"],
    "internvl": ["Frame1 at 0.0 s: ", "IMG", "Frame2 at 1.0 s: ", "IMG", "Frame3 at 2.0 s: ", "IMG",
                 "Frame4 at 3.0 s: ", "IMG", "Frame5 at 4.0 s: ", "IMG"],
}


@pytest.mark.parametrize("family", list(FAMILY_PARTS))
def test_each_family_sends_its_time_text_between_the_frames_in_order(serve, family):
    from tvgbench.models.prompts import build_messages

    stub = Stub()
    be = _backend(serve(stub), **({"family": family} if family else {}))
    sampled = _five_frames()
    be.generate([be.prepare(build_messages("a person opens the door"), "", sampled)])
    parts = _video_parts(stub.bodies[0])
    assert parts[:-1] == FAMILY_PARTS[family]
    assert parts[-1].startswith("To accurately pinpoint the event \"a person opens the door\"")  # video first
    sent = [p["image_url"]["url"] for p in stub.bodies[0]["messages"][1]["content"] if p["type"] == "image_url"]
    from tvgbench.harness.backends.openai import encode_jpeg

    assert sent == [encode_jpeg(f) for f in sampled.frames]  # every frame once, in order (none repeated)
    assert ("family" in be.settings()) == (family is not None)


def test_the_default_request_is_unchanged_by_the_family_option(serve):
    """No --family: the same body as the backend built before families (time text '{t:.1f}s' then the JPEG)."""
    from tvgbench.harness.backends.openai import encode_jpeg
    from tvgbench.models.prompts import build_messages

    stub = Stub()
    be = _backend(serve(stub))
    sampled = _five_frames()
    messages = build_messages("q")
    body = be.prepare(messages, "", sampled)
    frames = []
    for frame, t in zip(sampled.frames, sampled.timestamps):
        frames += [{"type": "text", "text": f"{t:.1f}s"}, {"type": "image_url", "image_url": {"url": encode_jpeg(frame)}}]
    assert body["messages"] == [{"role": "system", "content": "You are a helpful assistant."},
                                {"role": "user", "content": frames + [messages[1]["content"][1]]}]
    assert be.settings()["video_as"] == "JPEG frames (quality 90), each preceded by its clip time as text ('{t:.1f}s')"


@pytest.mark.parametrize("family", ["qwen3_vl", "internvl"])
def test_the_openai_time_texts_are_the_ones_the_hf_prompt_carries(family):
    """The same formula on both paths: the texts sent beside the frames, in order, are the time texts the
    family's expand_prompt writes into the hf prompt (from a default transformers config, no weights)."""
    import transformers

    from tvgbench.models import adapter_for

    config_class = {"qwen3_vl": transformers.Qwen3VLConfig, "internvl": transformers.InternVLConfig}[family]
    adapter = adapter_for(config_class())
    sampled = _five_frames()
    if family == "qwen3_vl":
        prompt = adapter.expand_prompt("<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>q",
                                       adapter.video_inputs(sampled))
        in_prompt = re.findall(r"<[0-9.]+ seconds>", prompt)
    else:
        prompt = adapter.expand_prompt("<|im_start|>user\n<video>\nq", adapter.video_inputs(sampled))
        in_prompt = re.findall(r"Frame\d+ at [0-9.]+ s: ", prompt)
    texts = adapter.frame_time_texts(sampled)
    assert len(texts) == sampled.num_frames and [t for t in texts if t] == in_prompt and in_prompt
    served = type(adapter).served().frame_time_texts(sampled)  # what the openai backend uses: no config
    assert served == texts


def test_family_on_the_command_line_reaches_the_request_and_run_json(tmp_path, synth_split, serve):
    stub = Stub()
    base = serve(stub)
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, _run_args(synth_split, base, out, "--limit", "1", "--family", "internvl"))
    assert res.exit_code == 0, res.output
    parts = _video_parts(stub.bodies[0])
    n_frames = parts.count("IMG")
    assert [p for p in parts if p != "IMG"][:-1] == [p for p in parts[:-1] if p.startswith("Frame")]
    assert parts[0] == "Frame1 at 0.0 s: " and parts[2 * n_frames - 2].startswith(f"Frame{n_frames} at ")
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["family"] == "internvl" and run["backend"]["family"] == "internvl"
    assert run["family"]["family"] == "InternVL3/3.5" and run["family"]["model_type"] == "internvl"
    assert "Frame1 at 0.0 s: <image>Frame2 at " in run["first_prompt"]["text"]  # the exact text asked, recorded
    assert "InternVL3/3.5's time as interleaved text" in run["backend"]["video_as"]
    # a resume under another family is refused: the family is part of the run's fingerprint
    res = CliRunner().invoke(cli, _run_args(synth_split, base, out, "--limit", "1", "--family", "qwen3_vl", "--resume"))
    assert res.exit_code == 2 and "family" in res.output, res.output


def test_no_family_records_none_and_family_is_refused_for_local_backends(tmp_path, synth_split, serve, tiny_model_dir):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, _run_args(synth_split, serve(Stub()), out, "--limit", "1"))
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert "family" not in run["settings"] and "family" not in run["backend"] and run["family"] is None
    assert "family" not in run["settings"]["backend_options"]
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir),
                                   "--out", str(tmp_path / "hf"), "--family", "qwen3_vl"])
    assert res.exit_code == 2 and res.output.count("\n") == 1, res.output
    assert res.output.startswith("error: --family is for the openai backend")
    assert not (tmp_path / "hf").exists()


def test_predict_sends_the_family_time_text(synth_split, serve):
    stub = Stub()
    video = sorted((synth_split / "videos").glob("*.mp4"))[0]
    res = CliRunner().invoke(cli, ["predict", "--model", "m", "--backend", "openai", "--api-base", serve(stub),
                                   "--video", str(video), "--query", "q", "--fps", "1", "--family", "qwen3_vl",
                                   "--total-pixels", str(FAST["total_pixels"]), "--json"])
    assert res.exit_code == 0, res.output
    parts = _video_parts(stub.bodies[0])[:-1]
    n_frames = parts.count("IMG")
    texts = [p for p in parts if p != "IMG"]
    assert all(re.fullmatch(r"<[0-9]+\.[0-9] seconds>", t) for t in texts) and parts[0] == texts[0]
    assert len(texts) == -(-n_frames // 2) and parts[1:3] == ["IMG", "IMG"]  # one time per temporal patch
    result = json.loads(res.output)
    assert result["settings"]["family"] == {"family": "Qwen3-VL", "model_type": "qwen3_vl",
                                            "time_encoding": "text: <{t:.1f} seconds> before each temporal patch"}
    assert result["video"]["n_frames"] == n_frames
