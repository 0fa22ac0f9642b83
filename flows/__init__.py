"""Prefect flows that compose tasks into releases, plus the spec model and the CLI."""
