"""Performance benchmark: ``python -m qa bench [--out DIR]`` writes bench.json, bench.md and bench.png.

Everything is measured in one run on this machine, so ratios compare like
with like: warm answer latency next to the raw sentence-transformers encode
of the same questions (the floor), the ``ask --json -`` stream cost per
question, cold one-shot CLI time next to ``import sentence_transformers``,
app start-up, index build, synthetic 1x/10x/100x corpora (build with an empty
vector cache, rebuild, adding one report, wall and CPU time, size, query
latency, peak memory), the first build with the ONNX export, sentence-
transformers vs ONNX embedding of the same texts, and an HTTP load test on loopback.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from qa.config import PROJECT_ROOT, Settings, add_path_options, environment, settings_from_args
from qa.evaluation.evaluate import DEFAULT_QUESTIONS, machine_description
from qa.evaluation.gold import load_gold
from qa.evaluation.metrics import percentile
from qa.ingest.corpus import corpus_files, load_corpus
from qa.ingest.document import chinese_numeral
from qa.ingest.layouts import item_markers

DEFAULT_OUT = PROJECT_ROOT / "bench" / "results"
PROBE = "城管局在垃圾分类上做什么"
_VARIANTS = ("{q}", "请问{q}", "{q}？", "我想了解一下，{q}")


def distinct_questions(n: int) -> list[str]:
    """``n`` different questions built from the gold set (different strings, so no vector cache hits)."""
    base = [g.q for g in load_gold(DEFAULT_QUESTIONS)]
    out = [v.format(q=q) for v in _VARIANTS for q in base]
    return out[:n] if n <= len(out) else [f"{out[i % len(out)]}（{i}）" for i in range(n)]


def _ms(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(percentile(values, 50) * 1000, 2), "p95_ms": round(percentile(values, 95) * 1000, 2),
            "mean_ms": round(statistics.fmean(values) * 1000, 2), "n": len(values)}


# Runs a child's real work and writes its own peak memory (VmHWM, which exec resets; ru_maxrss would
# also count the forked copy of this benchmark process) to the file named by QA_BENCH_PEAK_FILE.
_PEAK_WRAPPER = """
import atexit, os, runpy, sys
def _peak():
    with open("/proc/self/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM"))
    with open(os.environ["QA_BENCH_PEAK_FILE"], "w") as fh:
        fh.write(str(kb))
atexit.register(_peak)
mode, target, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = target
if mode == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
"""


def run_with_peak(args: list[str], env: dict, stdin: str | None = None) -> tuple[float, int, str]:
    """Run ``python -m MODULE ARGS`` or ``python -c CODE`` (``args`` starts with -m or -c):
    (wall seconds, peak resident memory in MB, stdout)."""
    with tempfile.NamedTemporaryFile(prefix="qa-peak-", delete=False) as fh:
        peak_file = Path(fh.name)
    try:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, *args], input=stdin, capture_output=True,
                              text=True, env={**env, "QA_BENCH_PEAK_FILE": str(peak_file)}, cwd=PROJECT_ROOT)
        seconds = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"{' '.join(args)[:200]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
        text = peak_file.read_text().strip()
        return seconds, int(text) // 1024 if text else 0, proc.stdout
    finally:
        peak_file.unlink(missing_ok=True)


# ---------------------------------------------------------------- in-process latency


_ANSWER_WORKER = """
import json, sys, time
from qa.pipeline import ReportQA
questions = sys.stdin.read().splitlines()
t0 = time.perf_counter(); qa = ReportQA(); qa.retriever; load = time.perf_counter() - t0
qa.ask(questions[0] + "（热身）")
answer, encode = [], []
for q in questions:
    t = time.perf_counter(); qa.ask(q); answer.append(time.perf_counter() - t)
encoder = qa.retriever.encoder
for q in questions:
    q = q + "。"  # a new string: the answer loop cached the vectors of the originals
    t = time.perf_counter(); encoder.encode([q]); encode.append(time.perf_counter() - t)
print(json.dumps({"load_s": load, "answer": answer, "onnx_encode": encode}))
"""

_ST_WORKER = """
import json, os, sys, time
from qa.search.encoder import SentenceTransformerEncoder
questions = sys.stdin.read().splitlines()
from qa.config import Settings
st = SentenceTransformerEncoder(Settings.from_env().model_dir); st.encode([questions[0]])
times = []
for q in questions:
    t = time.perf_counter(); st.encode([q]); times.append(time.perf_counter() - t)
