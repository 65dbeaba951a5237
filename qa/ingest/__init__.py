"""Ingest: report files (.md, .txt, .docx, .pdf) in -> reports with their text and passages out (readers, layouts, corpus)."""
