"""Performance benchmark: ``python -m qa bench [--out DIR]`` writes bench.json, bench.md and bench.png.

Everything is measured in one run on this machine, so ratios compare like
with like: warm answer latency next to the raw sentence-transformers encode
of the same questions (the floor), the ``ask --json -`` stream cost per
question, cold one-shot CLI time next to ``import sentence_transformers``,
app start-up, index build, synthetic 1x/10x/100x corpora (build time, size,
query latency, peak memory) and an HTTP load test on loopback.
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

from qa.config import PROJECT_ROOT, Settings
from qa.corpus import chinese_numeral, corpus_files, item_markers, load_corpus
from qa.evaluate import DEFAULT_QUESTIONS, load_gold, machine_description, percentile

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


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(REPORT_QA_INDEX_DIR=str(settings.index_dir), REPORT_QA_CORPUS_DIR=str(settings.corpus_dir),
               REPORT_QA_MODEL=str(settings.model_dir), REPORT_QA_CACHE_DIR=str(settings.cache_dir))
    return env


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
from qa.encoder import SentenceTransformerEncoder
questions = sys.stdin.read().splitlines()
st = SentenceTransformerEncoder(os.environ["REPORT_QA_MODEL"]); st.encode([questions[0]])
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
        fast_runs.append(json.loads(run_with_peak(["-c", _ANSWER_WORKER], _env(settings), stdin)[2]))
        slow_runs.append(json.loads(run_with_peak(["-c", _ST_WORKER], _env(settings), stdin)[2]))

    def median_run(runs: list[dict], key: str) -> dict:
        stats = sorted((_ms(r[key]) for r in runs), key=lambda m: m["p50_ms"])
        return stats[len(stats) // 2] | {"runs_p50_ms": [m["p50_ms"] for m in stats]}

    answer, encode = median_run(fast_runs, "answer"), median_run(slow_runs, "st_encode")
    return {"answer": answer, "st_encode": encode, "onnx_encode": median_run(fast_runs, "onnx_encode"),
            "ratio_p50": round(answer["p50_ms"] / encode["p50_ms"], 3)}


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
    subprocess.run(cmd, env=_env(settings), cwd=PROJECT_ROOT, check=True, capture_output=True, input=stdin, text=True)
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
    proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port)], env=_env(settings),
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


# ---------------------------------------------------------------- build and scale


def dir_size_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 2)


def synthetic_corpus(source_dir: Path, out_dir: Path, factor: int, seed: int = 0) -> int:
    """``factor`` copies of every report, departments renamed and items shuffled; returns the chunk count."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if (source_dir / "aliases.json").exists():
        shutil.copy(source_dir / "aliases.json", out_dir / "aliases.json")
    for path in corpus_files(source_dir):
        text = path.read_text(encoding="utf-8")
        head, *sections = re.split(r"(?m)^(?=### )", text)
        for copy in range(factor):
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


def bench_build_and_scale(settings: Settings, factors: list[int], queries: int) -> dict:
    results = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp:
        for factor in factors:
            scaled = replace(settings, corpus_dir=Path(tmp) / f"corpus-{factor}x", index_dir=Path(tmp) / f"index-{factor}x")
            chunks = synthetic_corpus(settings.corpus_dir, scaled.corpus_dir, factor)
            build_s, build_mb, _ = run_with_peak(["-m", "qa", "build", "--quiet"], _env(scaled))
            _, query_mb, out = run_with_peak(["-c", _ANSWER_WORKER], _env(scaled),
                                             "\n".join(distinct_questions(queries)) + "\n")
            worker = json.loads(out)
            encoder_mb = dir_size_mb(scaled.index_dir / "encoder")
            results.append({"factor": factor, "chunks": chunks, "build_s": round(build_s, 2),
                            "build_peak_mb": build_mb, "index_mb": dir_size_mb(scaled.index_dir),
                            "index_mb_without_encoder": round(dir_size_mb(scaled.index_dir) - encoder_mb, 2),
                            "load_s": round(worker["load_s"], 3), "query_peak_mb": query_mb, **_ms(worker["answer"])})
            print(f"  scale {factor}x: {results[-1]}", file=sys.stderr)
    return {"factors": results}


