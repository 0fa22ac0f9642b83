"""The release report as one self-contained HTML page (plots embedded as base64 PNGs)."""

from __future__ import annotations

from html import escape

from dpcore.accounting import ZCDP_NOTE, percent
from tasks.report.inputs import ReleaseFacts, ReportInputs
from tasks.report.plots import bar_plot, budget_plot, heatmap_plot

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; font-size: 0.9rem; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; display: block; margin: 0.5rem 0 1.5rem; }
.note { color: #555; font-size: 0.9rem; }
"""


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(v)}</td>' if i in numeric else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _img(data: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _cost(f: ReleaseFacts) -> str:
    """This version's privacy cost: its charge, or none for a refresh."""
    charged = f"epsilon = {f.epsilon:g}, delta = {f.delta:g} (rho = {f.rho:.6g})"
    if f.refresh_of is None:
        return charged
    return (
        f"none: a refresh re-sampled from the stored measurements of run {f.refresh_of} "
        f"(which were charged {charged})"
    )


def render_report(inputs: ReportInputs) -> str:
    """The whole report page for ``inputs`` (all text escaped, no external resources)."""
    f = inputs.facts
    summary = _table(
        ["", ""],
        [
            ["release", f"{f.table_name} (newest is {f.name})"],
            ["description", f.description],
            ["version", str(f.version)],
            ["rows", f"{f.rows:,}"],
            ["columns", f"{len(f.columns)}: {', '.join(f.columns)}"],
            ["method", f.method],
            ["privacy cost", _cost(f)],
            ["dataset cap", f"{f.dataset}: epsilon = {f.cap_epsilon:g}, delta = {f.cap_delta:g}"],
            ["utility checks", "passed" if inputs.utility_passed else "FAILED"],
            ["run", f.run_id],
            ["published", f.created_at.isoformat(timespec="seconds")],
        ],
    )
    ledger = _table(
        ["#", "charged at", "release", "epsilon", "share of cap", "cap used after", "outcome"],
        [
            [
                str(p.seq),
                p.charged_at.isoformat(timespec="seconds"),
                p.release,
                f"{p.epsilon:g}",
                percent(p.share),
                percent(p.cumulative_share),
                p.outcome,
            ]
            for p in inputs.budget
        ],
        numeric={0, 3, 4, 5},
    )
    noise = _table(
        ["measured marginal", "noisy cells", "sigma"],
        [
            [" x ".join(n.clique) or "(total count)", f"{n.cells:,}", f"{n.sigma:.4g}"]
            for n in inputs.noise
        ],
        numeric={1, 2},
    )
    tvd = _table(
        ["column", "TVD noisy vs synthetic"],
        [[name, f"{value:.4f}"] for name, value in inputs.one_way_tvd],
        numeric={1},
    )
    bars = "".join(_img(bar_plot(c), f"1-way {c.clique[0]}") for c in inputs.one_way)
    heatmaps = "".join(
        _img(heatmap_plot(c), f"2-way {' x '.join(c.clique)}") for c in inputs.two_way
    )
    two_way = (
        f"<h3>Measured 2-way marginals</h3>{heatmaps}"
        if heatmaps
        else '<p class="note">This method measured no 2-way marginals.</p>'
    )
    budget = (
        f'<p>{escape(inputs.budget_sentence)}.</p><p class="note">{escape(ZCDP_NOTE)}</p>'
        + _img(budget_plot(inputs.budget, f.run_id), "budget over time")
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Release report: {escape(f.table_name)}</title><style>{STYLE}</style></head>
<body>
<h1>Release report: <code>{escape(f.table_name)}</code></h1>
<p class="note">Built only from differentially private outputs: the stored noisy
measurements, the synthetic table, the budget ledger and the public spec. Reading it costs
no privacy budget. Query the data with <code>SELECT * FROM release.{escape(f.name)}</code>.</p>
<h2>What was released</h2>{summary}
<h2>Privacy budget of {escape(f.dataset)}</h2>{budget}{ledger}
<h2>Noise per measured marginal</h2>
<p class="note">Each noisy cell carries discrete Gaussian noise with standard deviation about
sigma.</p>{noise}
<h2>Utility: synthetic table vs noisy marginals</h2>
<p class="note">Distributions are normalised; the noisy ones have negative counts clipped to 0.
Plotted: the {len(inputs.one_way)} columns with the largest total variation distance (TVD).</p>
{tvd}{bars}{two_way}
</body></html>
"""
