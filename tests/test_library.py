"""A library of reports with the real model: report routing and filters, departments of several reports,
per-report aliases, citations naming their report, every format answering, no drift with corpus size."""

import json
import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from conftest import LIBRARY_DIR, build_library
from formats import write_format
from qa.config import ServerConfig, PROJECT_ROOT, environment
from qa.pipeline import QuestionError, ReportQA
from qa.serve.api import create_app
from servers import LOCAL

BINHE, GWR, PLAN, SHIPPED = ("binhe-departments-2021", "linjiang-government-work-report-2024",
                             "linjiang-departments-plan-2023", "gongshu-departments-plenum-2020")


def _reports(answer) -> list[str]:
    return [c.report_id for c in answer.citations]


def test_library_index_stores_reports_and_texts(library, library_qa):
    index = library_qa.index
    assert {r.id for r in index.reports} == {BINHE, GWR, PLAN, SHIPPED}
    assert (library.index_dir / "reports.json").is_file()
    for report in index.reports:
        text = (library.index_dir / "texts" / f"{report.id}.txt").read_text(encoding="utf-8")
        for chunk in (c for c in index.chunks if c.report == report.id):
            assert text[chunk.start:chunk.end] == chunk.text
    listed = {r["id"]: r for r in library_qa.reports}
    assert listed[GWR]["district"] == "临江区" and listed[GWR]["year"] == 2024
    assert listed[SHIPPED]["district"] == "拱墅区"  # from corpus/aliases.json "_reports"
    assert listed[PLAN]["file"] == f"{PLAN}.txt" and listed[PLAN]["layout"] == "department-compilation"


def test_district_named_answers_from_that_district(library_qa):
    binhe = library_qa.ask("滨河区新增多少个学位", k=5)
    linjiang = library_qa.ask("临江区新增多少个学位", k=5)
    assert set(_reports(binhe)) == {BINHE}
    assert set(_reports(linjiang)) <= {GWR, PLAN} and _reports(linjiang)
    assert "6300" in binhe.citations[0].text and "6300" not in " ".join(c.text for c in linjiang.citations)
    assert "【" in binhe.answer and "滨河" in binhe.answer  # the answer names its report


def test_year_prefers_that_years_report(library_qa):
    assert _reports(library_qa.ask("临江区2023年新增养老床位多少张"))[0] == PLAN
    assert _reports(library_qa.ask("临江区2024年新增养老床位多少张"))[0] == GWR


def test_report_filter_and_its_errors(library_qa):
    answer = library_qa.ask("新增多少个学位", report=BINHE)
    assert set(_reports(answer)) == {BINHE}
    assert set(_reports(library_qa.ask("新增多少个学位", report="滨河区"))) == {BINHE}  # a unique district
    hits = library_qa.search("老旧小区改造", k=5, report=f"{PLAN}.txt")  # the file name works too
    assert {h.chunk.report for h in hits} == {PLAN}
    with pytest.raises(QuestionError, match="有多份报告"):
        library_qa.ask("新增多少个学位", report="临江区")
    with pytest.raises(QuestionError, match="未知报告"):
        library_qa.ask("新增多少个学位", report="西湖区")


def test_department_of_several_reports_is_several_departments(library_qa):
    answer = library_qa.ask("商务局今年有什么打算", k=5)
    assert {BINHE, PLAN, SHIPPED} <= set(_reports(answer))
    lines = answer.answer.splitlines()
    assert len(lines) >= 3
    for line in lines:  # one list per report, each naming it; never two reports' items spliced together
        numbers = [int(n) for n in re.findall(r"\[(\d+)\]", line)]
        assert line.startswith("【") and numbers
        assert len({answer.citations[n - 1].report_id for n in numbers}) == 1
    overview = library_qa.ask("民政局做了什么", k=8)
    assert len({c.report_id for c in overview.citations}) >= 2
    assert all(line.startswith("【") and "区民政局的工作要点" in line for line in overview.answer.splitlines())


def test_topic_words_prefer_but_do_not_route(library_qa):
    retriever = library_qa.retriever
    for question, dept in (("电子商务有什么安排", "区商务局"), ("学校教育资源怎么扩大", "区教育局"),
                           ("交通运输方面有什么变化", "区交通运输局"), ("公园区域的绿化", "区科技工业区委")):
        query = retriever.analyze(question)
        assert dept in query.depts and dept not in query.hard_depts, question
    query = retriever.analyze("区教育局新建学校")
    assert query.hard_depts == ["区教育局"]
    # 教育 (derived from 区教育局) does not confine a question about one district's school places to the
    # 区教育局 passages: the work report, which has no departments, still answers
    hits = library_qa.search("临江区教育方面新增多少学位", k=5)
    assert GWR in {h.chunk.report for h in hits} and BINHE not in {h.chunk.report for h in hits}


