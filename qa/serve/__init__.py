"""Serve: HTTP requests in -> answers out, as the JSON API, the chat page and the intranet widget (FastAPI + Gradio)."""