print(json.dumps({"st_encode": times}))
"""


def bench_warm(settings: Settings, n: int, repeats: int = 3) -> dict:
    """Warm answer latency (ONNX path) vs the raw sentence-transformers encode of the same questions.

    Each side runs in its own process, alternating, ``repeats`` times; torch's and onnxruntime's thread
    pools never compete for the two cores. Figures are the median run (by p50) of each side.
    """
    stdin = "\n".join(distinct_questions(n)) + "\n"
    fast_runs, slow_runs = [], []
    for _ in range(repeats):
        fast_runs.append(json.loads(run_with_peak(["-c", _ANSWER_WORKER], environment(settings), stdin)[2]))
        slow_runs.append(json.loads(run_with_peak(["-c", _ST_WORKER], environment(settings), stdin)[2]))

    def median_run(runs: list[dict], key: str) -> dict:
        stats = sorted((_ms(r[key]) for r in runs), key=lambda m: m["p50_ms"])
        return stats[len(stats) // 2] | {"runs_p50_ms": [m["p50_ms"] for m in stats]}

    answer, encode = median_run(fast_runs, "answer"), median_run(slow_runs, "st_encode")
    return {"answer": answer, "st_encode": encode, "onnx_encode": median_run(fast_runs, "onnx_encode"),
            "ratio_p50": round(answer["p50_ms"] / encode["p50_ms"], 3)}


_READER_WORKER = """
import json, sys, tempfile, time
import numpy as np
from qa.config import Settings
from qa.pipeline import ReportQA
from qa.reader.rerank import RERANK_DEPTH, hit_passage
questions = sys.stdin.read().splitlines()
qa = ReportQA(rerank=False)
batches = [[(q, hit_passage(h)) for h in qa.retriever.search(q, RERANK_DEPTH)] for q in questions]
reader = qa.reader
reader.score_pairs(batches[0])
onnx, onnx_scores = [], []
for pairs in batches:
    t = time.perf_counter(); onnx_scores.append(reader.score_pairs(pairs)); onnx.append(time.perf_counter() - t)
from qa.reader.export import merged_model
from sentence_transformers import CrossEncoder
settings = Settings.from_env()
with tempfile.TemporaryDirectory() as tmp:
    merged_model(settings.model_dir).save_pretrained(tmp)
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(str(settings.model_dir)).save_pretrained(tmp)
    ce = CrossEncoder(tmp, device="cpu", max_length=reader.max_length, local_files_only=True)
    ce.predict(batches[0], show_progress_bar=False)
    st, st_scores = [], []
    for pairs in batches:
        t = time.perf_counter()
        st_scores.append(np.asarray(ce.predict(pairs, batch_size=16, show_progress_bar=False, activation_fn=__import__("torch").nn.Sigmoid())))
        st.append(time.perf_counter() - t)
diff = float(max(np.abs(a - b).max() for a, b in zip(onnx_scores, st_scores)))
print(json.dumps({"onnx": onnx, "cross_encoder": st, "max_difference": diff, "pairs_per_question": RERANK_DEPTH}))
"""


def bench_reader(settings: Settings, n: int) -> dict:
    """The reader's ONNX int8 path vs sentence-transformers ``CrossEncoder.predict`` of the same merged model on the
    same (question, passage) pairs: each question's ``RERANK_DEPTH`` candidates in one call."""
    stdin = "\n".join(distinct_questions(n)) + "\n"
    result = json.loads(run_with_peak(["-c", _READER_WORKER], environment(settings), stdin)[2])
    onnx, st = _ms(result["onnx"]), _ms(result["cross_encoder"])
    return {"onnx": onnx, "cross_encoder": st, "ratio_p50": round(onnx["p50_ms"] / st["p50_ms"], 3),
            "max_probability_difference": round(result["max_difference"], 4),
            "pairs_per_question": result["pairs_per_question"]}


def same_answers(settings: Settings) -> dict:
    """Top-5 of the ONNX path vs the sentence-transformers path on the gold set."""
    from qa.pipeline import ReportQA

    fast, slow = ReportQA(settings), ReportQA(settings, encoder="sentence-transformers")
    gold = load_gold(DEFAULT_QUESTIONS)
    differences = []
    for g in gold:
        a = [h.chunk.id for h in fast.search(g.q, k=5)]
        b = [h.chunk.id for h in slow.search(g.q, k=5)]
        if a != b:
            differences.append({"q": g.q, "onnx": a, "sentence_transformers": b})
    return {"questions": len(gold), "identical_top5": len(gold) - len(differences), "differences": differences}


# ---------------------------------------------------------------- processes


