"""The Grafana dashboards in docs/grafana/ query only what Ridgeline exposes.

Every PromQL expression of a dashboard (its panels' targets, rows' nested panels included, and
its query variables) is taken apart: each metric it names must be a series of a family in the
table of docs/monitoring.md (a gauge by its name, a counter by its `_total` name, a histogram by
its `_bucket`, `_sum` or `_count` series), and each label it matches on or groups by must be one
of that family's labels. A renamed metric or label then fails here instead of leaving an empty
panel. The dashboards' own shape (title, uid, unique panel ids, a datasource and a query on every
panel) is checked too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.test_metrics_scrape import Documented, documented

GRAFANA = Path(__file__).resolve().parents[2] / "docs" / "grafana"
DASHBOARDS = sorted(GRAFANA.glob("**/*.json"))

# Labels Prometheus adds to every series it scrapes (the target's), not the family's own.
TARGET_LABELS = frozenset({"instance", "job"})
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")

AGGREGATIONS = frozenset(
    {
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
    }
)  # fmt: skip
FUNCTIONS = frozenset(
    {
        "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
        "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
        "count_over_time", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "deg",
        "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
        "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
        "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join",
        "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
        "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
        "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
        "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc", "sqrt",
        "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
        "timestamp", "vector", "year",
    }
)  # fmt: skip
# Words that are neither metrics nor functions: binary operators and modifiers. `by`, `without`,
# `on`, `ignoring`, `group_left` and `group_right` are removed with their label lists first.
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})

STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# Grafana's variables: $name, ${name} or ${name:format}, [[name]].
VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]")
RANGE = re.compile(r"\[[^\]]*\]")  # a range or subquery: [5m], [1h:1m]
NUMBER = re.compile(r"(?<![\w.])(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)")
OFFSET = re.compile(r"\boffset\s+-?\w+")
# `by (a, b)`, `without (a)`, `on (a)`, `ignoring (a)`, `group_left (a)`, `group_right`.
LABEL_CLAUSE = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\b\s*(?:\(([^()]*)\))?"
)
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^{}]*)\}")
MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"\"\s*$")
IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_VALUES = re.compile(r"^\s*label_values\s*\(\s*(?:(.*?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$")


@dataclass(frozen=True)
class Use:
    """A metric an expression names, with the labels it matches it on."""

    metric: str
    labels: frozenset[str]


def sanitize(expr: str) -> str:
    """The expression with strings emptied, Grafana variables, ranges, offsets and numbers gone:
    what is left is identifiers, selectors, parentheses and operators."""
    text = STRING.sub('""', expr)
    text = VARIABLE.sub(" ", text)
    text = RANGE.sub(" ", text)
    text = OFFSET.sub(" ", text)
    return NUMBER.sub(" ", text)


def metric_uses(expr: str) -> list[Use]:
    """Every metric the (sanitized) expression selects, with its matchers' label names."""
    uses: list[Use] = []
    text = LABEL_CLAUSE.sub(" ", expr)

    def selector(match: re.Match[str]) -> str:
        name, body = match.group(1), match.group(2)
        labels: set[str] = set()
        for part in filter(str.strip, body.split(",")):
            matcher = MATCHER.match(part)
            assert matcher, f"cannot read the label matcher {part!r} in {expr!r}"
            labels.add(matcher.group(1))
        assert name, f"a selector without a metric name in {expr!r}: name the metric"
        assert "__name__" not in labels, f"select metrics by name, not __name__: {expr!r}"
        uses.append(Use(name, frozenset(labels)))
        return " "

    text = SELECTOR.sub(selector, text)
    for match in IDENTIFIER.finditer(text):
        word = match.group(0)
        called = text[match.end() :].lstrip().startswith("(")
        if called:
            assert word in FUNCTIONS | AGGREGATIONS, f"unknown function {word!r} in {expr!r}"
        elif word.lower() not in KEYWORDS:
            assert word not in FUNCTIONS | AGGREGATIONS, f"{word!r} is not called in {expr!r}"
            uses.append(Use(word, frozenset()))
    return uses


