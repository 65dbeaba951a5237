"""report-qa: offline, Chinese-first question answering with exact citations over work reports.

Data flow, one subpackage per stage, each importing only from the stages before it:
``ingest`` (report files -> reports -> passages) -> ``search`` (passages -> index -> ranked passages)
-> ``answer`` (an extractive answer with citations, or an abstention) -> ``pipeline.ReportQA`` (the one
entry point) -> ``serve`` (API, chat, widget) and ``evaluation`` (eval, bench) -> ``cli``.
``config`` declares every setting; every stage may read it.
"""

import os as _os

# No model hub here: make every Hugging Face library offline before any of them is imported.
_os.environ["HF_HUB_OFFLINE"] = "1"
_os.environ["TRANSFORMERS_OFFLINE"] = "1"
_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
