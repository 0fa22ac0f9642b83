"""The release report: a self-contained HTML page built from DP outputs only.

``inputs`` gathers what the report may show (release facts, ledger history, noise scales and
noisy-vs-synthetic marginals), ``plots`` draws them as inline SVG (on ``svg``'s building
blocks), ``html`` lays them out and ``task`` is the thin Prefect task that writes
``$DPRELEASE_HOME/reports/<name>_v<N>.html``. Nothing here reads source rows: the inputs are
the stored noisy measurements, the synthetic code counts, the ledger, the catalog row and the
public spec.
"""

from tasks.report.headline import Headline, headline
from tasks.report.html import render_report
from tasks.report.inputs import (
    BudgetPoint,
    MarginalComparison,
    NoiseRow,
    ReleaseFacts,
    ReportInputs,
    build_report_inputs,
)
from tasks.report.task import (
    WrittenReport,
    report_path,
    write_release_report,
    write_release_report_fn,
)

__all__ = [
    "BudgetPoint",
    "Headline",
    "MarginalComparison",
    "NoiseRow",
    "ReleaseFacts",
    "ReportInputs",
    "WrittenReport",
    "build_report_inputs",
    "headline",
    "render_report",
    "report_path",
    "write_release_report",
    "write_release_report_fn",
]
