"""Release names that would collide in the release file are refused before any charge."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.spec import SpecError
from tests.flows.conftest import write_spec
from tests.flows.test_bad_input import privacy_rows, refused
from tests.warehouse.test_publish import frame, meta
from warehouse.paths import WarehousePaths
from warehouse.publish import ReleaseNameError, catalog, publish


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("catalog", "release.name: 'catalog' is reserved: the release file uses it for itself"),
        ("adult_v1", "release.name: 'adult_v1' ends in _v<digits>, the form of a published"),
        ("adult_v5", "(release 'adult' publishes 'adult_v5')"),
    ],
)
def test_a_name_the_release_file_uses_is_refused_by_the_spec(
    home: WarehousePaths, tmp_path: Path, name: str, reason: str
) -> None:
    spec = write_spec(tmp_path, release__name=name)
    refused(home, spec, SpecError, spec, reason)


@pytest.mark.usefixtures("prefect_harness")
def test_a_name_whose_versions_another_release_holds_is_refused_before_the_charge(
    home: WarehousePaths, tmp_path: Path
) -> None:
    """A release file from before the rule holds release ``adult_v5`` (view ``adult_v5``,
    table ``adult_v5_v1``): ``adult`` would need ``adult_v5`` for its fifth version, so it
    is refused now, at planning, not charged and then failing to publish."""
    from flows.release import release

    publish(home, frame(10), meta("old-run", name="adult_v5"), private=True)
    before_ledger, before_catalog = privacy_rows(home), catalog(home)
    with pytest.raises(ReleaseNameError) as info:
        release(write_spec(tmp_path), home=str(home.home))
    assert (
        "release name 'adult' collides with 'adult_v5' in the release file, the view of "
        "release 'adult_v5'" in str(info.value)
    )
    assert "Nothing was charged" in str(info.value)
    assert privacy_rows(home) == before_ledger
    assert catalog(home) == before_catalog
