"""Thin Prefect task wrappers: resolve inputs, call one library function, return plain values."""
