"""Ingest: read news articles from files, split them into passages, embed them and store them in Chroma."""

from .articles import Article
from .pipeline import IngestReport, ingest_paths

__all__ = ["Article", "IngestReport", "ingest_paths"]
