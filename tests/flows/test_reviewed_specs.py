"""A work-pool deployment's run releases only specs from the reviewed folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.served import UnreviewedSpecError, refuse_unreviewed_spec, reviewed_specs_folder
from tests.flows.conftest import SPECS


def test_a_spec_in_the_reviewed_folder_is_accepted_by_relative_or_absolute_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(SPECS.parents[1])
    assert refuse_unreviewed_spec("deployments/specs/adult.yaml", SPECS) == SPECS / "adult.yaml"
    assert refuse_unreviewed_spec(str(SPECS / "adult.yaml"), SPECS) == SPECS / "adult.yaml"


@pytest.mark.parametrize(
    "path",
    [
        "deployments/specs/../prefect.yaml",  # leaves the folder through ..
        "deployments/specs/missing.yaml",  # not a file
        "/etc/passwd",  # not a spec
        "deployments/specs",  # the folder itself
    ],
)
def test_paths_outside_the_reviewed_folder_are_refused_with_the_choices(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(SPECS.parents[1])
    with pytest.raises(UnreviewedSpecError, match=r"reviewed specs folder.*'adult\.yaml'"):
        refuse_unreviewed_spec(path, SPECS)


def test_a_link_inside_the_folder_to_a_spec_elsewhere_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "specs"
    folder.mkdir()
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("release: {name: x}\n")
    (folder / "linked.yaml").symlink_to(outside)
    with pytest.raises(UnreviewedSpecError):
        refuse_unreviewed_spec(str(folder / "linked.yaml"), folder)


def test_the_folder_is_the_workers_repository_unless_configured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DPRELEASE_SPECS_DIR", raising=False)
    assert reviewed_specs_folder() == tmp_path / "deployments" / "specs"
    monkeypatch.setenv("DPRELEASE_SPECS_DIR", "/srv/specs")
    assert reviewed_specs_folder() == Path("/srv/specs")


def test_the_deployed_flow_refuses_before_any_release(
    prefect_harness: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from flows import deployed

    def no_release(*args: object, **kwargs: object) -> None:
        raise AssertionError("the release ran")

    monkeypatch.setattr(deployed.release, "fn", no_release)
    monkeypatch.setenv("DPRELEASE_SPECS_DIR", str(SPECS))
    other = tmp_path / "adult.yaml"
    other.write_text((SPECS / "adult.yaml").read_text().replace("epsilon: 1.0", "epsilon: 4.0"))
    with pytest.raises(UnreviewedSpecError):
        deployed.deployed_release(spec_path=str(other))
