"""The feedback log (bounded records, rate limit, de-duplication, rotation, whole-line appends, full disk),
its API routes, and the answer fields the chat shows (id, understood_as, notices, greetings)."""

from __future__ import annotations

import errno
import json

import pytest
from fastapi.testclient import TestClient

from qa.answer.extractive import Answer, Citation
from qa.answer.smalltalk import small_talk_kind
from qa.config import ServerConfig
from qa.pipeline import Turn
from qa.serve import feedback as feedback_module
from qa.serve.api import create_app
from servers import LOCAL
from qa.serve.feedback import MAX_RECORD_BYTES, FeedbackError, FeedbackLog, summary_allowed


def _answer(question: str = "城管局在垃圾分类上做什么", text: str = "区城管局：巩固垃圾分类成效。[1]") -> Answer:
    cite = Citation("r/区城管局/item1", "r.md", "区城管局", "提升城市治理水平", 1, "一是巩固垃圾分类成效。", 0, 11, 1.0)
    return Answer(question, text, False, [cite])


def _lines(path):
    def age(f):  # oldest first: fb.jsonl.2, fb.jsonl.1, fb.jsonl
        return -int(f.suffix[1:]) if f.suffix[1:].isdigit() else 0

    files = sorted(path.parent.glob(path.name + "*"), key=age)
    return [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]


