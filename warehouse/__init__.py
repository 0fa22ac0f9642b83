"""The only code that touches DuckDB: sources, the budget ledger, measurements, runs, publish."""
