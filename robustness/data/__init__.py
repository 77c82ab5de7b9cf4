"""Collections: loading, file formats and first-stage candidates."""

from robustness.data.candidates import Candidates, bm25_candidates
from robustness.data.collection import Collection, Qrels
from robustness.data.loaders import available_datasets, load_collection

__all__ = ["Candidates", "Collection", "Qrels", "available_datasets", "bm25_candidates", "load_collection"]
