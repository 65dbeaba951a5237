"""Ingest: report files (.md, .txt, .docx, .pdf) in -> reports, their text and their passages out."""
