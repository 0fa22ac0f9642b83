"""The ``dprelease`` command line: demo, run, refresh, plan, budget, releases, runs, export,
report, serve, server.

Commands that run a flow first check everything that can be refused without reading a
source row (:mod:`flows.preflight`), then use the home's local Prefect API
(:mod:`flows.local_api`, started in the background by the first command that needs it).
Modules are imported where they are used, so that ``plan``, ``budget`` and ``releases``
never import Prefect, Great Expectations or the report's renderer.

Long steps print one line each with their duration (``flows.progress``) on stderr, so
``--json`` output on stdout stays clean.

Errors are one clear paragraph (exit code 2) unless ``--debug`` is given, which shows the
traceback and lets database errors keep their original text (trusted terminals only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from dpcore.errors import DPReleaseError
from warehouse.vocabulary import ReleaseKind

if TYPE_CHECKING:
    from flows.codebook import Codebook
    from flows.draft import LearnedColumn
    from flows.finish import ReleaseOutcome
    from warehouse.paths import WarehousePaths


def _quiet_prefect_defaults() -> None:
    """Offline-friendly Prefect defaults (no telemetry lookups)."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _json_value(value: object) -> str:
    """Dates as ISO 8601, exact decimals and anything else as their text."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=_json_value))


class UnknownNameError(DPReleaseError):
    """A dataset or release name that this home does not know."""


def _read_home(home: str | None) -> WarehousePaths:
    """The home a read-only command looks at; refuses one that does not exist rather than
    create it (a misspelt --home would otherwise read as an empty, fresh home)."""
    from warehouse.paths import WarehousePaths

    root = Path(home or os.environ.get("DPRELEASE_HOME") or ".dprelease").resolve()
    if not root.exists():  # (a file in its place is named as such by WarehousePaths)
        raise UnknownNameError(
            f"there is no dprelease home at {root}: check --home (or $DPRELEASE_HOME). A "
            "home is created by its first release (`dprelease demo`, `dprelease run SPEC`) "
            "or by `dprelease budget register`."
        )
    return WarehousePaths.from_env(root)


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """`` (did you mean a, b?)`` for close matches of ``name``, else the names known."""
    import difflib

    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; known: {', '.join(known)}" if known else ""


def _bar(fraction: float, width: int = 30) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "[" + "#" * filled + "." * (width - filled) + "]"


@contextmanager
def _flow_session(args: argparse.Namespace) -> Iterator[str]:
    """The Prefect API for this home (yielded), progress lines, and a quiet console."""
    import prefect.main  # noqa: F401  # sets up Prefect's logging, whose console is quietened

    from flows.console import quiet_prefect_console
    from flows.local_api import prefect_api
    from flows.progress import print_progress

    with (
        prefect_api(args.home) as api,
        _without_heartbeats(),
        print_progress(),
        quiet_prefect_console(not args.debug),
    ):
        yield api


@contextmanager
def _without_heartbeats() -> Iterator[None]:
    """No flow-run heartbeats for a run in this foreground process, unless configured.

    Prefect's heartbeat thread sleeps in one-second steps, so joining it costs every run
    up to a second at its end; heartbeats only matter to a server automation that marks
    silent runs crashed, which a local server does not have, and a killed run is found in
    the warehouse's run log either way. ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` keeps them.
    Served runs (``dprelease serve``) are not affected.
    """
    if os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY"):
        yield
        return
    from prefect.settings import temporary_settings

    with temporary_settings({"flows.heartbeat_frequency": None}):
        yield


@contextmanager
def _run_tags(release: str, dataset: str | None) -> Iterator[None]:
    """Tag the flow runs started in the block with their release and dataset (as served
    deployments' runs are); a refresh's dataset is added when it publishes."""
    from prefect import tags

    from flows.run_labels import run_tags

    with tags(*run_tags(release, dataset)):
        yield


def cmd_demo(args: argparse.Namespace) -> int:
    """Seed the bundled Adult data if absent, run its release, say where to query it."""
    from flows.local_api import ui_address
    from flows.packaged import demo_spec
    from flows.preflight import preflight
    from warehouse.ledger import budget_state
    from warehouse.paths import WarehousePaths
    from warehouse.seed import register_adult, seed_adult

    paths = WarehousePaths.from_env(args.home)
    spec = demo_spec()
    if seed_adult(paths.warehouse):
        print(f"loaded the bundled UCI Adult data into raw.adult in {paths.warehouse}")
    if register_adult(paths.warehouse, _spec_cap(spec)):
        print("registered raw.adult's lifetime cap (the embedded default's privacy officer)")
    request = preflight(str(spec), str(paths.home))
    with _flow_session(args) as api, _run_tags(request.name, request.dataset):
        from flows.release import release

        outcome = release(str(spec), home=str(paths.home))
    state = budget_state(paths.warehouse, "raw.adult")
    print()
    print(f"published release.{outcome.name} -> {outcome.table_name}: {outcome.rows:,} rows")
    if state is not None:
        from dpcore.accounting import BudgetStatement, PrivacyCost, cap_share, percent

        cost = PrivacyCost(outcome.epsilon, outcome.delta)
        share = cap_share(cost.charge_for(state.cap), state.cap_amount)
        print(
            f"cost: {cost.words()}, "
            f"{percent(share)} of raw.adult's lifetime cap (run {outcome.run_id})"
        )
        print(f"budget: {BudgetStatement.of(state, outcome.delta).sentence()}")
    print(f"query it:  {_sql_hint(paths.release, f'SELECT * FROM {outcome.name} LIMIT 5')}")
    print(f"catalog:   {_sql_hint(paths.release, 'SELECT name, version, rows FROM catalog')}")
    print(f"report:    {outcome.report or 'not written (see the warning above)'}")
    if outcome.report:
        print(f"open it:   dprelease report {outcome.name} --open")
    ui = ui_address(api)
    print(f"Prefect UI: {ui} (this run: {ui}/runs/flow-run/{outcome.run_id})")
    return 0


def _sql_hint(release: Path, sql: str) -> str:
    """A shell command that runs ``sql`` on the release file read-only with the duckdb
    Python module this install has (the duckdb CLI is not installed by pip)."""
    import shlex

    code = f"import duckdb; duckdb.connect({str(release)!r}, read_only=True).sql({sql!r}).show()"
    return f"{shlex.quote(_python())} -c {shlex.quote(code)}"


def _python() -> str:
    """This interpreter, relative to the working directory when under it (shorter)."""
    python = Path(sys.executable)
    try:
        return str(python.relative_to(Path.cwd()))
    except ValueError:
        return str(python)


def _spec_cap(spec: Path) -> tuple[float, float]:
    """The (epsilon, delta) cap a spec declares."""
    from flows.spec import load_spec

    cap = load_spec(spec).privacy.cap
    return cap.epsilon, cap.delta


def cmd_register(args: argparse.Namespace) -> int:
    """A privacy officer registers a dataset's lifetime cap (required before any release)."""
    from dpcore.accounting import PrivacyCap, kind_words
    from dpcore.errors import DomainError
    from warehouse.ledger import register_budget
    from warehouse.paths import WarehousePaths

    try:
        cap = PrivacyCap(args.epsilon, args.delta)
    except ValueError as error:
        raise DomainError(f"cannot register {args.dataset}: {error}") from None
    unit = None if args.unit is None else ("row" if args.unit == "row" else f"person:{args.unit}")
    paths = WarehousePaths.from_env(args.home)
    state = register_budget(
        paths.warehouse,
        args.dataset.lower(),
        cap,
        unit=unit,
        registered_by=os.environ.get("USER", ""),
    )
    protects = state.unit or "fixed by the first charge"
    print(
        f"{state.dataset}: lifetime cap {cap.words()}, {kind_words(cap.delta)}, counted in "
        f"{cap.currency} ({state.cap_amount:f}); privacy unit: {protects}; spent "
        f"{cap.currency}={state.spent:f}"
    )
    return 0


def _in_warm_runner(args: argparse.Namespace, start: bool) -> int | None:
    """The command's exit code if the home's warm runner ran it, else None.

    Only the console script hands commands over (callers of :func:`main` with arguments run
    them in their own process): first to a runner that already listens, whose process
    runs the pre-flight faster; else, once the pre-flight passed here, to a runner started
    for it (``start``), so that a refusal never starts one.
    """
    if args.argv is None:
        return None
    from flows.runner_client import run_warm

    return run_warm(args.home, args.argv, start=start)


def cmd_run(args: argparse.Namespace) -> int:
    """Check what can be refused without rows, then run the release through the flow."""
    warm = _in_warm_runner(args, start=False)
    if warm is not None:
        return warm
    from flows.overrides import ReleaseOverrides
    from flows.preflight import preflight

    overrides = ReleaseOverrides(rows=args.rows, epsilon=args.epsilon)
    request = preflight(args.spec, args.home, overrides, args.resume)  # refusals answer here
    warm = _in_warm_runner(args, start=True)
    if warm is not None:
        return warm
    with _flow_session(args), _run_tags(request.name, request.dataset):
        from flows.release import release

        outcome = release(args.spec, resume_run_id=args.resume, home=args.home, overrides=overrides)
    _print_outcome(outcome, args.json)
    return 0


def _print_outcome(outcome: ReleaseOutcome, as_json: bool) -> None:
    """One published version, as the run and refresh commands report it."""
    if as_json:
        _print_json(outcome.__dict__)
        return
    if outcome.kind == ReleaseKind.REFRESH:
        how = f"a refresh of run {outcome.measurement_run}'s measurements, no privacy cost"
    elif outcome.resumed:
        how = "resumed from stored measurements, no new charge"
    else:
        how = "charged"
    print(
        f"published release.{outcome.name} -> {outcome.table_name}: {outcome.rows:,} rows "
        f"(run {outcome.run_id}, {how})"
    )
    print(f"report: {outcome.report or 'not written (see the warning above)'}")
    if outcome.report:
        print(f"open it: dprelease report {outcome.name} --open")


def cmd_refresh(args: argparse.Namespace) -> int:
    """Publish a new version re-sampled from a release's newest stored measurements."""
    warm = _in_warm_runner(args, start=False)
    if warm is not None:
        return warm
    from flows.preflight import refresh_preflight

    refresh_preflight(args.name, args.home, args.spec)  # refusals answer here, no server
    warm = _in_warm_runner(args, start=True)
    if warm is not None:
        return warm
    with _flow_session(args), _run_tags(args.name, None):
        from flows.refresh import refresh

        outcome = refresh(args.name, home=args.home, spec_path=args.spec, rows=args.rows)
    _print_outcome(outcome, args.json)
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """Cost, remaining budget, schedule runway and noise per marginal, reading no rows."""
    from flows.spec import load_spec

    spec = load_spec(args.spec)
    from dpcore.accounting import BudgetStatement, cap_share, percent
    from flows.schedule import runway
    from tasks.plan import plan_release_fn
    from warehouse.clock import utc_now

    plan = plan_release_fn(spec.to_request(args.spec), args.home)
    request = plan.request
    state = plan.budget
    rho = request.cost.charge_for(state.cap)  # in the cap's currency (epsilon if pure)
    cron = args.schedule or spec.schedule
    runs_left = state.runs_left(rho) if plan.horizon_left is None else plan.horizon_left
    schedule = runway(state, rho, cron, utc_now(), runs_left=max(runs_left, 0)) if cron else None
    policy = request.on_exhausted
    statement = BudgetStatement.of(state, request.cost.delta)
    data = {
        "release": request.name,
        "dataset": request.dataset,
        "method": request.method,
        "kind": "pure" if request.cost.pure else "zcdp",
        "currency": state.cap.currency,
        "cost": {
            "epsilon": request.cost.epsilon,
            "delta": request.cost.delta,
            "rho": request.cost.ledger_rho,  # its zCDP cost, as a zCDP ledger charges it
            "amount": rho,
        },
        "cap": {
            "epsilon": state.cap.epsilon,
            "delta": state.cap.delta,
            "amount": state.cap_amount,
            **({} if state.cap.pure else {"rho": state.cap_amount}),
        },
        "spent": state.spent,
        "remaining": state.remaining,
        **({} if state.cap.pure else {"spent_rho": state.spent, "remaining_rho": state.remaining}),
        "cost_share": cap_share(rho, state.cap_amount),
        "budget": statement.as_dict(),
        "affordable": plan.affordable,
        "runs_left": max(runs_left, 0),
        "horizon": None
        if request.horizon_runs is None
        else {"runs": request.horizon_runs, "left": max(runs_left, 0)},
        "on_exhausted": policy,
        "schedule": None
        if schedule is None
        else {
            "cron": schedule.cron,
            "last_paid_run": schedule.last_paid,
            "budget_runs_out": schedule.first_refused,
        },
        "measurements": [
            {
                "marginal": list(p.clique),
                "cells": request.codec.domain.cells(p.clique),
                "sigma": p.sigma,
            }
            for p in plan.measurements
        ],
    }
    if args.json:
        _print_json(data)
        return 0
    print(f"release {request.name} on {request.dataset}, method {request.method}")
    horizon = (
        ""
        if request.horizon_runs is None
        else f"; the remaining budget split over the horizon's {max(runs_left, 0)} run(s) left"
    )
    print(
        f"cost: {request.cost.words()}, "
        f"{percent(cap_share(rho, state.cap_amount))} of the lifetime cap "
        f"({state.cap.currency}={rho:.6g}){horizon}"
    )
    print(f"budget: {statement.sentence()}; runs of this spec left: {max(runs_left, 0)}")
    then = (
        "each later run publishes a free refresh from the newest stored measurements"
        if policy == "refresh"
        else "each later run fails, spending nothing"
    )
    if schedule is not None:
        last = schedule.last_paid.date().isoformat() if schedule.last_paid else "none"
        out = schedule.first_refused.date().isoformat() if schedule.first_refused else "never"
        print(
            f"schedule '{schedule.cron}': the budget pays for {schedule.runs_left} more "
            f"scheduled runs (the last on {last}); it runs out on {out}, when the next run "
            "would be refused"
        )
    print(f"when the budget runs out (on_exhausted: {policy}): {then}")
    if not plan.affordable:
        print(f"this release would not be charged now: {plan.refusal()}")
    print(
        "noise per measured marginal (discrete Laplace of scale sigma, pure DP):"
        if request.cost.pure
        else "noise per measured marginal (discrete Gaussian, standard deviation about sigma):"
    )
    for p in plan.measurements:
        cells = request.codec.domain.cells(p.clique)
        print(f"  {' x '.join(p.clique):40s} {cells:>9,} cells  sigma={p.sigma:.3g}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    """Draft a spec for TABLE from public metadata (catalog, codebook, registered cap) and,
    with --learn, domains learned under DP (charged to the table's cap)."""
    import re

    import yaml

    from flows.codebook import CodebookError, load_codebook
    from flows.draft import DraftInputs, check_codebook, draft_spec
    from flows.placeholders import find_placeholders
    from flows.spec import SOURCE_TABLE
    from warehouse.ledger import budget_state
    from warehouse.source import table_catalog

    table = args.table
    if not re.match(SOURCE_TABLE, table):
        raise CodebookError(f"{table!r} is not a warehouse table name: give it as schema.table")
    paths = _read_home(args.home)
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not args.force:
        raise CodebookError(f"{out} exists; give another --out, or --force to replace it")
    catalog = table_catalog(paths.warehouse, table)
    codebook = load_codebook(args.codebook) if args.codebook else None
    if codebook is not None:
        check_codebook(codebook, catalog, table)
    learned: dict[str, LearnedColumn] = {}
    if args.learn:
        learned = _learn(args, paths, catalog, codebook)
    state = budget_state(paths.warehouse, table)
    text = draft_spec(
        DraftInputs(
            table=table,
            catalog=catalog,
            codebook=codebook,
            codebook_path=args.codebook,
            cap=None if state is None else state.cap,
            learned=learned,
        )
    )
    left = find_placeholders(yaml.safe_load(text))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
    where = "stdout" if out is None else str(out)
    print(
        f"drafted a spec for {table} ({len(catalog)} catalog columns) to {where}: "
        f"{len(left)} placeholder(s) to fill in"
        + (f" ({', '.join(p for p, _ in left)})" if left else "; ready to plan"),
        file=sys.stderr,
    )
    return 0


def _learn(
    args: argparse.Namespace,
    paths: WarehousePaths,
    catalog: dict[str, str],
    codebook: Codebook | None,
) -> dict[str, LearnedColumn]:
    """The --learn step: refused before any charge unless every column needs it."""
    from dpcore.accounting import PrivacyCost
    from flows.codebook import CodebookError
    from flows.learn_domains import learn_domains

    if args.epsilon is None:
        raise CodebookError(
            "--learn spends budget: give its cost with --epsilon (and --delta, default 1e-9)"
        )
    if codebook is not None:
        covered = [c for c in args.learn if c in codebook.columns]
        omitted = [c for c in covered if codebook.columns[c].omit]
        if omitted:
            raise CodebookError(
                f"the codebook omits {', '.join(omitted)} from the release: learning its "
                "domain would spend budget on a column never released; leave it out of --learn"
            )
        if covered:
            raise CodebookError(
                f"the codebook already declares {', '.join(covered)}: learning it would spend "
                "budget on what is public; leave it out of --learn"
            )
    cost = PrivacyCost(args.epsilon, args.delta)
    step = learn_domains(paths.warehouse, args.table, args.learn, catalog, cost)
    print(
        f"learned {', '.join(step.columns)} under DP: run {step.charge.run_id} charged "
        f"{cost.words()} to {args.table}",
        file=sys.stderr,
    )
    return dict(step.columns)


def cmd_budget(args: argparse.Namespace) -> int:
    """Each dataset's budget as shares of its lifetime cap (and the largest epsilon still
    payable at its releases' delta), or one dataset's charge history."""
    from dpcore.accounting import BudgetStatement, budget_note, cap_share, percent
    from warehouse.ledger import all_budgets, history, latest_delta
    from warehouse.vocabulary import DOMAIN_STEP_RELEASE

    paths = _read_home(args.home)
    if args.history:
        _known_dataset(paths, args.history)
        entries = history(paths.warehouse, args.history)
        if args.json:
            _print_json([h.as_dict() for h in entries])
            return 0
        if not entries:
            print(f"no charges recorded for {args.history}")
        for h in entries:
            c = h.charge
            drawn = (
                f"measurements spent {h.currency}={h.recomputed:.6g}"
                if h.recomputed is not None
                else "noisy domain counts, not stored"
                if c.release == DOMAIN_STEP_RELEASE
                else "nothing measured yet"
            )
            print(
                f"#{c.seq:<3} {c.charged_at.isoformat(timespec='seconds')}  {c.release:<16} "
                f"run {c.run_id}  [{c.unit or 'unit not recorded'}]  eps={c.epsilon:g} "
                f"delta={c.delta:g}: {percent(h.share)} of the cap, {percent(h.used_after)} "
                f"used after ({h.currency}={c.rho:.6g}; {drawn})  "
                f"cumulative eps={h.cumulative_epsilon:.4g}  {h.outcome}"
            )
        return 0
    states = all_budgets(paths.warehouse)
    statements = []
    for s in states:  # at the delta its releases use (the cap's, before any charge)
        delta = latest_delta(paths.warehouse, s.dataset)
        statements.append(BudgetStatement.of(s, s.cap.delta if delta is None else delta))
    data = [
        {
            "dataset": s.dataset,
            "unit": s.unit,
            "cap_epsilon": s.cap.epsilon,
            "cap_delta": s.cap.delta,
            "kind": "pure" if s.cap.pure else "zcdp",
            "currency": s.cap.currency,
            "cap_amount": str(s.cap_amount),
            "spent": str(s.spent),
            "remaining": str(s.remaining),
            **(
                {}
                if s.cap.pure
                else {
                    "cap_rho": str(s.cap_amount),
                    "spent_rho": str(s.spent),
                    "remaining_rho": str(s.remaining),
                }
            ),
            "spent_epsilon": s.spent_epsilon,
            **statement.as_dict(),
        }
        for s, statement in zip(states, statements, strict=True)
    ]
    if args.json:
        _print_json(data)
        return 0
    if not data:
        print("no dataset has been charged yet")
    for s, statement in zip(states, statements, strict=True):
        used = cap_share(s.spent, s.cap_amount)
        print(f"{s.dataset:<24} {_bar(used)} {statement.sentence()}")
    for note in dict.fromkeys(budget_note(s.cap) for s in states):
        print(note)
    return 0


def _known_dataset(paths: WarehousePaths, name: str) -> None:
    """Refuse a dataset name the ledger does not know, saying which one was likely meant
    (a release's name points to its dataset)."""
    from warehouse.ledger import all_budgets
    from warehouse.runs import list_runs

    datasets = [s.dataset for s in all_budgets(paths.warehouse)]
    if name in datasets:
        return
    of_release = sorted({r.dataset for r in list_runs(paths.warehouse, name)})
    if of_release:
        raise UnknownNameError(
            f"{name} is a release, not a dataset; its dataset is {', '.join(of_release)}: "
            f"`dprelease budget --history {of_release[0]}`."
        )
    raise UnknownNameError(
        f"no dataset named {name} is registered here{_did_you_mean(name, datasets)}"
    )


def _known_release(paths: WarehousePaths, name: str | None, names: Sequence[str]) -> None:
    """Refuse a release name that was never run here, with the close matches."""
    if name is not None and name not in names:
        raise UnknownNameError(f"there is no release named {name}{_did_you_mean(name, names)}")


def cmd_releases(args: argparse.Namespace) -> int:
    """The release catalog, newest first."""
    from warehouse.publish import catalog
    from warehouse.runs import list_runs

    paths = _read_home(args.home)
    _known_release(paths, args.name, sorted({r.release for r in list_runs(paths.warehouse)}))
    rows = catalog(paths, args.name)
    if args.json:  # the utility checks as JSON objects, not as a JSON string inside JSON
        _print_json([{**r, "utility": json.loads(str(r["utility"]))} for r in rows])
        return 0
    if not rows:
        print("nothing published yet")
    else:
        print(f"{'version':<24} {'rows':>9}       {'method':<12} cost  cap used after  published")
    for r in rows:
        kind = (
            f"refresh of {r['measurement_run']}"
            if r.get("kind") == ReleaseKind.REFRESH
            else f"eps={r['epsilon']:g} delta={r['delta']:g}"
        )
        share = r.get("cumulative_share")
        used = "" if share is None else f"  {_percent(float(str(share)))} of the cap used"
        print(
            f"{r['table_name']:<24} {r['rows']:>9,} rows  {r['method']:<12} {kind}{used}  "
            f"{_when(r['created_at'])}"
        )
    return 0


def _percent(share: float) -> str:
    from dpcore.accounting import percent

    return percent(share)


def _when(value: object) -> str:
    """A timestamp to the second, in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def cmd_runs(args: argparse.Namespace) -> int:
    """The run log, newest first."""
    from warehouse.runs import list_runs

    paths = _read_home(args.home)
    if args.name is not None:
        _known_release(paths, args.name, sorted({r.release for r in list_runs(paths.warehouse)}))
    runs = list_runs(paths.warehouse, args.name)
    if args.json:
        _print_json([{k: v for k, v in r.__dict__.items() if k != "input_report"} for r in runs])
        return 0
    if runs:
        print(f"{'run':<36}  {'release':<16} {'status':<10} started")
    for r in runs:
        version = f" v{r.version}" if r.version else ""
        error = f"  {r.error}" if r.error else ""
        refresh = f"  refresh of {r.measurement_run}" if r.kind == ReleaseKind.REFRESH else ""
        print(
            f"{r.run_id:<36}  {r.release:<16} {r.status:<10}{version} {_when(r.started_at)}"
            f"{refresh}{error}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a release version to Parquet or CSV for consumers who do not use DuckDB."""
    from warehouse.export import export_release
    from warehouse.paths import WarehousePaths

    output = Path(args.output) if args.output else None
    result = export_release(
        WarehousePaths.from_env(args.home),
        args.name,
        version=args.version,
        fmt=args.format,
        output=output,
        force=args.force,
    )
    sidecar = " (metadata beside it, .metadata.json)" if result.format == "csv" else ""
    print(f"exported {result.table_name} ({result.rows:,} rows) to {result.path}{sidecar}")
    return 0


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        value = kind(text)
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
        return value

    return parse


def _cron(text: str) -> str:
    """An argparse type: a cron schedule checked as a spec's is (:func:`check_cron`)."""
    from flows.schedule import check_cron

    try:
        return check_cron(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one deployment per spec (with its schedule) for the Prefect UI."""
    from flows.local_api import prefect_api, ui_address
    from flows.packaged import default_specs_dir

    with prefect_api(args.home) as api:
        from flows.serve import serve_specs

        specs = Path(args.specs) if args.specs else default_specs_dir()
        print(f"serving the specs in {specs}; Prefect UI: {ui_address(api)}", flush=True)
        serve_specs(specs, home=args.home, reports_port=args.reports_port)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Where a release's report is (its file, and its address if a server serves it); with
    ``--open``, open it in the browser (at that address, else the file itself)."""
    import webbrowser

    from flows.report_server import REPORT_FILE, report_files, report_url, serving_url

    paths = _read_home(args.home)
    reports = report_files(paths.home / "reports")
    names = sorted({m["name"] for p in reports if (m := REPORT_FILE.match(p.name))})
    if args.name not in names:
        raise UnknownNameError(
            f"there is no report of a release named {args.name} in {paths.home / 'reports'}"
            f"{_did_you_mean(args.name, names)}"
        )
    mine = [p for p in reports if p.name.startswith(f"{args.name}_v")]
    if args.version is not None:
        mine = [p for p in mine if p.name == f"{args.name}_v{args.version}.html"]
        if not mine:
            raise UnknownNameError(f"{args.name} has no report of version {args.version}")
    report = mine[0]  # newest first
    base = serving_url(paths.home)
    url = None if base is None else report_url(base, report)
    print(f"report: {report}")
    print(
        f"served at: {url}"
        if url
        else "served at: nothing serves reports now (`dprelease serve` does)"
    )
    if args.open:
        target = url or report.as_uri()
        opened = webbrowser.open(target)
        print(f"opened {target}" if opened else f"no web browser found here; open {target}")
    return 0


def cmd_server(args: argparse.Namespace) -> int:
    """Start, show or stop the home's local Prefect server."""
    from flows.local_api import (
        ServerFiles,
        alive,
        answers,
        configured_api_url,
        local_server,
        read_record,
        stop_server,
    )
    from flows.runner_client import running_runners, stop_runners

    files = ServerFiles.for_home(args.home)
    if args.action == "stop":
        runners = stop_runners(args.home)
        if runners:
            pids = ", ".join(str(r.pid) for r in runners)
            print(f"stopped {len(runners)} warm runner(s) (pid {pids})")
        stopped = stop_server(args.home)
        if stopped is None:
            print(f"no local Prefect server is running for {files.root.parent}")
        else:
            print(f"stopped the local Prefect server (pid {stopped.pid}, {stopped.ui})")
        return 0
    for runner in running_runners(args.home):
        print(f"warm runner: pid {runner.pid}, started {runner.started_at}")
    configured = configured_api_url()
    if configured is not None:
        state = "answers" if answers(configured) else "does not answer"
        print(f"PREFECT_API_URL={configured} ({state}): commands use it and start no server")
        return 0
    if args.action == "start":
        server = local_server(args.home)
        print(f"local Prefect server: pid {server.pid}, UI {server.ui}, API {server.url}")
        return 0
    record = read_record(files)
    if record is None or not alive(record):
        print(f"no local Prefect server for {files.root.parent}; the next run starts one")
        return 0
    state = "answers" if answers(record.url) else "is not answering yet"
    print(
        f"local Prefect server: pid {record.pid}, UI {record.ui}, API {record.url}, started "
        f"{record.started_at}, {state}; database {files.database}, log {files.log}"
    )
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dprelease")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: looks the installed version up only when asked (the metadata lookup
    costs every other command ~0.1 s)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"dprelease {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="dprelease",
        description="Differentially private synthetic-data releases from DuckDB.",
    )
    parser.add_argument(
        "--home", help="warehouse directory (default $DPRELEASE_HOME or .dprelease)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and raw errors")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        """--home and --debug after the subcommand too (the top level's value stands if
        they are not repeated there)."""
        p.add_argument("--home", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.set_defaults(fn=fn)
        common(p)
        return p

    add("demo", cmd_demo, "load the bundled Adult data and publish its release")
    p = add("run", cmd_run, "run the release a spec file declares")
    p.add_argument("spec")
    p.add_argument("--resume", metavar="RUN_ID", help="re-synthesize a run from its measurements")
    p.add_argument("--rows", type=_positive(int), help="synthetic rows to generate (this run)")
    p.add_argument(
        "--epsilon", type=_positive(float), help="a lower epsilon than the spec's (this run)"
    )
    p.add_argument("--json", action="store_true")
    p = add("refresh", cmd_refresh, "publish a free re-sample of a release's newest measurements")
    p.add_argument("name")
    p.add_argument("--rows", type=_positive(int), help="synthetic rows to generate")
    p.add_argument("--spec", help="the spec the measurements were made with (only for old runs)")
    p.add_argument("--json", action="store_true")
    p = add("plan", cmd_plan, "show a release's cost, remaining budget and noise (reads no rows)")
    p.add_argument("spec")
    p.add_argument(
        "--schedule",
        metavar="CRON",
        type=_cron,
        help="preview another schedule than the spec's (cron)",
    )
    p.add_argument("--json", action="store_true")
    p = add(
        "init",
        cmd_init,
        "draft a release spec for a table from public metadata (catalog, codebook); reads "
        "no rows unless --learn",
    )
    p.add_argument("table", help="schema.table in the warehouse")
    p.add_argument(
        "--codebook",
        metavar="FILE",
        help="the table's codebook (.json or .csv): per column its type and values or bounds",
    )
    p.add_argument("--out", metavar="FILE", help="write the draft here (default: stdout)")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument(
        "--learn",
        nargs="+",
        metavar="COLUMN",
        help="learn these columns' domains from the rows under DP, charged to the table's cap",
    )
    p.add_argument("--epsilon", type=_positive(float), help="the --learn step's cost (its epsilon)")
    p.add_argument("--delta", type=_positive(float), default=1e-9, help="the --learn step's delta")
    p = add("budget", cmd_budget, "show each dataset's spent and remaining privacy budget")
    p.add_argument("--history", metavar="DATASET", help="list every charge of one dataset")
    p.add_argument("--json", action="store_true")
    officer = p.add_subparsers(dest="budget_command", metavar="register")
    r = officer.add_parser(
        "register",
        help="register a dataset's lifetime cap (privacy officers; before any release)",
        description="Register a dataset's lifetime privacy cap. Every release of the dataset "
        "is charged against it; specs can only repeat it. A cap never changes once registered.",
    )
    r.add_argument("dataset", help="schema.table in the warehouse (or a Parquet path)")
    r.add_argument("--epsilon", type=float, required=True, help="the lifetime epsilon")
    r.add_argument("--delta", type=float, required=True, help="the lifetime delta")
    r.add_argument(
        "--unit",
        metavar="row|KEY",
        help="whom the cap protects: 'row', or a person key column (default: the first "
        "charge's unit)",
    )
    r.set_defaults(fn=cmd_register)
    common(r)
    p = add("releases", cmd_releases, "list published release versions")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p = add("runs", cmd_runs, "list release runs and their status")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true")
    p = add("export", cmd_export, "write a release version to a Parquet or CSV file")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="version number (default: the newest)")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    p.add_argument("--output", metavar="PATH", help="file to write (default ./NAME_vN.FORMAT)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p = add("serve", cmd_serve, "serve one scheduled deployment per spec for the Prefect UI")
    p.add_argument(
        "--specs",
        help="directory of spec files (default: ./deployments/specs if present, else the "
        "bundled demo spec)",
    )
    p.add_argument(
        "--reports-port",
        type=int,
        metavar="PORT",
        help="port on 127.0.0.1 serving the release reports (default $DPRELEASE_REPORTS_PORT, "
        "else the home's previous port if free, else a free one)",
    )
    p = add("report", cmd_report, "show (--open: open) a release's newest HTML report")
    p.add_argument("name")
    p.add_argument("--version", type=int, help="version number (default: the newest)")
    p.add_argument("--open", action="store_true", help="open it in the web browser")
    p = add("server", cmd_server, "show, start or stop this home's Prefect server and warm runners")
    p.add_argument("action", choices=["status", "start", "stop"])
    return parser


def _exit_now(code: int) -> None:
    """End the process at once, after what its exit hooks would have had to do.

    Prefect's log and event workers are drained (as its own exit hooks do), so the run's logs
    reach the UI; then the interpreter's teardown of Prefect, pandas and Great Expectations
    modules (over a second, on every command) is skipped.
    """
    if "prefect.logging.handlers" in sys.modules:
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogWorker

        APILogWorker.drain_all(timeout=5)
        EventsWorker.drain_all(timeout=5)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dprelease`` command.

    Called without ``argv`` (the console script), the process ends as soon as the command
    has answered (:func:`_exit_now`); with ``argv`` (tests, callers), it returns the code.
    """
    try:
        code = _main(argv)
    except BrokenPipeError:  # the reader left (``dprelease plan ... | head``): not an error
        code = 0
    if argv is None:
        _exit_now(code)
    return code


def _main(argv: Sequence[str] | None) -> int:
    """Parse the arguments, run the command, turn our errors into one paragraph (exit 2)."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:]) if argv is None else None  # the console script's, to hand over
    _quiet_prefect_defaults()
    if args.debug:
        os.environ["DPRELEASE_DEBUG"] = "1"
    try:
        code: int = args.fn(args)
    except DPReleaseError as error:
        if args.debug:
            raise
        print(f"dprelease: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        failure = _storage_failure(error)
        if failure is None or args.debug:
            raise
        print(f"dprelease: {failure}", file=sys.stderr)
        return 2
    return code


def _storage_failure(error: Exception) -> DPReleaseError | None:
    """A full disk or a refused permission that escaped untyped (from a library, or a file
    we open), as its one-paragraph error; None for anything else."""
    from warehouse.failures import storage_error

    return storage_error(error, None)


if __name__ == "__main__":
    sys.exit(main())