def _wall(cmd: list[str], settings: Settings, stdin: str | None = None) -> float:
    """Wall time of a whole command, process start to exit (no wrapper)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, env=environment(settings), cwd=PROJECT_ROOT, check=True, capture_output=True, input=stdin, text=True)
    return time.perf_counter() - t0


def bench_stream(settings: Settings, n: int, repeats: int = 3) -> dict:
    """Per-question cost of ``python -m qa ask --json -``: (time for n questions - time for 1) / (n - 1)."""
    questions = distinct_questions(n)
    cmd = [sys.executable, "-m", "qa", "ask", "--json", "-"]
    per_question = []
    for _ in range(repeats):
        one = _wall(cmd, settings, PROBE + "\n")
        many = _wall(cmd, settings, "\n".join(questions) + "\n")
        per_question.append((many - one) / (n - 1))
    return {"questions": n, "per_question_ms": round(statistics.median(per_question) * 1000, 2),
            "runs_ms": [round(x * 1000, 2) for x in per_question]}


def bench_cold(settings: Settings, runs: int) -> dict:
    ask = [_wall([sys.executable, "-m", "qa", "ask", PROBE], settings) for _ in range(runs)]
    imp = [_wall([sys.executable, "-c", "import sentence_transformers"], settings) for _ in range(max(3, runs // 2))]
    a, i = statistics.median(ask), statistics.median(imp)
    return {"ask_s": round(a, 3), "import_sentence_transformers_s": round(i, 3), "ratio": round(a / i, 3),
            "ask_runs_s": [round(x, 3) for x in ask], "import_runs_s": [round(x, 3) for x in imp]}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_app(settings: Settings, port: int) -> tuple[subprocess.Popen, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)], env=environment(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    while time.perf_counter() - t0 < 120:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise TimeoutError("app.py not ready after 120 s")


def bench_app_start(settings: Settings, runs: int) -> dict:
    times = []
    for _ in range(runs):
        proc, seconds = _start_app(settings, _free_port())
        times.append(seconds)
        proc.terminate()
        proc.wait(10)
    return {"ready_s": round(statistics.median(times), 3), "runs_s": [round(t, 3) for t in times]}


def bench_http(settings: Settings, clients: int, seconds: float) -> dict:
    """``clients`` threads POST /api/ask on loopback for ``seconds`` (at most 60)."""
    seconds = min(seconds, 60.0)
    port = _free_port()
    proc, _ = _start_app(settings, port)
    questions = distinct_questions(20000)  # never repeated, so the vector cache does not flatter the figures
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(worker: int) -> None:
        i = worker
        while time.perf_counter() < deadline:
            body = json.dumps({"question": questions[i % len(questions)], "k": 5}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(request, timeout=30) as r:
                    ok = r.status == 200 and r.read()
            except OSError:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - t0) if ok else None
                errors[0] += 0 if ok else 1
            i += clients

    try:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(w,)) for w in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(10)
    return {"clients": clients, "seconds": round(elapsed, 2), "requests": len(latencies), "errors": errors[0],
            "throughput_rps": round(len(latencies) / elapsed, 1), **_ms(latencies or [0.0])}


# ---------------------------------------------------------------- load with hostile requests (qa bench --load)


def _proc_status_mb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as fh:
        return round(next(int(line.split()[1]) for line in fh if line.startswith(key)) / 1024, 1)


def _proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / tick, sum(values) / tick


# Hostile requests mixed into the load: (name, request, the statuses that mean "refused clearly").
def _hostile_requests() -> list[tuple[str, dict, tuple[int, ...]]]:
    return [
        ("history 城管×160000 (938 KB)", {"json": {"question": "垃圾分类做得怎么样",
                                                  "history": [{"question": "城管" * 160_000}]}}, (422,)),
        ("10,000 history turns", {"json": {"question": "垃圾分类", "history": [{"question": "城管局"}] * 10_000}},
         (413, 422)),
        ("20 MB body", {"content": b'{"question": "' + b"a" * (20 << 20) + b'"}',
                        "headers": {"Content-Type": "application/json"}}, (413,)),
        ("lone surrogate question", {"content": b'{"question": "\\ud800\\udfff"}',
                                     "headers": {"Content-Type": "application/json"}}, (200,)),
    ]


async def _load_run(base: str, users: int, seconds: float, questions: list[str]) -> dict:
    import asyncio

    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    hostile: dict[str, dict] = {}
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)

    async def user(client: httpx.AsyncClient, worker: int) -> None:
        turn, previous = worker, None
        while time.perf_counter() < deadline:
            body = {"question": questions[turn % len(questions)], "k": 5}
            if previous:  # a chat: the previous turn goes along, as the widget sends it
                body["history"] = [previous]
            t0 = time.perf_counter()
            try:
                r = await client.post("/api/ask", json=body)
                ok = r.status_code == 200
                key = f"HTTP {r.status_code}"
                answer = r.json().get("answer", "") if ok else ""
            except httpx.HTTPError as exc:
                ok, key, answer = False, f"{type(exc).__name__}: {exc}"[:120], ""
            if ok:
                latencies.append(time.perf_counter() - t0)
                previous = {"question": body["question"], "answer": answer[:2000]}
            else:
                errors[key] = errors.get(key, 0) + 1
            turn += users

    async def attacker() -> None:
        requests = _hostile_requests()
        n = 0
        while time.perf_counter() < deadline:
            name, kwargs, expected = requests[n % len(requests)]
            n += 1
            record = hostile.setdefault(name, {"sent": 0, "refused_clearly": 0, "outcomes": {}, "max_ms": 0.0})
            t0 = time.perf_counter()
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:  # its own connection each time
                try:
                    r = await client.post("/api/ask", **kwargs)
                    outcome, good = f"HTTP {r.status_code}", r.status_code in expected
                except httpx.HTTPError as exc:
                    outcome, good = type(exc).__name__, False
            record["sent"] += 1
            record["refused_clearly"] += int(good)
            record["outcomes"][outcome] = record["outcomes"].get(outcome, 0) + 1
            record["max_ms"] = max(record["max_ms"], round((time.perf_counter() - t0) * 1000, 1))
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(user(client, w) for w in range(users)), attacker())
        elapsed = time.perf_counter() - t0
    return {"seconds": round(elapsed, 2), "latencies": latencies, "errors": errors, "hostile": hostile}


def bench_load(settings: Settings, users: int = 50, seconds: float = 60.0) -> dict:
    """``users`` chat users on keep-alive connections for ``seconds``, hostile requests mixed in:
    requests, errors, latency percentiles, the app's memory before and after, how busy the machine was."""
    import asyncio

    import httpx

    port = _free_port()
    proc, _ = _start_app(settings, port)
    base = f"http://127.0.0.1:{port}"
    questions = distinct_questions(20000)
    try:
        with httpx.Client(base_url=base, timeout=30) as client:  # warm-up: first use of every code path
            for q in questions[-20:]:
                client.post("/api/ask", json={"question": q, "history": [{"question": "城管局在做什么"}]})
        rss_before = _proc_status_mb(proc.pid, "VmRSS")
        load_before = os.getloadavg()
        busy0, total0 = _machine_cpu()
        app_cpu0 = _proc_cpu_seconds(proc.pid)
        self_cpu0 = time.process_time()
        run = asyncio.run(_load_run(base, users, seconds, questions[:-20]))
        busy1, total1 = _machine_cpu()
        app_cpu = _proc_cpu_seconds(proc.pid) - app_cpu0
        self_cpu = time.process_time() - self_cpu0
        rss_after, rss_peak = _proc_status_mb(proc.pid, "VmRSS"), _proc_status_mb(proc.pid, "VmHWM")
        alive = proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(30)
    cores = len(os.sched_getaffinity(0))
    wall = run["seconds"]
    latencies = run["latencies"]
    return {
        "users": users, "seconds": wall, "requests": len(latencies), "errors": sum(run["errors"].values()),
        "error_kinds": run["errors"], "throughput_rps": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1), "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1), "max_ms": round(max(latencies or [0]) * 1000, 1),
        "hostile": run["hostile"], "app_alive_after": alive,
        "rss_before_mb": rss_before, "rss_after_mb": rss_after, "rss_growth_mb": round(rss_after - rss_before, 1),
        "rss_peak_mb": rss_peak,
        "machine": {"cores": cores, "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                    "cpu_busy_pct": round(100 * (busy1 - busy0) / max(total1 - total0, 1e-9), 1),
                    "app_cpu_s": round(app_cpu, 1), "bench_client_cpu_s": round(self_cpu, 1),
                    "app_cpu_ms_per_request": round(1000 * app_cpu / max(len(latencies), 1), 2),
                    "other_processes_cpu_s": round(max(busy1 - busy0 - app_cpu - self_cpu, 0.0), 1),
                    "available_cpu_s": round(cores * wall, 1)},
    }


