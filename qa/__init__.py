"""report-qa: offline, Chinese-first question answering with exact citations over work reports.

Data flow, one module per step:
corpus (parse reports into chunks) -> index (dense FAISS + bm25s keyword, saved with a manifest)
-> retrieve (hybrid search with department routing) -> answer (extractive answer, citations, abstention)
-> cli / api / ui. ``qa.pipeline.ReportQA`` ties the steps together.
"""

import os as _os

# No model hub here: make every Hugging Face library offline before any of them is imported.
_os.environ["HF_HUB_OFFLINE"] = "1"
_os.environ["TRANSFORMERS_OFFLINE"] = "1"
_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
