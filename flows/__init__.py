"""Prefect flows that compose tasks into releases, plus the spec model and the CLI.

Importing it checks that dprelease's five top-level packages are its own
(:func:`flows.packaged.check_top_level_names`).
"""

from flows.packaged import check_top_level_names

check_top_level_names()
