"""The files of ``qa/serve/static/``: the chat page's script and styles, the widget, the embed demo."""

from __future__ import annotations

from importlib import resources


def static_text(name: str) -> str:
    """A file of ``qa/serve/static/``, as text."""
    return resources.files("qa.serve").joinpath(f"static/{name}").read_text(encoding="utf-8")
