"""The spec's source section: a warehouse table (duckdb, the default) or a Parquet dataset read
by Dask; bad combinations name the field and say what to do."""

from __future__ import annotations

from typing import Any

import pytest

from flows.spec import SpecError, parse_spec
from tests.flows.test_spec import adult


def with_source(source: dict[str, Any], **privacy: object) -> dict[str, Any]:
    data = adult()
    data["source"] = source
    data["privacy"].update(privacy)
    return data


def test_default_engine_is_duckdb_on_the_table() -> None:
    spec = parse_spec(adult())
    assert spec.source.engine == "duckdb" and spec.source.name == "raw.adult"
    request = spec.to_request("x.yaml")
    assert (request.source_engine, request.source_table) == ("duckdb", "raw.adult")


def test_dask_source_reads_a_path_and_keys_the_ledger_by_it() -> None:
    spec = parse_spec(with_source({"engine": "dask", "path": "/data/lake/adult/"}))
    request = spec.to_request("x.yaml")
    assert (request.source_engine, request.source_table) == ("dask", "/data/lake/adult")
    assert request.dataset == "/data/lake/adult"
    url = parse_spec(with_source({"engine": "dask", "path": "s3://bucket/adult/*.parquet"}))
    assert url.source.name == "s3://bucket/adult/*.parquet"
    assert parse_spec(adult()).spec_hash() != spec.spec_hash()


@pytest.mark.parametrize(
    "source,reason",
    [
        ({"engine": "dask"}, "source.path is required with source.engine: dask"),
        ({"engine": "dask", "path": "data/adult"}, "must be an absolute path or a URL"),
        (
            {"engine": "dask", "path": "/data/adult", "table": "raw.adult"},
            "give the Parquet dataset in source.path",
        ),
        ({"table": "raw.adult", "path": "/data/adult"}, "set source.engine: dask"),
        ({"engine": "duckdb"}, "source.table is required"),
        ({"engine": "spark", "table": "raw.adult"}, "'duckdb' or 'dask'"),
        ({"engine": "dask", "path": "/data/adult", "cluster": "x"}, "Extra inputs"),
    ],
)
def test_bad_source_names_the_field(source: dict[str, Any], reason: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(with_source(source), "specs/bad.yaml")
    message = str(info.value)
    assert "specs/bad.yaml" in message and "  - source" in message, message
    assert reason in message, message


def test_person_unit_is_accepted_on_both_engines() -> None:
    """Both engines cut each person's rows by one query (tests/warehouse/test_dask_source.py
    checks that their counts agree)."""
    unit = {"key": "person_id", "max_rows_per_person": 2}
    dask = parse_spec(with_source({"engine": "dask", "path": "/data/adult"}, unit=unit))
    duck = parse_spec(with_source({"table": "raw.adult"}, unit=unit))
    assert dask.to_request("s").unit == duck.to_request("s").unit
