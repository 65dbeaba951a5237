"""The chat app starts and answers inside a network namespace with no network but loopback."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from qa.config import PROJECT_ROOT, environment


def _can_unshare() -> bool:
    return bool(shutil.which("unshare") and shutil.which("ip")) and subprocess.run(
        ["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="unshare -n needs root or user namespaces")
def test_app_starts_and_answers_with_the_network_cut(built):
    script = textwrap.dedent(f"""
        import json, subprocess, sys, time, urllib.request
        sys.path.insert(0, {str(PROJECT_ROOT / 'tests')!r})
        from servers import post_json, wait_ready
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        try:
            urllib.request.urlopen("https://pypi.org", timeout=3)
            sys.exit("network reachable: the namespace is not cut off")
        except OSError:
            pass
        app = subprocess.Popen([sys.executable, {str(PROJECT_ROOT / 'app.py')!r}, "--port", "7999"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            seconds = wait_ready("http://127.0.0.1:7999/healthz", app)
            answer = post_json("http://127.0.0.1:7999/api/ask", {{"question": "城管局在垃圾分类上做什么"}})
            page = urllib.request.urlopen("http://127.0.0.1:7999/", timeout=10).status
            print(json.dumps({{"ready_seconds": seconds, "answer": answer, "page": page}}, ensure_ascii=False))
        finally:
            app.terminate(); app.wait(10)
    """)
    proc = subprocess.run(["unshare", "-n", sys.executable, "-c", script], capture_output=True, text=True,
                          env=environment(built), timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["page"] == 200
    assert result["answer"]["citations"][0]["dept"] == "区城管局"