def closing(text: str, opening: int) -> int:
    """The index of the parenthesis that closes the one at `opening`."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise AssertionError(f"unbalanced parentheses in {text!r}")


def opening(text: str, close: int) -> int:
    """The index of the parenthesis that the one at `close` closes."""
    depth = 0
    for index in range(close, -1, -1):
        depth += {")": 1, "(": -1}.get(text[index], 0)
        if depth == 0:
            return index
    raise AssertionError(f"unbalanced parentheses in {text!r}")


def grouping_uses(expr: str) -> list[tuple[str, frozenset[str], list[Use]]]:
    """Every `by`/`without` clause of the (sanitized) expression with the labels it names and
    the metrics of the operand it aggregates: `sum by (a) (operand)` or `sum (operand) by (a)`.
    `on`/`ignoring`/`group_left`/`group_right` apply to the whole expression's metrics."""
    found: list[tuple[str, frozenset[str], list[Use]]] = []
    for match in LABEL_CLAUSE.finditer(expr):
        keyword, listed = match.group(1), match.group(2) or ""
        labels = frozenset(label.strip() for label in listed.split(",") if label.strip())
        for label in labels:
            assert re.fullmatch(r"[a-zA-Z_]\w*", label), f"bad label {label!r} in {expr!r}"
        if keyword in ("by", "without"):
            assert match.group(2) is not None, f"`{keyword}` without labels in {expr!r}"
            before = expr[: match.start()].rstrip()
            after = expr[match.end() :].lstrip()
            if after.startswith("("):  # sum by (a) (operand)
                start = match.end() + (len(expr[match.end() :]) - len(after))
                operand = expr[start : closing(expr, start) + 1]
            else:  # sum (operand) by (a)
                assert before.endswith(")"), f"cannot find what `{keyword}` groups in {expr!r}"
                end = len(before) - 1
                operand = expr[opening(expr, end) : end + 1]
        else:
            operand = expr
        found.append((keyword, labels, metric_uses(operand)))
    return found


def series_labels(metric: str, table: dict[str, Documented]) -> frozenset[str] | None:
    """The labels a series of this name has, or None when no documented family exposes it."""
    for row in table.values():
        if row.kind == "histogram":
            for suffix in HISTOGRAM_SERIES:
                if metric == row.exposed + suffix:
                    extra = {"le"} if suffix == "_bucket" else set()
                    return row.labels | TARGET_LABELS | extra
        elif metric == row.exposed:
            return row.labels | TARGET_LABELS
    return None


def problems(expr: str, table: dict[str, Documented]) -> list[str]:
    """What is wrong with one PromQL expression: metrics no family exposes, labels they lack."""
    text = sanitize(expr)
    found: list[str] = []
    uses = metric_uses(text)
    if not uses:
        found.append(f"names no metric: {expr!r}")
    for use in uses:
        labels = series_labels(use.metric, table)
        if labels is None:
            found.append(f"{use.metric} is not a series of docs/monitoring.md's table: {expr!r}")
        elif not use.labels <= labels:
            found.append(f"{use.metric} has no label {sorted(use.labels - labels)}: {expr!r}")
    for keyword, grouped, operand in grouping_uses(text):
        for use in operand:
            labels = series_labels(use.metric, table)
            if labels is not None and not grouped <= labels:
                missing = sorted(grouped - labels)
                found.append(f"`{keyword}` names {missing}, not labels of {use.metric}: {expr!r}")
    return found