# ---------------------------------------------------------------- report


def markdown(report: dict) -> str:
    w, c, s, a = report["warm"], report["cold"], report["stream"], report["app_start"]
    lines = [f"# Performance benchmark\n\nRun {report['run_at']} on {report['machine']} "
             f"(`python -m qa bench`). Medians of repeated runs; ratios measured in this run.\n",
             "| measure | value | target |", "|---|---|---|",
             f"| warm answer, in-process (p50 / p95) | {w['answer']['p50_ms']} / {w['answer']['p95_ms']} ms | |",
             f"| raw sentence-transformers encode of the same questions (p50 / p95) | {w['st_encode']['p50_ms']} / {w['st_encode']['p95_ms']} ms | the floor |",
             f"| ONNX encode of the same questions (p50) | {w['onnx_encode']['p50_ms']} ms | |",
             f"| answer / encode (p50) | {w['ratio_p50']} | |",
             f"| `ask --json -` per question ({s['questions']} questions) | {s['per_question_ms']} ms | |",
             f"| stream / encode | {report['stream_ratio']} | ≤ 0.6 |",
             f"| cold `python -m qa ask` | {c['ask_s']} s | |",
             f"| `import sentence_transformers` | {c['import_sentence_transformers_s']} s | |",
             f"| cold ask / import | {c['ratio']} | ≤ 0.3 |",
             f"| `python app.py` to ready | {a['ready_s']} s | ≤ 10 s |",
             f"| ONNX top-5 = sentence-transformers top-5 | {report['same_answers']['identical_top5']}/{report['same_answers']['questions']} | all |"]
    if report.get("http"):
        h = report["http"]
        lines.append(f"| HTTP /api/ask, {h['clients']} clients, {h['seconds']} s | {h['throughput_rps']} req/s, "
                     f"p50 {h['p50_ms']} ms, p95 {h['p95_ms']} ms, {h['errors']} errors | |")
    lines += ["\n## Build and scale (synthetic corpora: the report repeated, departments renamed, items shuffled)\n",
              "| corpus | chunks | build s | build peak MB | index MB (without ONNX encoder) | load s | query p50 / p95 ms | query peak MB |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["scale"]["factors"]:
        lines.append(f"| {r['factor']}x | {r['chunks']} | {r['build_s']} | {r['build_peak_mb']} | {r['index_mb']} "
                     f"({r['index_mb_without_encoder']}) | {r['load_s']} | {r['p50_ms']} / {r['p95_ms']} | {r['query_peak_mb']} |")
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
    report["scale"] = step("build and scale", bench_build_and_scale, settings, factors, 100)
    report["http"] = step("HTTP load", bench_http, settings, clients, http_seconds) if clients else None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "bench.md").write_text(markdown(report), encoding="utf-8")
    plot(report, out_dir / "bench.png")
    return report


def add_parser(sub, add_paths) -> None:
    p = sub.add_parser("bench", help="performance benchmark (latency, start-up, build, scale, HTTP load)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--questions", type=int, default=300, help="distinct questions for warm latency (>= 200)")
    p.add_argument("--stream-questions", type=int, default=300)
    p.add_argument("--cold-runs", type=int, default=5)
    p.add_argument("--scale", default="1,10,100", help="synthetic corpus sizes, in multiples of the corpus")
    p.add_argument("--clients", type=int, default=20, help="concurrent HTTP clients (0 skips the load test)")
    p.add_argument("--http-seconds", type=float, default=30, help="load test duration, at most 60")
    add_paths(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from qa.options import settings_from_args as _settings

    if args.questions < 2 or args.stream_questions < 2:
        raise ValueError("--questions and --stream-questions need at least 2 questions")
    factors = [int(f) for f in args.scale.split(",") if f.strip()]
    report = run_bench(_settings(args), args.out, args.questions, args.stream_questions, args.cold_runs,
                       factors, args.clients, args.http_seconds)
    print(markdown(report))
    print(f"wrote {args.out / 'bench.json'}, {args.out / 'bench.md'}, {args.out / 'bench.png'}")
    return 0
