"""A release name may only take objects of the release file that are its own."""

from __future__ import annotations

import duckdb
import pytest

from tests.warehouse.test_publish import frame, meta
from warehouse.paths import WarehousePaths
from warehouse.publish import (
    ReleaseNameError,
    catalog,
    check_release_name,
    publish,
)


def test_a_fresh_file_and_a_release_s_own_objects_are_free(paths: WarehousePaths) -> None:
    check_release_name(paths, "adult")  # no release file yet
    publish(paths, frame(10), meta("run-1"), private=True)
    publish(paths, frame(10), meta("run-2"), private=True)
    check_release_name(paths, "adult")  # its own view and versions
    check_release_name(paths, "census")


def test_another_release_s_view_blocks_a_name_whose_versions_it_would_take(
    paths: WarehousePaths,
) -> None:
    """``adult_v5`` (published before the spec refused such names) owns the view
    ``adult_v5``, which ``adult`` would need for its fifth version."""
    publish(paths, frame(10), meta("run-1", name="adult_v5"), private=True)
    with pytest.raises(ReleaseNameError) as info:
        check_release_name(paths, "adult")
    assert str(info.value).startswith(
        "release name 'adult' collides with 'adult_v5' in the release file, the view of "
        "release 'adult_v5'"
    )
    assert "Nothing was charged. Give the release another name" in str(info.value)


def test_a_hand_made_table_blocks_the_name(paths: WarehousePaths) -> None:
    publish(paths, frame(10), meta("run-1"), private=True)
    with duckdb.connect(str(paths.release)) as con:
        con.execute("CREATE TABLE census AS SELECT 1 AS x")
    with pytest.raises(ReleaseNameError, match="'census' in the release file, the table that"):
        check_release_name(paths, "census")


def test_the_publisher_refuses_a_colliding_name_too(paths: WarehousePaths) -> None:
    """Defence in depth: a publish that skipped the pre-flight check still refuses, and the
    live file is unchanged."""
    publish(paths, frame(10), meta("run-1", name="adult_v1"), private=True)
    before = catalog(paths)
    with pytest.raises(ReleaseNameError, match="collides with 'adult_v1'"):
        publish(paths, frame(10), meta("run-2"), private=True)
    assert catalog(paths) == before