def test_every_citation_names_its_report(library_qa):
    for question in ("城管局在垃圾分类上做什么", "地铁7号线临江段设几个站", "哪些部门提到了养老"):
        answer = library_qa.ask(question, k=5)
        assert not answer.abstained
        for citation in answer.to_json()["citations"]:
            assert citation["report"] and isinstance(citation["section"], list)
            assert citation["report_id"] in {BINHE, GWR, PLAN, SHIPPED}
    rail = library_qa.ask("地铁7号线临江段设几个站").citations[0]
    assert rail.report == "2024年临江区人民政府工作报告" and rail.dept == ""
    assert rail.section[:2] == ["二、2024年工作安排", "（三）加快城市更新和交通提升"]


def test_paragraph_returns_the_whole_section(library_qa):
    rail = library_qa.ask("地铁7号线临江段设几个站").citations[0]
    section = library_qa.paragraph(rail.id)
    assert section["report"] == "2024年临江区人民政府工作报告"
    assert [i["label"] for i in section["items"]] == ["1.", "2.", "3."]
    assert section["text"].startswith("1. 推进老旧小区改造") and rail.text in section["text"]


def test_api_reports_and_filters(library_qa):
    with TestClient(create_app(library_qa, ServerConfig(), with_ui=False), base_url=LOCAL) as client:
        reports = client.get("/api/reports").json()["reports"]
        assert {r["id"] for r in reports} == {BINHE, GWR, PLAN, SHIPPED}
        assert all({"title", "district", "year", "file", "passages"} <= set(r) for r in reports)
        body = client.post("/api/ask", json={"question": "新增多少个学位", "report": BINHE}).json()
        assert {c["report_id"] for c in body["citations"]} == {BINHE}
        assert all(c["report"] == "加快建设生态宜居滨河新城" for c in body["citations"])
        results = client.get("/api/search", params={"q": "老旧小区改造", "report": PLAN}).json()["results"]
        assert results and {r["report_id"] for r in results} == {PLAN}
        bad = client.post("/api/ask", json={"question": "新增多少个学位", "report": "不存在的报告"})
        assert bad.status_code == 422 and "未知报告" in bad.json()["detail"]


