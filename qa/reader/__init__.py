"""(question, passages) in -> how well each passage answers the question out (a cross-encoder trained here)."""