def test_record_is_tied_to_the_answer_and_bounded(tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl")
    padded = _answer(question="垃圾分类" + " " * 1_000_000 + "\x00做什么", text="答" * 100_000 + "[1]")
    log.remember(padded)
    result = log.record(padded.id, "down", "引用不对", "  说明 " * 300, client="10.0.0.1")
    assert result == {"status": "recorded", "answer_id": padded.id}
    raw = (tmp_path / "fb.jsonl").read_bytes()
    assert len(raw) <= MAX_RECORD_BYTES and raw.endswith(b"\n") and raw.count(b"\n") == 1
    entry = json.loads(raw)
    assert entry["question"] == "垃圾分类 做什么"  # whitespace collapsed, control characters dropped
    assert entry["reason"] == "引用不对" and len(entry["text"]) <= 500 and entry["citation_ids"] == ["r/区城管局/item1"]


def test_unknown_answers_bad_votes_and_refusals_are_rejected(tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl")
    refusal = Answer("房价", "报告中没有提到", True, [])
    log.remember(refusal)
    with pytest.raises(FeedbackError) as exc:
        log.record(refusal.id, "up")
    assert exc.value.status == 404
    answer = _answer()
    log.remember(answer)
    for vote, reason in (("meh", None), ("up", "太长")):
        with pytest.raises(FeedbackError) as exc:
            log.record(answer.id, vote, reason)
        assert exc.value.status == 422
    assert not (tmp_path / "fb.jsonl").exists()


def test_duplicates_once_and_rate_limit_per_client(tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl", rate_limit=5, rate_window=60)
    answers = [_answer(question=f"问题{n}") for n in range(8)]
    for answer in answers:
        log.remember(answer)
    assert log.record(answers[0].id, "up", client="a")["status"] == "recorded"
    assert log.record(answers[0].id, "up", client="a")["status"] == "duplicate"
    for answer in answers[1:5]:
        log.record(answer.id, "up", client="a")
    with pytest.raises(FeedbackError) as exc:
        log.record(answers[5].id, "up", client="a")
    assert exc.value.status == 429 and "过于频繁" in str(exc.value)
    assert log.record(answers[5].id, "up", client="b")["status"] == "recorded"  # another client is not limited
    assert len(_lines(tmp_path / "fb.jsonl")) == 6


def test_file_rotates_and_every_line_stays_whole(tmp_path):
    path = tmp_path / "fb.jsonl"
    log = FeedbackLog(path, max_bytes=3000, backups=2, rate_limit=10_000)
    for n in range(60):
        answer = _answer(question=f"第{n}个问题")
        log.remember(answer)
        log.record(answer.id, "down", "其他", "x" * 50, client="c")
    log.close()
    assert (tmp_path / "fb.jsonl.1").exists() and (tmp_path / "fb.jsonl.2").exists()
    assert not (tmp_path / "fb.jsonl.3").exists()
    assert all(f.stat().st_size <= 3000 + MAX_RECORD_BYTES for f in tmp_path.glob("fb.jsonl*"))
    entries = _lines(path)  # every line parses
    assert entries and entries[-1]["question"] == "第59个问题"
    assert log.summary()["total"] == len(entries)


def test_full_disk_leaves_no_half_line_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "fb.jsonl"
    log = FeedbackLog(path)
    first, second = _answer(question="一"), _answer(question="二")
    log.remember(first)
    log.remember(second)
    log.record(first.id, "up")
    real_write = feedback_module.os.write

    def half_then_full(fd, data):
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(feedback_module.os, "write", half_then_full)
    with pytest.raises(FeedbackError) as exc:
        log.record(second.id, "down")
    assert exc.value.status == 507 and "磁盘已满" in str(exc.value) and "Errno" not in str(exc.value)
    monkeypatch.setattr(feedback_module.os, "write", real_write)
    assert [e["question"] for e in _lines(path)] == ["一"]  # the half line was cut back
    log.record(second.id, "down")  # and the log goes on once there is space
    assert [e["question"] for e in _lines(path)] == ["一", "二"]


def test_summary_counts_per_question_and_reason(tmp_path):
    log = FeedbackLog(tmp_path / "fb.jsonl")
    a, b = _answer(question="甲"), _answer(question="乙")
    log.remember(a)
    log.remember(b)
    log.record(a.id, "down", "错误", client="1")
    log.record(a.id, "down", "不完整", client="2")
    log.record(b.id, "up", client="1")
    summary = log.summary()
    assert summary["total"] == 3 and summary["up"] == 1 and summary["down"] == 2
    assert summary["by_reason"] == {"错误": 1, "不完整": 1, "引用不对": 0, "其他": 0}
    assert summary["questions"][0]["question"] == "甲" and summary["questions"][0]["down"] == 2


def test_summary_access(monkeypatch):
    monkeypatch.delenv("REPORT_QA_FEEDBACK_TOKEN", raising=False)
    assert summary_allowed("127.0.0.1", None) and not summary_allowed("10.1.2.3", None)
    monkeypatch.setenv("REPORT_QA_FEEDBACK_TOKEN", "s3cret")
    assert summary_allowed("10.1.2.3", "Bearer s3cret") and not summary_allowed("127.0.0.1", "Bearer nope")


def test_feedback_routes(qa, tmp_path, monkeypatch):
    monkeypatch.setenv("REPORT_QA_FEEDBACK_TOKEN", "s3cret")
    config = ServerConfig(feedback_log=tmp_path / "fb.jsonl")
    with TestClient(create_app(qa, config, with_ui=False), base_url=LOCAL) as client:
        body = client.post("/api/ask", json={"question": "城管局在垃圾分类上做什么", "k": 3}).json()
        assert len(body["id"]) == 16 and body["notices"] == [] and body["understood_as"] is None
        r = client.post("/api/feedback", json={"answer_id": body["id"], "vote": "down", "reason": "错误"})
        assert r.status_code == 200 and r.json()["status"] == "recorded"
        r = client.post("/api/feedback", json={"answer_id": "0" * 16, "vote": "up"})
        assert r.status_code == 404 and "找不到这条回答" in r.json()["detail"]
        r = client.post("/api/feedback", json={"answer_id": body["id"], "vote": "up", "text": "x" * 5000})
        assert r.status_code == 413
        assert client.get("/api/feedback/summary").status_code == 403
        summary = client.get("/api/feedback/summary", headers={"Authorization": "Bearer s3cret"}).json()
        assert summary["questions"][0]["question"] == "城管局在垃圾分类上做什么"
        assert summary["questions"][0]["reasons"]["错误"] == 1
        docs = client.get("/docs").text
        assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


@pytest.mark.parametrize("question, kind", [
    ("你好", "greet"), ("您好！", "greet"), ("谢谢你！", "thanks"), ("你是谁？", "who"), ("你好，你能做什么", "who"),
    ("hello", "greet"), ("你好，城管局做了什么", None), ("城管局在吗", None), ("垃圾分类", None), ("谢谢城管局", None),
])
def test_small_talk_detector(question, kind):
    assert small_talk_kind(question) == kind


def test_answer_fields_for_the_chat(qa):
    greeting = qa.ask("你好")
    assert greeting.kind == "greeting" and greeting.abstained and "报告中没有提到" not in greeting.answer
    first = qa.ask("城管局在垃圾分类上做什么", k=3)
    assert first.id == qa.ask("城管局在垃圾分类上做什么", k=3).id  # stable for the same answer
    assert first.understood_as is None and first.notices == []
    conflict = qa.ask("城管局在垃圾分类上做什么", k=3, dept="区住建局")
    assert conflict.notices[0].startswith("您选择了区住建局，但问题提到区城管局")
    followup = qa.ask("那住建局呢？", history=[Turn("民政局在养老方面做了什么")])
    assert "住建局" in followup.understood_as and "养老" in followup.understood_as  # however the resolver words it
    assert any("没有提到“养老”" in n and "区民政局" in n for n in followup.notices)
    assert followup.id != first.id


def test_scope_notices_stay_quiet_on_questions_the_reports_answer(qa):
    from qa.config import PROJECT_ROOT

    gold = [json.loads(line)["q"] for line in (PROJECT_ROOT / "eval" / "questions.jsonl").open(encoding="utf-8")]
    noisy = [q for q in gold if qa.ask(q, k=5).notices]
    assert len(noisy) <= 2, noisy  # 0 of 80 when written; a notice there means a wrong department or topic claim