def test_cli_report_option(library):
    env = environment(library)
    proc = subprocess.run([sys.executable, "-m", "qa", "ask", "--json", "--encoder", "sentence-transformers",
                           "--report", BINHE, "新增多少个学位"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert {c["report_id"] for c in json.loads(proc.stdout)["citations"]} == {BINHE}
    proc = subprocess.run([sys.executable, "-m", "qa", "search", "--encoder", "sentence-transformers",
                           "--report", "nope", "学位"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "未知报告" in proc.stderr


def test_per_report_aliases(tmp_path, model_dir, cached_encoder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for stem in (BINHE, PLAN):
        shutil.copy(next(LIBRARY_DIR.glob(f"{stem}.*")), corpus)
    (corpus / "aliases.json").write_text(json.dumps(
        {"_reports": {BINHE: {"aliases": {"区卫健局": ["卫生健康局"]}}}}, ensure_ascii=False), encoding="utf-8")
    settings = build_library(corpus, tmp_path / "index", model_dir, cached_encoder)
    qa = ReportQA(settings, encoder="sentence-transformers")
    query = qa.retriever.analyze("卫生健康局今年做什么")
    assert query.depts == ["区卫健局"] and query.dept_reports == {"区卫健局": [BINHE]}
    assert {c.report_id for c in qa.ask("卫生健康局今年做什么").citations} == {BINHE}
    assert {c.report_id for c in qa.ask("卫健局今年做什么", k=6).citations} == {BINHE, PLAN}


@pytest.mark.parametrize("fmt", ["gb18030.txt", "docx", "pdf"])
def test_every_format_answers(tmp_path, model_dir, cached_encoder, fmt):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copytree(PROJECT_ROOT / "corpus", corpus, dirs_exist_ok=True)
    for path in sorted(LIBRARY_DIR.iterdir()):
        write_format(path, corpus, fmt)
    settings = build_library(corpus, tmp_path / "index", model_dir, cached_encoder)
    qa = ReportQA(settings, encoder="sentence-transformers")
    assert len(qa.reports) == 4
    for question, report, must in (("地铁7号线临江段设几个站", GWR, "区内设站5座"),
                                   ("滨河区文旅局要修缮几处历史建筑", BINHE, "12处历史建筑"),
                                   ("临江区2023年公开招聘多少名教师", PLAN, "招聘教师380名")):
        top = qa.ask(question).citations[0]
        assert (top.report_id, must in top.text) == (report, True), (question, top.id)
        text = (settings.index_dir / "texts" / f"{report}.txt").read_text(encoding="utf-8")
        assert text[top.start:top.end] == top.text


def test_scores_do_not_drift_with_corpus_size(tmp_path, model_dir, cached_encoder):
    """The shipped report alone, then the same report among 19 renamed copies of it (20 reports): a
    question on its own report ranks the same passages with the same fused scores and dense z-score."""
    source = PROJECT_ROOT / "corpus" / f"{SHIPPED}.md"
    results = {}
    for n in (1, 20):
        corpus = tmp_path / f"corpus{n}"
        corpus.mkdir()
        text = source.read_text(encoding="utf-8")
        for i in range(n):  # each copy's bytes differ (trailing newlines), or the build skips it as a duplicate
            (corpus / (source.name if i == 0 else f"copy{i:02d}-{source.name}")).write_text(text + "\n" * i,
                                                                                           encoding="utf-8")
        settings = build_library(corpus, tmp_path / f"index{n}", model_dir, cached_encoder)
        qa = ReportQA(settings, encoder="sentence-transformers")
        assert len(qa.reports) == n
        rows = {}
        for question in ("城管局在垃圾分类上做什么", "安置房还剩多少没建", "让外迁的企业回来", "拱墅区的房价会涨吗"):
            query = qa.retriever.analyze(question)
            hits = qa.retriever.search(query, 5, report=SHIPPED)
            rows[question] = ([h.chunk.id for h in hits], [h.score for h in hits], query.dense_z,
                              [h.dense for h in hits])
        results[n] = rows
    for question, (ids, scores, dense_z, dense) in results[1].items():
        ids20, scores20, dense_z20, dense20 = results[20][question]
        assert ids20 == ids, question
        assert dense20 == pytest.approx(dense, abs=1e-6) and dense_z20 == pytest.approx(dense_z, abs=1e-4)
        # BM25's idf smoothing moves raw keyword scores a little (see docs/answers.md); the fused scores stay put
        assert scores20 == pytest.approx(scores, abs=0.01), question


def test_read_in_full_is_the_passage_own_section_not_the_report(library_qa):
    index = library_qa.index
    opening = next(c for c in index.chunks if c.report == SHIPPED and not c.dept and c.kind == "overview")
    section = library_qa.paragraph(opening.id)
    assert not any(i["id"].startswith(f"{SHIPPED}/区") for i in section["items"])  # no department comes with it
    assert len(section["text"]) < len(index.report_text(SHIPPED)) / 4


def test_a_chosen_department_missing_from_the_chosen_report_gives_no_passages(library_qa):
    assert library_qa.search("交通", k=5, dept="区城管局", report=GWR) == []
    answer = library_qa.ask("城管局做了什么", dept="区城管局", report=GWR)
    assert answer.abstained and not answer.citations


def test_a_place_follow_up_keeps_the_question_and_changes_the_district(library_qa):
    from qa.pipeline import Turn

    answer = library_qa.ask("那滨河区呢", history=[Turn("临江区城管局在垃圾分类上做什么")])
    assert answer.understood_as == "滨河区城管局在垃圾分类上做什么"
    assert set(_reports(answer)) == {BINHE}


@pytest.mark.parametrize("question, named", [
    ("云州市卫健委今年有什么重点工作", "市卫健委"),  # the parent city's commission, not a district department
    ("云州市政府2021年的工作重点是什么", "云州市"),  # a city government: every report is a district's
    ("西湖区2024年要新建几所学校", "西湖区"),  # a district the library has no report of
    ("拱墅区2019年各部门有什么工作计划", "2019年"),  # a year of no report, mentioned by none
])
def test_questions_outside_the_library_are_refused(library_qa, question, named):
    answer = library_qa.ask(question)
    assert answer.abstained and not answer.citations and named in answer.answer


def test_an_abbreviated_department_name_is_no_unknown_organisation(library_qa):
    query = library_qa.retriever.analyze("临江交通局今年要新增和更新多少辆新能源公交车")
    assert query.unknown_depts == [] and query.foreign == []
    answer = library_qa.ask("临江交通局今年要新增和更新多少辆新能源公交车")
    assert not answer.abstained and _reports(answer)[0] in {GWR, PLAN}


def test_a_refusal_with_a_report_chosen_lists_that_reports_departments(library_qa):
    """Issue 17, item 8: 本报告涉及的部门有 named the first 12 departments of the whole library, none of the chosen report's."""
    index = library_qa.index
    for report in (BINHE, PLAN):
        own = [d for d in index.departments if d and any(c.dept == d and c.report == report for c in index.chunks)]
        answer = library_qa.ask("区财政局今年的预算是多少", report=report)
        assert answer.abstained and "本报告涉及的部门有：" in answer.answer, answer.answer
        listed = answer.answer.split("本报告涉及的部门有：", 1)[1].rstrip("。").split("、")
        assert listed and set(listed) <= set(own), (report, listed, own)
        assert listed == own[:12]
