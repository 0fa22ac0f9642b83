"""Pure differential-privacy core: domains, noise, accounting, marginals, models, sampling.

Nothing here imports Prefect, DuckDB or Great Expectations; a test enforces it.
"""