def load_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"# Load test (`python -m qa bench --load`)\n\nRun {time.strftime('%Y-%m-%d %H:%M:%S')} on "
             f"{machine_description()}.\n",
             "| measure | value | target |", "|---|---|---|",
             f"| chat users (keep-alive, distinct questions, previous turn as history) | {r['users']} for {r['seconds']} s | 50 for 60 s |",
             f"| requests answered | {r['requests']} ({r['throughput_rps']} req/s) | |",
             f"| errors | {r['errors']} {r['error_kinds'] or ''} | 0 |",
             f"| latency p50 / p95 / p99 / max | {r['p50_ms']} / {r['p95_ms']} / {r['p99_ms']} / {r['max_ms']} ms | p95 ≤ 1000 ms |",
             f"| app RSS before → after (peak) | {r['rss_before_mb']} → {r['rss_after_mb']} MB ({r['rss_peak_mb']}) | growth ≤ 50 MB |",
             f"| machine: load average before / after | {m['loadavg_before']} / {m['loadavg_after']} | |",
             f"| machine: CPU busy over the run | {m['cpu_busy_pct']} % of {m['cores']} cores; app {m['app_cpu_s']} s, "
             f"bench client {m['bench_client_cpu_s']} s, other processes {m['other_processes_cpu_s']} s "
             f"of {m['available_cpu_s']} CPU-s | |",
             f"| app CPU per answered request | {m['app_cpu_ms_per_request']} ms | |",
             "\n| hostile request | sent | refused clearly | outcomes | slowest |", "|---|---|---|---|---|"]
    for name, h in r["hostile"].items():
        lines.append(f"| {name} | {h['sent']} | {h['refused_clearly']} | {h['outcomes']} | {h['max_ms']} ms |")
    return "\n".join(lines) + "\n"


