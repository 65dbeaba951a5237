"""Search: passages in -> the index (dense FAISS + bm25s keyword, with its manifest) -> ranked passages out."""
