"""The CLI JSON contract, through a real subprocess; and one run with the network cut."""

import json
from dataclasses import replace
import os
import shutil
import subprocess
import sys

import pytest

from qa.config import environment

CONTRACT = {"id", "source", "dept", "headline", "item_no", "text", "start", "end", "score", "report", "section",
            "report_id"}


def _run(args, settings, stdin=None, prefix=()):
    return subprocess.run([*prefix, sys.executable, "-m", "qa", *args], input=stdin, capture_output=True,
                          text=True, env=environment(settings), timeout=120)


def test_ask_json_stream_contract(built):
    questions = ["城管局在垃圾分类上做什么", "", "区财政局今年的预算是多少", "哪些部门提到了城市大脑"]
    proc = _run(["ask", "--json", "--k", "3", "-"], built, stdin="\n".join(questions) + "\n")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["question"] for line in lines] == questions
    first = lines[0]
    assert set(first) == {"id", "question", "understood_as", "answer", "abstained", "confidence", "notices",
                          "citations"}
    assert 0.0 <= first["confidence"] <= 1.0
    assert first["abstained"] is False and 1 <= len(first["citations"]) <= 3
    for citation in first["citations"]:
        assert set(citation) == CONTRACT
        assert isinstance(citation["item_no"], int) and isinstance(citation["score"], float)
    scores = [c["score"] for c in first["citations"]]
    assert scores == sorted(scores, reverse=True)
    top = first["citations"][0]
    text = (built.corpus_dir / top["source"]).read_text(encoding="utf-8")
    assert text[top["start"]:top["end"]] == top["text"]
    assert "问题不能为空" in lines[1]["error"]
    assert lines[2]["abstained"] is True and lines[2]["citations"] == []
    assert {c["dept"] for c in lines[3]["citations"]} >= {"区民政局", "区数据资源局"}


def test_ask_readable_and_search(built):
    proc = _run(["ask", "城管局在垃圾分类上做什么"], built)
    assert proc.returncode == 0 and "区城管局" in proc.stdout and "[1]" in proc.stdout
    proc = _run(["search", "垃圾分类", "--k", "10"], built)
    lines = [line for line in proc.stdout.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert len(lines) == 10 and "区城管局" in lines[0]


def test_missing_index_and_model_give_clear_errors(built, tmp_path):
    missing_index = replace(built, index_dir=tmp_path / "none")
    proc = _run(["ask", "垃圾分类"], missing_index)
    assert proc.returncode == 2 and "python -m qa build" in proc.stderr and "Traceback" not in proc.stderr
    missing_model = replace(built, model_dir=tmp_path / "no-model")
    proc = _run(["ask", "垃圾分类"], missing_model)
    assert proc.returncode == 2 and "qa model fetch" in proc.stderr and "Traceback" not in proc.stderr


def test_console_script_is_installed():
    assert shutil.which("report-qa", path=os.path.dirname(sys.executable))


def _network_namespace_available() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "-n", "true"]).returncode == 0


@pytest.mark.skipif(not _network_namespace_available(), reason="unshare -n needs root or user namespaces")
def test_answers_with_the_network_cut(built):
    """No hub call: in a namespace with no network, loading and answering still work (ONNX and torch paths)."""
    proc = _run(["ask", "--json", "-"], built, stdin="城管局在垃圾分类上做什么\n", prefix=("unshare", "-n"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["citations"][0]["dept"] == "区城管局"
    proc = _run(["ask", "--encoder", "sentence-transformers", "--json", "让外迁的企业回来"], built,
                prefix=("unshare", "-n"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["citations"][0]["dept"] == "区科技工业区委"


def test_eval_cli_rejects_a_malformed_gold_file_before_running(built, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "城管局在垃圾分类上做什么", "dept": ["区城管局"], "must": ["垃圾分类"]}\n{"q": "缺少类型"}\n',
                   encoding="utf-8")
    proc = _run(["eval", "--questions", str(bad), "--out", str(tmp_path / "out")], built)
    assert proc.returncode == 2 and f"{bad}:2" in proc.stderr and 'give "dept"' in proc.stderr
    assert not (tmp_path / "out").exists()


def test_eval_cli_writes_reports(built, tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"q": "城管局在垃圾分类上做什么", "dept": ["区城管局"], "must": ["垃圾分类"]}\n'
                    '{"q": "哪些部门提到了城市大脑", "multi": ["区民政局", "区数据资源局"]}\n'
                    '{"q": "区财政局今年的预算是多少", "none": true}\n', encoding="utf-8")
    out = tmp_path / "out"
    proc = _run(["eval", "--questions", str(gold), "--retrievers", "keyword,hybrid,baseline", "--k", "1,2,20",
                 "--out", str(out), "--no-progress"], built)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    hybrid = report["retrievers"]["hybrid"]
    assert hybrid["hit@1"] == 1.0 and hybrid["hit@20"] == 1.0 and "hit@3" not in hybrid
    assert hybrid["multi_recall@5"] == 1.0 and hybrid["abstain_recall"] == 1.0 and hybrid["false_abstentions"] == 0
    assert report["retrievers"]["baseline"]["abstain_recall"] == 0.0
    md = (out / "eval.md").read_text(encoding="utf-8")
    assert [line.split(" |")[0] for line in md.splitlines() if line.startswith("| hit@")] == ["| hit@1", "| hit@2",
                                                                                          "| hit@20"]
    assert "| e2e_hit@1 | 1.000" in md and "| legacy-none | 1 |" in md
    assert (out / "eval.png").read_bytes()[:4] == b"\x89PNG"
    assert "| hit@1 |" in proc.stdout


def test_build_if_stale_skips_a_fresh_index_and_rebuilds_a_stale_one(built, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built.corpus_dir, corpus)
    shutil.copytree(built.index_dir, index)
    settings = replace(built, corpus_dir=corpus, index_dir=index)
    proc = _run(["build", "--if-stale"], settings)
    assert proc.returncode == 0 and "up to date" in proc.stderr
    report = next(corpus.glob("*.md"))
    report.write_text(report.read_text(encoding="utf-8").replace("巩固垃圾分类成效", "巩固垃圾分类和源头减量成效"),
                      encoding="utf-8")
    proc = _run(["build", "--if-stale", "--quiet"], settings)
    assert proc.returncode == 0, proc.stderr
    assert "corpus" in proc.stderr and "built" in proc.stdout and "区城管局" in proc.stdout
    proc = _run(["ask", "--json", "垃圾分类"], settings)
    assert "源头减量" in json.loads(proc.stdout)["citations"][0]["text"]
