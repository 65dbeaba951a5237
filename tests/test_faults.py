"""Index faults: every file damaged every way is refused with a fix-it message; ``qa build`` killed with
SIGKILL at several points leaves a loadable index; a rebuilt index is swapped into a running ReportQA
without failing a request in flight. Uses a two-department fixture corpus (the real model)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE_REPORT
from qa.config import PROJECT_ROOT, Settings, environment
from qa.pipeline import answer_models, ReportQA
from qa.search.index import MANIFEST, IndexUnusable, ReportIndex, build_index, file_record

FIX_IT = "python -m qa build"
EXTRA_DEPARTMENT = """
### ▶ 区商务局

#### 推进消费升级

区商务局认真落实全会部署。一是举办夜间经济消费节。二是扶持老字号企业。
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory, model_dir) -> Settings:
    root = tmp_path_factory.mktemp("small")
    (root / "corpus").mkdir()
    (root / "corpus" / "sample.md").write_text(SAMPLE_REPORT, encoding="utf-8")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index", model_dir=model_dir,
                        cache_dir=Settings.from_env().cache_dir)
    build_index(settings, answer_models(), progress=False)
    return settings


def _copy(small: Settings, tmp_path: Path) -> Settings:
    """A copy of the small index whose files are hard links (cheap); damage a file after ``_own``."""
    shutil.copytree(small.index_dir, tmp_path / "index", copy_function=os.link)
    return replace(small, index_dir=tmp_path / "index")


def _own(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data)


def _refused(settings: Settings, match: str) -> str:
    with pytest.raises(IndexUnusable) as info:
        ReportQA(settings).retriever
    message = str(info.value)
    assert FIX_IT in message and __import__("re").search(match, message), message
    return message


def _index_files(small: Settings) -> list[str]:
    return sorted(ReportIndex.read_manifest(small.index_dir).files)


def test_fixture_lists_every_kind_of_file(small):
    names = _index_files(small)
    for name in ("chunks.jsonl", "dense.faiss", "clauses.npy", "aliases.json", "keyword/userdict.json",
                 "encoder/model.onnx", "encoder/tokenizer.json", "encoder/encoder.json"):
        assert name in names
    assert ReportQA(small).ask("城管局在垃圾分类上做什么").citations[0].dept == "区城管局"