def variable_problems(query: str, table: dict[str, Documented]) -> list[str]:
    """A query variable: `label_values(selector, label)`, or a plain PromQL expression."""
    match = LABEL_VALUES.match(query)
    if match is None:
        assert not query.lstrip().startswith(("metrics(", "label_names(", "query_result(")), (
            f"variable query not checked here: {query!r}"
        )
        return problems(query, table)
    selector, label = match.group(1), match.group(2)
    if selector is None:
        owners = [row for row in table.values() if label in row.labels | TARGET_LABELS]
        return [] if owners else [f"no family has the label {label!r}: {query!r}"]
    found = problems(selector, table)
    for use in metric_uses(sanitize(selector)):
        labels = series_labels(use.metric, table)
        if labels is not None and label not in labels:
            found.append(f"{use.metric} has no label {label!r}: {query!r}")
    return found


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside it


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every query of the dashboard."""
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"panel {panel.get('title')!r} {target.get('refId')}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, dict):
            query = query.get("query")
        queries = {q for q in (query, variable.get("definition")) if isinstance(q, str) and q}
        assert queries, f"variable {variable.get('name')!r} has no query"
        for text in sorted(queries):
            yield f"variable {variable.get('name')!r}", text


def load(path: Path) -> dict[str, Any]:
    dashboard = json.loads(path.read_text())
    assert isinstance(dashboard, dict), f"{path.name}: not a JSON object"
    return dashboard


@pytest.fixture(scope="module")
def table() -> dict[str, Documented]:
    found = documented()
    assert len(found) >= 40, "the table in docs/monitoring.md was not read"
    return found


def test_there_are_dashboards() -> None:
    assert DASHBOARDS, "no JSON under docs/grafana/"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_query_names_documented_metrics_and_labels(
    path: Path, table: dict[str, Documented]
) -> None:
    dashboard = load(path)
    found: list[str] = []
    queries = 0
    for where, expr in expressions(dashboard):
        queries += 1
        is_variable = where.startswith("variable")
        check = variable_problems if is_variable else problems
        found.extend(f"{where}: {problem}" for problem in check(expr, table))
    assert queries > 0, f"{path.name} has no queries"
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_dashboard_shape(path: Path) -> None:
    dashboard = load(path)
    assert isinstance(dashboard.get("title"), str), "no title"
    assert dashboard["title"], "an empty title"
    assert isinstance(dashboard.get("uid"), str), "no uid"
    assert dashboard["uid"], "an empty uid"
    assert len(dashboard["uid"]) <= 40, "Grafana uids are at most 40 characters"
    assert isinstance(dashboard.get("schemaVersion"), int), "no schemaVersion"
    assert isinstance(dashboard.get("panels"), list), "no panels"
    assert dashboard["panels"], "no panels"
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    inputs = {i["name"] for i in dashboard.get("__inputs", [])}
    ids: list[int] = []
    for panel in all_panels(dashboard):
        title = panel.get("title")
        assert isinstance(panel.get("id"), int), f"panel {title!r} has no id"
        ids.append(panel["id"])
        grid = panel.get("gridPos", {})
        assert {"x", "y", "w", "h"} <= set(grid), f"panel {title!r}: gridPos {grid}"
        assert min(grid["w"], grid["h"]) > 0, f"panel {title!r}: {grid}"
        assert min(grid["x"], grid["y"]) >= 0, f"panel {title!r}: {grid}"
        assert grid["x"] + grid["w"] <= 24, f"panel {title!r} is wider than the grid: {grid}"
        if panel.get("type") in ("row", "text"):
            continue
        assert title, f"panel {panel['id']} has no title"
        datasource = panel.get("datasource")
        assert isinstance(datasource, dict), f"panel {title!r} has no datasource"
        assert datasource.get("type") == "prometheus", f"panel {title!r}: {datasource}"
        uid = datasource.get("uid", "")
        reference = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
        if reference:  # a variable or an import input: it must exist
            name = reference.group(1) or reference.group(2)
            assert name in variables | inputs, f"panel {title!r}: datasource {uid} is undefined"
        targets = panel.get("targets")
        assert isinstance(targets, list), f"panel {title!r} has no targets"
        assert targets, f"panel {title!r} has no target"
        ref_ids = [target.get("refId") for target in targets]
        assert len(set(ref_ids)) == len(ref_ids), f"panel {title!r}: refIds {ref_ids}"
        for target in targets:
            expr = target.get("expr")
            assert isinstance(expr, str), f"panel {title!r}: {target.get('refId')} has no expr"
            assert expr.strip(), f"panel {title!r}: {target.get('refId')} has an empty expr"
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert duplicates == [], f"panel ids used twice: {duplicates}"


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("rate(ridgeline_no_such_thing_total[5m])", "ridgeline_no_such_thing_total is not"),
        ("max(ridgeline_orders_total)", "ridgeline_orders_total is not"),
        ("rate(ridgeline_pos_requests[5m])", "ridgeline_pos_requests is not"),
        ("ridgeline_http_request_duration_seconds", "ridgeline_http_request_duration_seconds"),
        ("up", "up is not"),
        ('ridgeline_stores{vendor="square"}', "has no label ['vendor']"),
        ("sum by (vendor) (rate(ridgeline_http_requests_total[5m]))", "names ['vendor']"),
        ("sum(rate(ridgeline_sync_runs_total[5m])) without (store_id)", "names ['store_id']"),
        ("sum by (le) (rate(ridgeline_orders_submit_latency_seconds_sum[5m]))", "names ['le']"),
        ("frobnicate(ridgeline_stores)", "unknown function 'frobnicate'"),
    ],
)
def test_the_checker_catches_what_is_not_exposed(
    expr: str, complaint: str, table: dict[str, Documented]
) -> None:
    try:
        found = problems(expr, table)
    except AssertionError as error:
        found = [str(error)]
    assert any(complaint in problem for problem in found), found


@pytest.mark.parametrize(
    ("expr", "metrics"),
    [
        (
            "histogram_quantile(0.95, sum by (le, vendor) (rate("
            'ridgeline_pos_request_duration_seconds_bucket{vendor=~"$vendor"}[$__rate_interval])))',
            {"ridgeline_pos_request_duration_seconds_bucket"},
        ),
        (
            'sum(rate(ridgeline_http_requests_total{status=~"5.."}[5m])) / '
            "clamp_min(sum(rate(ridgeline_http_requests_total[5m])), 1e-9) > 0.05",
            {"ridgeline_http_requests_total"},
        ),
        (
            'count by (state) (max by (store_id, state) (ridgeline_pos_circuit_state{state!="x"})'
            " == 1) or vector(0)",
            {"ridgeline_pos_circuit_state"},
        ),
        ("max(ridgeline_jobs_due) + max(ridgeline_jobs{status='dead'}) offset 1h", None),
    ],
)
def test_the_checker_reads_valid_queries(
    expr: str, metrics: set[str] | None, table: dict[str, Documented]
) -> None:
    assert problems(expr, table) == []
    if metrics is not None:
        assert {use.metric for use in metric_uses(sanitize(expr))} == metrics


def test_the_checker_reads_variables(table: dict[str, Documented]) -> None:
    assert variable_problems("label_values(ridgeline_pos_requests_total, vendor)", table) == []
    assert variable_problems("label_values(ridgeline_process_cpu_percent, instance)", table) == []
    assert variable_problems("label_values(vendor)", table) == []
    assert variable_problems("label_values(ridgeline_stores, vendor)", table) != []
    assert variable_problems("label_values(ridgeline_gone_total, vendor)", table) != []