def cmd_load(args, settings: Settings) -> int:
    report = bench_load(settings, args.users, args.load_seconds)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (args.out / "load.md").write_text(load_markdown(report), encoding="utf-8")
    print(load_markdown(report))
    print(f"wrote {args.out / 'load.json'}, {args.out / 'load.md'}")
    return 0


# ---------------------------------------------------------------- build and scale


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 2)


def synthetic_corpus(source_dir: Path, out_dir: Path, factor: int, seed: int = 0, first: int = 0) -> int:
    """Copies ``first``..``factor - 1`` of every report (copy 0 is the report itself; the others have their
    departments renamed and items shuffled); returns the chunk count of ``out_dir``."""
    rng = random.Random(seed + first)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (source_dir / "aliases.json").exists():
        shutil.copy(source_dir / "aliases.json", out_dir / "aliases.json")
    for path in corpus_files(source_dir):
        text = path.read_text(encoding="utf-8")
        head, *sections = re.split(r"(?m)^(?=### )", text)
        for copy in range(first, factor):
            parts = []
            for section in rng.sample(sections, len(sections)) if copy else sections:
                dept = section.splitlines()[0][4:].lstrip("▶ ").strip()
                renamed = section.replace(dept, f"{dept[:-1]}{copy}{dept[-1]}") if copy else section
                parts.append(_shuffle_items(renamed, rng) if copy else renamed)
            title_head = head.replace("# ", f"# 副本{copy} ", 1) if copy else head
            (out_dir / f"{path.stem}-{copy:03d}{path.suffix}").write_text(title_head + "".join(parts), encoding="utf-8")
    return len(load_corpus(out_dir).chunks)


def _shuffle_items(section: str, rng: random.Random) -> str:
    lines = section.split("\n")
    for n, line in enumerate(lines):
        markers = item_markers(line)
        if len(markers) < 2:
            continue
        starts = [pos for pos, _ in markers] + [len(line)]
        items = [line[s:e] for s, e in zip(starts, starts[1:])]
        bodies = [re.sub(r"^[一二三四五六七八九十]+是", "", item) for item in items]
        rng.shuffle(bodies)
        lines[n] = line[:starts[0]] + "".join(f"{chinese_numeral(i + 1)}是{b}" for i, b in enumerate(bodies))
    return "\n".join(lines)


# What `qa build` prints about the embedder (qa/search/embed.py EmbedStats.summary).
_VECTORS_LINE = re.compile(r"vectors: (\d+) texts \((\d+) distinct\): (\d+) from the vector cache, (\d+) embedded")


def _timed_build(settings: Settings) -> dict:
    """One ``python -m qa build``: wall seconds, CPU seconds (user + system; less sensitive to a busy
    machine than wall time), peak MB and what the embedder did."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, peak_mb, out = run_with_peak(["-m", "qa", "build", "--quiet"], environment(settings))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    match = _VECTORS_LINE.search(out)
    counts = dict(zip(("texts", "distinct", "cached", "embedded"), map(int, match.groups()))) if match else {}
    return {"s": round(seconds, 2), "cpu_s": round(cpu, 2), "peak_mb": peak_mb, **counts}


def _bench_cache(settings: Settings, root: Path) -> Path:
    """A cache folder whose vector cache starts empty and whose ONNX exports (the encoder's and the reader's)
    are ``settings.cache_dir``'s (exporting is a once-per-model step, timed on its own by ``bench_first_build``)."""
    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("onnx", "reader"):
        shared = Path(settings.cache_dir) / name
        shared.mkdir(parents=True, exist_ok=True)
        (cache / name).symlink_to(shared.resolve(), target_is_directory=True)
    return cache


def _clear_vectors(cache: Path) -> None:
    shutil.rmtree(cache / "vectors", ignore_errors=True)


