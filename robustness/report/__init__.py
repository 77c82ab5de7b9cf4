"""Results directory: results.json, TREC runs, ranx significance reports, terminal summary."""