@pytest.mark.parametrize("fault", ["delete", "truncate", "flip"])
def test_every_damaged_file_is_refused(small, tmp_path, fault):
    for n, name in enumerate(_index_files(small)):
        settings = _copy(small, tmp_path / f"{n}")
        path = settings.index_dir / name
        _own(path)
        if fault == "delete":
            path.unlink()
        elif fault == "truncate":
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        else:  # same size, one byte changed: only the checksum can tell
            data = bytearray(path.read_bytes())
            data[len(data) // 2] ^= 0xFF
            path.write_bytes(bytes(data))
        expected = "corrupted" if fault == "flip" else "missing or truncated"
        message = _refused(settings, expected)
        assert name in message


def _rewrite_manifest(settings: Settings, change) -> None:
    path = settings.index_dir / MANIFEST
    _own(path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("name", ["dense.faiss", "clauses.npy"])
def test_nan_vectors_are_refused_even_with_matching_checksums(small, tmp_path, name):
    settings = _copy(small, tmp_path)
    index = ReportIndex.load(settings.index_dir)
    if name == "clauses.npy":
        vectors = index.clause_vectors.copy()
        vectors[1, 3] = np.nan
        _own(settings.index_dir / name)
        np.save(settings.index_dir / name, vectors, allow_pickle=False)
    else:
        import faiss

        vectors = index.dense.reconstruct_n(0, index.dense.ntotal)
        vectors[0, 0] = np.inf
        dense = faiss.IndexFlatIP(vectors.shape[1])
        dense.add(vectors)
        _own(settings.index_dir / name)
        faiss.write_index(dense, str(settings.index_dir / name))
    record = file_record(settings.index_dir / name)  # as if a build had written the poisoned vectors
    _rewrite_manifest(settings, lambda data: data["files"].__setitem__(name, record))
    _refused(settings, "NaN or infinite")


@pytest.mark.parametrize("change, match", [
    (lambda d: d.__setitem__("files", sorted(d["files"])), "'files' has the wrong type"),
    (lambda d: d.__setitem__("files", {}), "'files' must be a non-empty"),
    (lambda d: d["files"].__setitem__("dense.faiss", 1234), "record of 'dense.faiss'"),
    (lambda d: d["files"].__setitem__("../../etc/passwd", {"size": 1, "sha256": "0" * 64}), "not a path inside"),
    (lambda d: d.pop("dim"), "'dim' is missing"),
    (lambda d: d.__setitem__("dim", "512"), "'dim' has the wrong type"),
    (lambda d: d.__setitem__("dim", 256), "dimension .* manifest says 256"),
    (lambda d: d.__setitem__("chunk_count", 3), "inconsistent"),
])
def test_invalid_manifests_are_refused(small, tmp_path, change, match):
    settings = _copy(small, tmp_path)
    _rewrite_manifest(settings, change)
    _refused(settings, match)


def test_manifest_not_an_object_is_refused(small, tmp_path):
    settings = _copy(small, tmp_path)
    _own(settings.index_dir / MANIFEST)
    (settings.index_dir / MANIFEST).write_text("[1, 2]")
    _refused(settings, "not a JSON object")


# ---------------------------------------------------------------- kill -9 during a build


def _kill_build_when(settings: Settings, ready, timeout: float = 300) -> bool:
    """Start ``qa build``; SIGKILL it once ``ready(pid)`` is true. Returns whether it was killed in time."""
    proc = subprocess.Popen([sys.executable, "-m", "qa", "build", "--quiet"], env=environment(settings), cwd=PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            if ready(proc.pid):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                return True
            time.sleep(0.005)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def _parent_has(settings: Settings, pattern: str):
    return lambda pid: any(settings.index_dir.parent.glob(pattern.format(pid=pid)))


def test_build_killed_at_any_point_leaves_a_loadable_index(small, tmp_path):
    shutil.copytree(small.corpus_dir, tmp_path / "corpus")
    settings = replace(small, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    build_index(settings, answer_models(), progress=False)
    manifest = ReportIndex.load(settings.index_dir, settings, answer_models=answer_models()).manifest
    before, chunks = manifest.built_at, manifest.chunk_count
    points = {
        # each build first removes what earlier killed builds left: the last kill leaves a temporary
        "after the rename, around the swap": _parent_has(settings, ".index.v-*-{pid}-*"),
        "writing the new version": _parent_has(settings, ".index.tmp-{pid}/chunks.jsonl"),
        "copying the encoder": _parent_has(settings, ".index.tmp-{pid}/encoder/*"),
    }
    killed = {}
    for name, ready in points.items():
        killed[name] = _kill_build_when(settings, ready)
        index = ReportIndex.load(settings.index_dir, settings, answer_models=answer_models())  # the previous or the new index, whole
        assert index.manifest.chunk_count == chunks
        assert ReportQA(settings).ask("城管局在垃圾分类上做什么").citations[0].dept == "区城管局"
    assert killed["writing the new version"] and killed["copying the encoder"], killed
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".index.tmp-", ".encoder-")))
    assert leftovers, "the killed builds should have left temporaries for the next build to clean"
    build_index(settings, answer_models(), progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert not [n for n in names if n.startswith((".index.tmp-", ".index.link-", ".encoder-", ".index.old-"))], names
    assert len([n for n in names if n.startswith(".index.v-")]) <= 2, names  # current + one previous
    assert ReportIndex.load(settings.index_dir, settings, answer_models=answer_models()).manifest.built_at >= before


def test_gitignore_covers_index_versions_and_temporaries():
    text = (PROJECT_ROOT / ".gitignore").read_text()
    for pattern in ("/index\n", "/.index.*", "/.encoder-*"):
        assert pattern in text


# ---------------------------------------------------------------- hot reload


def _add_department_and_rebuild(settings: Settings) -> None:
    """Append a department to the fixture report and run the whole ``qa build`` in this process."""
    report = settings.corpus_dir / "sample.md"
    report.write_text(report.read_text(encoding="utf-8") + EXTRA_DEPARTMENT, encoding="utf-8")
    build_index(settings, answer_models(), progress=False)


def test_rebuilt_index_is_swapped_in_without_failing_requests(small, tmp_path):
    shutil.copytree(small.corpus_dir, tmp_path / "corpus")
    settings = replace(small, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    build_index(settings, answer_models(), progress=False)
    qa = ReportQA(settings)
    assert qa.ask("商务局在做什么").abstained
    first = qa.index
    failures, answered, stop = [], [0], threading.Event()

    def keep_asking():
        while not stop.is_set():
            try:
                assert qa.ask("城管局在垃圾分类上做什么").citations[0].dept == "区城管局"
                answered[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure in flight is the defect
                failures.append(repr(exc))

    threads = [threading.Thread(target=keep_asking) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        _add_department_and_rebuild(settings)
        deadline = time.monotonic() + 60
        while qa.index is first and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert qa.index is not first, f"not reloaded: {qa.reload_error}"
    assert not failures, failures[:3]
    assert answered[0] > 0
    answer = qa.ask("商务局在做什么")
    assert not answer.abstained and answer.citations[0].dept == "区商务局"


def test_a_broken_rebuild_is_refused_and_the_old_index_keeps_serving(small, tmp_path):
    settings = _copy(small, tmp_path)
    qa = ReportQA(settings)
    old = qa.index
    # A new "version" whose manifest does not match its files, swapped in as a build would.
    new = tmp_path / ".index.v-broken"
    shutil.copytree(small.index_dir, new, copy_function=os.link)
    _own(new / "dense.faiss")
    (new / "dense.faiss").write_bytes(b"garbage")
    shutil.rmtree(settings.index_dir)
    os.symlink(new.name, settings.index_dir)
    assert qa.reload() is False
    assert "dense.faiss" in qa.reload_error and qa.index is old
    assert qa.ask("城管局在垃圾分类上做什么").citations[0].dept == "区城管局"


def test_an_index_folder_from_before_versions_is_replaced_by_a_link(small, tmp_path):
    legacy = tmp_path / "index"
    shutil.copytree(small.index_dir, legacy)  # a real folder, as `qa build` wrote it before
    (tmp_path / ".index.tmp-999999999").mkdir()  # a killed build's leftover (no such process)
    index = ReportIndex.load(small.index_dir)
    index.save(legacy, encoder_dir=small.index_dir / "encoder")
    assert legacy.is_symlink() and ReportIndex.load(legacy).manifest.chunk_count == index.manifest.chunk_count
    assert not (tmp_path / ".index.tmp-999999999").exists()
    index.save(legacy, encoder_dir=small.index_dir / "encoder")
    versions = sorted(p.name for p in tmp_path.glob(".index.v-*"))
    assert len(versions) == 2 and os.readlink(legacy) in versions  # current + the one before


def test_running_app_switches_to_a_rebuilt_index(small, tmp_path):
    """`qa build` while app.py serves: /healthz shows the new version and reports, no request fails."""
    import json as _json
    import urllib.request

    from servers import free_port, post_json, running_app

    shutil.copytree(small.corpus_dir, tmp_path / "corpus")
    settings = replace(small, corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    build_index(settings, answer_models(), progress=False)

    def health(base):
        with urllib.request.urlopen(f"{base}/healthz", timeout=30) as r:
            return _json.loads(r.read())

    with running_app(settings, free_port()) as base:
        before = health(base)["index"]
        failures, stop = [], threading.Event()

        def keep_asking():
            while not stop.is_set():
                try:
                    assert post_json(f"{base}/api/ask", {"question": "城管局在垃圾分类上做什么"})["citations"]
                except Exception as exc:  # noqa: BLE001 - any failure in flight is the defect
                    failures.append(repr(exc))

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            _add_department_and_rebuild(settings)
            deadline = time.monotonic() + 60
            while health(base)["index"]["version"] == before["version"] and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            stop.set()
            asker.join()
        after = health(base)["index"]
        assert after["version"] != before["version"] and after["reload_error"] == "", after
        assert after["reports"] and after["built_at"] >= before["built_at"]
        assert not failures, failures[:3]
        answer = post_json(f"{base}/api/ask", {"question": "商务局在做什么"})
        assert answer["citations"][0]["dept"] == "区商务局"
