"""The release report as one self-contained HTML page (plots embedded as inline SVG)."""

from __future__ import annotations

from html import escape

from dpcore.accounting import PrivacyCap, budget_note, percent
from tasks.report.headline import headline
from tasks.report.inputs import ReleaseFacts, ReportInputs
from tasks.report.plots import bar_plot, budget_plot, heatmap_plot

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; font-size: 0.9rem; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure.plot { margin: 0.5rem 0 1.5rem; }
figure.plot svg { max-width: 100%; height: auto; display: block; }
.note { color: #555; font-size: 0.9rem; }
.lead { font-size: 1.05rem; background: #f6f8fa; padding: 0.8rem 1rem;
        border-left: 4px solid #4c72b0; }
"""


def _table(header: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{escape(h)}</th>" for h in header) if any(header) else ""
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(v)}</td>' if i in numeric else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _figure(chart: str, name: str) -> str:
    """An inline SVG chart (it carries its own title and aria-label), named for anchors and
    tests by ``data-plot``."""
    return f'<figure class="plot" data-plot="{escape(name)}">{chart}</figure>'


def _cost(f: ReleaseFacts) -> str:
    """This version's privacy cost: its charge, or none for a refresh."""
    charged = (
        f"epsilon = {f.epsilon:g}, pure epsilon-DP (delta = 0; zCDP rho = {f.rho:.6g})"
        if f.delta == 0
        else f"epsilon = {f.epsilon:g}, delta = {f.delta:g} (rho = {f.rho:.6g})"
    )
    if f.refresh_of is None:
        return charged
    return (
        f"none: a refresh re-sampled from the stored measurements of run {f.refresh_of} "
        f"(which were charged {charged})"
    )


def _lead(inputs: ReportInputs) -> str:
    """The ten-second summary: what was released, its cost as a share of the cap, and how
    well the synthetic table agrees with the noisy marginals, beside the noise floor."""
    h = headline(inputs)
    agreement = h.agreement_text()
    return (
        f'<p class="lead" id="summary"><strong>{h.rows:,} synthetic rows of {h.columns} '
        f"columns, method {escape(h.method)}; {escape(h.cost_text())}.</strong> "
        f"{escape(h.budget_sentence)}.{escape(' ' + agreement if agreement else '')}</p>"
    )


def _data_docs(inputs: ReportInputs) -> str:
    """A link to Great Expectations' Data Docs of the synthetic table, when they were built."""
    if inputs.data_docs is None:
        return ""
    return (
        f'<p id="data-docs">Great Expectations validated the synthetic table (the steward\'s '
        f'suite and the spec\'s expectations): <a href="{escape(inputs.data_docs)}">its Data '
        "Docs</a>, built from synthetic rows and noisy measurements only.</p>"
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
            ["dataset cap", f"{f.dataset}: {PrivacyCap(f.cap_epsilon, f.cap_delta).words()}"],
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
        ["#", "measured marginal", "chosen", "noisy cells", "sigma", "sigma / average cell"],
        [
            [
                str(i),
                (" x ".join(n.clique) or "(total count)") + (" (merged codes)" if n.merged else ""),
                n.step,
                f"{n.cells:,}",
                f"{n.sigma:.4g}",
                percent(n.sigma / n.average_cell) if n.average_cell > 0 else "",
            ]
            for i, n in enumerate(inputs.noise, start=1)
        ],
        numeric={0, 3, 4, 5},
    )
    tvd = _table(
        ["column", "TVD vs least noisy measured marginal", "noise floor (about)"],
        [[c.clique[0], f"{c.tvd:.4f}", f"{c.noise_floor:.4f}"] for c in inputs.one_way_all],
        numeric={1, 2},
    )
    bars = "".join(_figure(bar_plot(c), f"1-way {c.clique[0]}") for c in inputs.one_way)
    heatmaps = "".join(
        _figure(heatmap_plot(c), f"2-way {' x '.join(c.clique)}") for c in inputs.two_way
    )
    two_way = (
        f'<h3 id="two-way">Measured 2-way marginals</h3>{heatmaps}'
        if heatmaps
        else '<p class="note">This method measured no 2-way marginals.</p>'
    )
    note = budget_note(PrivacyCap(f.cap_epsilon, f.cap_delta))
    budget = (
        f'<p>{escape(inputs.budget_sentence)}.</p><p class="note">{escape(note)}</p>'
        + _figure(budget_plot(inputs.budget, f.run_id), "budget over time")
    )
    lead = _lead(inputs)
    noise_words = (
        "discrete Laplace noise of scale sigma (pure DP; standard deviation about 1.4 sigma)"
        if f.delta == 0 and f.refresh_of is None
        else "discrete Gaussian noise with standard deviation about sigma"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Release report: {escape(f.table_name)}</title><style>{STYLE}</style></head>
<body>
<h1>Release report: <code>{escape(f.table_name)}</code></h1>
{lead}
<p class="note">Built only from differentially private outputs: the stored noisy
measurements, the synthetic table, the budget ledger and the public spec. Reading it costs
no privacy budget. Query the data with <code>SELECT * FROM release.{escape(f.name)}</code>.</p>
<h2>What was released</h2>{summary}{_data_docs(inputs)}
<h2>Privacy budget of {escape(f.dataset)}</h2>{budget}{ledger}
<h2>Noise per measured marginal</h2>
<p class="note">Each noisy cell carries {noise_words}; the last column puts sigma beside an
average cell (the noisy total spread evenly), so small percentages mean the noise hardly
matters. Marginals fixed in advance come first; then, for AIM, one marginal per selection
round, chosen from the data by the exponential mechanism: a pair can appear again in a later
round with less noise, and the model uses every measurement. "Merged codes" means AIM
measured that marginal with neighbouring codes of a wide column grouped (fewer, less noisy
cells); the model keeps every code.</p>{noise}
<h2>Utility: synthetic table vs noisy marginals</h2>
<p class="note">Distributions are normalised; the noisy ones have negative counts clipped to 0.
Each marginal is compared with the least noisy measurement covering it (summed over the other
columns where it covers more). The utility gate's <code>marginal_tvd</code> check (run
artifacts) uses another estimator, each column's counts combined from every measurement
covering it by inverse-variance weighting, so its TVD can differ a little from this one.
The noise floor is about the TVD a perfect model would score against the noisy marginal, from
the noise alone: a TVD near its floor is mostly noise, not model error. Plotted: the
{len(inputs.one_way)} columns with the largest total variation distance (TVD); heatmaps use a
square-root colour scale so that small cells stay visible.</p>
{tvd}{bars}{two_way}
</body></html>
"""