def _median_build(settings: Settings, runs: int, before_each) -> dict:
    builds = []
    for _ in range(runs):
        before_each()
        builds.append(_timed_build(settings))
    median = sorted(builds, key=lambda b: b["s"])[(len(builds) - 1) // 2]  # the lower middle run
    return median | {"s": round(statistics.median(b["s"] for b in builds), 2),
                     "cpu_s": round(statistics.median(b["cpu_s"] for b in builds), 2),
                     "runs_s": [b["s"] for b in builds], "cpu_runs_s": [b["cpu_s"] for b in builds]}


_EMBED_BASELINE_WORKER = """
import json, os, sys, time
from qa.config import Settings
from qa.ingest.corpus import load_corpus
s = Settings.from_env()
corpus = load_corpus(s.corpus_dir, s.chunking)
texts = [c.dense_text(s.chunking) for c in corpus.chunks]
texts += [corpus.source_text(c.source)[a:b] for c in corpus.chunks for a, b in c.clauses]
if sys.argv[1] == "st":  # the build before qa/search/embed.py: sentence-transformers, batches of 16 / 32 in corpus order
    from qa.search.encoder import SentenceTransformerEncoder
    enc = SentenceTransformerEncoder(s.model_dir); enc.encode(texts[:2])
    t = time.perf_counter(); enc.encode(texts); seconds = time.perf_counter() - t
else:  # qa/search/embed.py without its cache
    from qa.search.embed import build_embedder
    embedder, _ = build_embedder(s); embedder.cache = None; embedder.encode(texts[:2])
    t = time.perf_counter(); embedder.encode(texts); seconds = time.perf_counter() - t
print(json.dumps({"texts": len(texts), "s": seconds}))
"""


def bench_embed_baseline(settings: Settings, repeats: int = 3) -> dict:
    """Same-run baseline for a busy machine: embedding the 1x corpus's texts with sentence-transformers
    (how the build embedded before) vs qa/search/embed.py with no cache, alternating, each in its own process."""
    st, onnx = [], []
    for _ in range(repeats):
        st.append(json.loads(run_with_peak(["-c", _EMBED_BASELINE_WORKER, "st"], environment(settings))[2])["s"])
        onnx.append(json.loads(run_with_peak(["-c", _EMBED_BASELINE_WORKER, "onnx"], environment(settings))[2])["s"])
    a, b = statistics.median(st), statistics.median(onnx)
    return {"st_embed_s": round(a, 2), "onnx_embed_s": round(b, 2), "speedup": round(a / b, 2),
            "st_runs_s": [round(x, 2) for x in st], "onnx_runs_s": [round(x, 2) for x in onnx]}


def bench_first_build(settings: Settings) -> dict:
    """The 1x corpus built with an empty cache: the ONNX export (torch, once per model) included."""
    with tempfile.TemporaryDirectory(prefix="qa-bench-first-") as tmp:
        first = replace(settings, index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache")
        return _timed_build(first)


def bench_build_and_scale(settings: Settings, factors: list[int], queries: int, runs: dict[int, int] | None = None) -> dict:
    """Per synthetic corpus: build with an empty vector cache (median of ``runs[factor]``, default 3 for
    <= 1x, 2 for <= 10x, else 1), rebuild unchanged, add one report and rebuild; query latency; sizes."""
    runs = runs or {}
    results = []
    load_before = os.getloadavg()
    run_at = time.strftime("%Y-%m-%d %H:%M:%S")
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        cache = _bench_cache(settings, Path(tmp))
        for factor in factors:
            scaled = replace(settings, corpus_dir=Path(tmp) / f"corpus-{factor}x", index_dir=Path(tmp) / f"index-{factor}x",
                             cache_dir=cache)
            chunks = synthetic_corpus(settings.corpus_dir, scaled.corpus_dir, factor)
            n = runs.get(factor, 3 if factor <= 1 else 2 if factor <= 10 else 1)
            build = _median_build(scaled, n, lambda: _clear_vectors(cache))
            rebuild = _timed_build(scaled)
            _, query_mb, out = run_with_peak(["-c", _ANSWER_WORKER], environment(scaled),
                                             "\n".join(distinct_questions(queries)) + "\n")
            worker = json.loads(out)
            encoder_mb = dir_size_mb(scaled.index_dir / "encoder")
            index_mb = dir_size_mb(scaled.index_dir)
            synthetic_corpus(settings.corpus_dir, scaled.corpus_dir, factor + 1, first=factor)  # one more report
            add_one = _timed_build(scaled)
            results.append({"factor": factor, "chunks": chunks, "build_s": build["s"], "build_runs_s": build["runs_s"],
                            "build_cpu_runs_s": build["cpu_runs_s"],
                            "build_cpu_s": build["cpu_s"], "rebuild_cpu_s": rebuild["cpu_s"], "add_one_cpu_s": add_one["cpu_s"],
                            "build_peak_mb": build["peak_mb"], "texts": build.get("texts"),
                            "embedded": build.get("embedded"), "rebuild_s": rebuild["s"],
                            "rebuild_embedded": rebuild.get("embedded"), "add_one_s": add_one["s"],
                            "add_one_embedded": add_one.get("embedded"), "add_one_peak_mb": add_one["peak_mb"],
                            "index_mb": index_mb, "index_mb_without_encoder": round(index_mb - encoder_mb, 2),
                            "load_s": round(worker["load_s"], 3), "query_peak_mb": query_mb, **_ms(worker["answer"])})
            print(f"  scale {factor}x: {results[-1]}", file=sys.stderr)
    return {"factors": results, "run_at": run_at, "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}


def bench_build(settings: Settings, factors: list[int], queries: int) -> dict:
    """Everything about build speed: first build (export included), the same-run embedding baseline, scale."""
    return {"first_build": bench_first_build(settings), "embed_baseline": bench_embed_baseline(settings),
            **bench_build_and_scale(settings, factors, queries)}


def markdown_build(scale: dict) -> list[str]:
    lines = ["\n## Build and scale (synthetic corpora: the report repeated, departments renamed, items shuffled)\n",
             f"Build columns measured {scale.get('run_at', '')}; load average (1/5/15 min) on {scale.get('cpus')} cores: "
             f"{scale.get('loadavg_before')} before, "
             f"{scale.get('loadavg_after')} after. Build = `python -m qa build` with an empty vector cache and "
             "the cached ONNX export (median of the runs listed); rebuild = same corpus again; "
             "add one = one more report, then build.\n",
             "| corpus | chunks | texts (embedded) | build s (runs) | build CPU s | build peak MB | rebuild s (CPU s) "
             "| add one report s (CPU s, texts embedded) | index MB (without ONNX encoder) | load s | query p50 / p95 ms "
             "| query peak MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in scale["factors"]:
        lines.append(f"| {r['factor']}x | {r['chunks']} | {r.get('texts')} ({r.get('embedded')}) | {r['build_s']} "
                     f"({', '.join(map(str, r.get('build_runs_s', [])))}) | {r.get('build_cpu_s')} | {r['build_peak_mb']} "
                     f"| {r.get('rebuild_s')} ({r.get('rebuild_cpu_s')}) "
                     f"| {r.get('add_one_s')} ({r.get('add_one_cpu_s')}, {r.get('add_one_embedded')}) | {r['index_mb']} "
                     f"({r['index_mb_without_encoder']}) | {r['load_s']} | {r['p50_ms']} / {r['p95_ms']} | {r['query_peak_mb']} |")
    if scale.get("note"):
        lines.append(f"\nNote: {scale['note']}.")
    if scale.get("repeat_run"):
        rr = scale["repeat_run"]
        lines.append(f"Repeat build run {rr['run_at']} (load {rr['loadavg_before']} before, {rr['loadavg_after']} after): "
                     + "; ".join(f"{r['factor']}x build {r['build_s']} s ({r['build_cpu_s']} CPU s), rebuild "
                                 f"{r['rebuild_s']} s, add one {r['add_one_s']} s ({r['add_one_cpu_s']} CPU s)"
                                 for r in rr["factors"]) + ".")
    if scale.get("first_build"):
        f = scale["first_build"]
        lines.append(f"\nFirst build on a new machine (1x, empty cache: ONNX export with torch included): "
                     f"{f['s']} s, peak {f['peak_mb']} MB.")
    if scale.get("embed_baseline"):
        b = scale["embed_baseline"]
        lines.append(f"Same-run baseline, embedding the 1x corpus's {scale['factors'][0].get('texts') if scale['factors'] else ''} "
                     f"texts: sentence-transformers (the old build) {b['st_embed_s']} s vs qa/search/embed.py without cache "
                     f"{b['onnx_embed_s']} s ({b['speedup']}x).")
    return lines


# ---------------------------------------------------------------- report


def markdown(report: dict) -> str:
    w, c, s, a = report["warm"], report["cold"], report["stream"], report["app_start"]
    lines = [f"# Performance benchmark\n\nRun {report['run_at']} on {report['machine']} "
             f"(`python -m qa bench`). Medians of repeated runs; ratios measured in this run.\n",
             "| measure | value | target |", "|---|---|---|",
             f"| warm answer, in-process (p50 / p95) | {w['answer']['p50_ms']} / {w['answer']['p95_ms']} ms | ≤ 60 / 120 ms |",
             f"| raw sentence-transformers encode of the same questions (p50 / p95) | {w['st_encode']['p50_ms']} / {w['st_encode']['p95_ms']} ms | the floor |",
             f"| ONNX encode of the same questions (p50) | {w['onnx_encode']['p50_ms']} ms | |",
             f"| answer / encode (p50) | {w['ratio_p50']} | ≤ 12 |",
             f"| `ask --json -` per question ({s['questions']} questions) | {s['per_question_ms']} ms | |",
             f"| stream / encode | {report['stream_ratio']} | ≤ 0.6 |",
             f"| cold `python -m qa ask` | {c['ask_s']} s | |",
             f"| `import sentence_transformers` | {c['import_sentence_transformers_s']} s | |",
             f"| cold ask / import | {c['ratio']} | ≤ 0.3 |",
             f"| `python app.py` to ready | {a['ready_s']} s | ≤ 10 s |",
             f"| ONNX top-5 = sentence-transformers top-5 | {report['same_answers']['identical_top5']}/{report['same_answers']['questions']} | all |"]
    if report.get("reader"):
        r = report["reader"]
        lines += [f"| reader, {r['pairs_per_question']} pairs per question, ONNX int8 (p50 / p95) | "
                  f"{r['onnx']['p50_ms']} / {r['onnx']['p95_ms']} ms | |",
                  f"| the same pairs, sentence-transformers `CrossEncoder.predict` (p50 / p95) | "
                  f"{r['cross_encoder']['p50_ms']} / {r['cross_encoder']['p95_ms']} ms | |",
                  f"| reader ONNX / CrossEncoder (p50); largest probability difference | {r['ratio_p50']}; "
                  f"{r['max_probability_difference']} | |"]
    if report.get("http"):
        h = report["http"]
        lines.append(f"| HTTP /api/ask, {h['clients']} clients, {h['seconds']} s | {h['throughput_rps']} req/s, "
                     f"p50 {h['p50_ms']} ms, p95 {h['p95_ms']} ms, {h['errors']} errors | |")
    lines += markdown_build(report["scale"])
    if report["same_answers"]["differences"]:
        lines.append("\n## ONNX vs sentence-transformers differences\n")
        lines += [f"- {d['q']}: {d['onnx']} vs {d['sentence_transformers']}" for d in report["same_answers"]["differences"]]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    w = report["warm"]
    names = ["answer (ONNX path)", "ONNX encode", "ST encode"]
    keys = ["answer", "onnx_encode", "st_encode"]
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], [w[k]["p50_ms"] for k in keys], 0.4, label="p50")
    axes[0].bar([i + 0.2 for i in x], [w[k]["p95_ms"] for k in keys], 0.4, label="p95")
    axes[0].set(xticks=list(x), ylabel="ms per question", title="warm latency, in-process")
    axes[0].set_xticklabels(names, fontsize=8)
    axes[0].legend()
    rows = report["scale"]["factors"]
    factors = [r["factor"] for r in rows]
    axes[1].loglog(factors, [r["build_s"] for r in rows], marker="o", label="build s")
    axes[1].loglog(factors, [r["index_mb_without_encoder"] for r in rows], marker="o", label="index MB (no encoder)")
    axes[1].loglog(factors, [r["build_peak_mb"] for r in rows], marker="o", label="build peak MB")
    axes[1].set(xlabel="corpus size (x report)", title="build growth")
    axes[1].legend(fontsize=8)
    axes[2].plot(factors, [r["p50_ms"] for r in rows], marker="o", label="query p50 ms")
    axes[2].plot(factors, [r["p95_ms"] for r in rows], marker="o", label="query p95 ms")
    axes[2].set_xscale("log")
    axes[2].set(xlabel="corpus size (x report)", title="query latency vs corpus size")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_bench(settings: Settings, out_dir: Path, questions: int, stream_questions: int, cold_runs: int,
              factors: list[int], clients: int, http_seconds: float) -> dict:
    def step(name, fn, *args):
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        return fn(*args)

    report = {"run_at": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine_description()}
    report["warm"] = step("warm in-process latency", bench_warm, settings, questions)
    report["stream"] = step("ask --json - stream", bench_stream, settings, stream_questions)
    report["stream_ratio"] = round(report["stream"]["per_question_ms"] / report["warm"]["st_encode"]["p50_ms"], 3)
    report["cold"] = step("cold one-shot ask", bench_cold, settings, cold_runs)
    report["app_start"] = step("app start-up", bench_app_start, settings, 3)
    report["same_answers"] = step("ONNX vs sentence-transformers top-5", same_answers, settings)
    report["reader"] = step("reader: ONNX vs CrossEncoder.predict", bench_reader, settings, min(questions, 100))
    report["scale"] = step("build and scale", bench_build, settings, factors, 100)
    report["http"] = step("HTTP load", bench_http, settings, clients, http_seconds) if clients else None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "bench.md").write_text(markdown(report), encoding="utf-8")
    plot(report, out_dir / "bench.png")
    return report


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="performance benchmark (latency, start-up, build, scale, HTTP load)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--questions", type=int, default=300, help="distinct questions for warm latency (>= 200)")
    p.add_argument("--stream-questions", type=int, default=300)
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--scale", default="1,10,100", help="synthetic corpus sizes, in multiples of the corpus")
    p.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients (0 skips the load test)")
    p.add_argument("--http-seconds", type=float, default=30, help="load test duration, at most 60")
    p.add_argument("--load", action="store_true",
                   help="only the load test: --users chat users for --load-seconds, hostile requests mixed in")
    p.add_argument("--users", type=int, default=50)
    p.add_argument("--load-seconds", type=float, default=60)
    add_path_options(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:

    if args.load:
        return cmd_load(args, settings_from_args(args))
    if args.questions < 2 or args.stream_questions < 2:
        raise ValueError("--questions and --stream-questions need at least 2 questions")
    factors = [int(f) for f in args.scale.split(",") if f.strip()]
    report = run_bench(settings_from_args(args), args.out, args.questions, args.stream_questions, args.cold_runs,
                       factors, args.clients, args.http_seconds)
    print(markdown(report))
    print(f"wrote {args.out / 'bench.json'}, {args.out / 'bench.md'}, {args.out / 'bench.png'}")
    return 0
