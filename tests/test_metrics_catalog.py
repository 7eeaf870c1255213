"""The metrics catalog (docs/metrics/*.yaml) covers every metric the rules read."""

from __future__ import annotations

import pytest

from rules_util import (
    CATALOG_KEYS,
    iter_rules,
    load_catalog,
    load_catalog_entries,
    promql_metric_names,
    recorded_names,
    unknown_metric_names,
)


def _known() -> set[str]:
    return set(load_catalog()) | recorded_names()


def test_catalog_is_not_empty():
    assert load_catalog_entries(), "docs/metrics/*.yaml holds no entries"


def test_every_catalog_entry_has_all_keys():
    problems = []
    for path, entry in load_catalog_entries():
        missing = [k for k in CATALOG_KEYS if not entry.get(k) and entry.get(k) != []]
        if missing:
            problems.append(f"{path.name}: {entry.get('name', '?')}: missing {missing}")
        if not isinstance(entry.get("labels"), list):
            problems.append(f"{path.name}: {entry.get('name', '?')}: labels must be a list")
        if "series" in entry and not isinstance(entry["series"], list):
            problems.append(f"{path.name}: {entry['name']}: series must be a list")
    assert not problems, "\n".join(problems)


def test_appears_when_names_a_condition():
    # Optional: the condition without which the real program does not expose the series;
    # the real-program scrapes (tests/test_real_*.py) accept its absence only then.
    problems = [
        f"{path.name}: {entry['name']}: appears_when must be a non-empty sentence"
        for path, entry in load_catalog_entries()
        if "appears_when" in entry and not (isinstance(entry["appears_when"], str) and entry["appears_when"].strip())
    ]
    assert not problems, "\n".join(problems)


def test_histograms_and_summaries_list_their_series():
    problems = [
        f"{path.name}: {entry['name']} ({entry['type']}) has no series list"
        for path, entry in load_catalog_entries()
        if str(entry.get("type", "")).lower() in ("histogram", "summary") and not entry.get("series")
    ]
    assert not problems, "\n".join(problems)


def test_catalog_names_are_unique():
    seen: dict[str, str] = {}
    dupes = []
    for path, entry in load_catalog_entries():
        names = [entry["name"]] + [entry["name"] + s for s in entry.get("series") or []]
        for name in names:
            if name in seen:
                dupes.append(f"{name}: {seen[name]} and {path.name}")
            seen[name] = path.name
    assert not dupes, "\n".join(dupes)


def test_every_metric_read_by_a_rule_is_catalogued_or_recorded():
    known = _known()
    problems = []
    for path, group, rule in iter_rules():
        for name in sorted(unknown_metric_names(rule["expr"], known)):
            label = rule.get("record") or rule.get("alert")
            problems.append(f"{path.name} [{group}] {label}: {name}")
    assert not problems, "metric names with no catalogued source:\n" + "\n".join(problems)


def test_checker_rejects_an_unknown_metric_name():
    # The guide's names are exactly what the checker exists to stop.
    expr = (
        "sum(increase(spark_job_succeeded_total[24h])) / "
        "sum(increase(spark_application_success_count[24h]))"
    )
    assert unknown_metric_names(expr, _known()) == {"spark_job_succeeded_total"}


def test_checker_rejects_unknown_names_in_absent_and_name_matchers():
    known = _known()
    assert unknown_metric_names('absent(airflow_dag_succeeded{dag_id="x"})', known) == {
        "airflow_dag_succeeded"
    }
    assert unknown_metric_names('{__name__="trino_cluster_active_workers"}', known) == {
        "trino_cluster_active_workers"
    }


def test_checker_accepts_recorded_names():
    assert unknown_metric_names("avg(dataops:platform:availability:by_layer)", _known()) == set()


def test_series_suffixes_are_expanded():
    catalog = load_catalog()
    for name in (
        "airflow_dagrun_duration_bucket",
        "airflow_dagrun_duration_count",
        "jvm_gc_collection_seconds_sum",
        "spark_application_success_execution_time_seconds_count",
    ):
        assert name in catalog, name


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("up", {"up"}),
        ('up{job=~"spark.*", namespace!="x"}', {"up"}),
        ("rate(foo_total[5m])", {"foo_total"}),
        ("rate(foo_total[5m] offset 1h)", {"foo_total"}),
        ("max_over_time(foo[1h:5m])", {"foo"}),
        ("sum by (namespace, pod) (bar) / on (namespace) group_left (node) baz", {"bar", "baz"}),
        ("sum without (instance) (bar)", {"bar"}),
        ("a_metric > bool 0.5", {"a_metric"}),
        ("a and b or c unless d", {"a", "b", "c", "d"}),
        ("absent(heartbeat_total)", {"heartbeat_total"}),
        ("absent_over_time(heartbeat_total[10m])", {"heartbeat_total"}),
        ('label_replace(up, "layer", "spark", "job", "spark.*")', {"up"}),
        ('label_replace(vector(0), "layer", "up", "", "")', set()),
        ('{__name__="node_load1", instance="a"}', {"node_load1"}),
        ('{__name__=~"foo_total|bar_total"}', {"foo_total", "bar_total"}),
        ('{__name__=~"foo.*"}', set()),
        ("histogram_quantile(0.95, sum by (le) (rate(x_bucket[1h])))", {"x_bucket"}),
        ("predict_linear(m[6h], 7 * 24 * 3600)", {"m"}),
        ("1e3 * m + 0x1F - .5 - inf + NaN", {"m"}),
        ("dataops:spark:gc_seconds_per_second", {"dataops:spark:gc_seconds_per_second"}),
        ("topk(3, foo) # trailing comment naming bar", {"foo"}),
        ('count_values("v", foo)', {"foo"}),
        ("sum(foo) by (le)", {"foo"}),
        ("quantile(0.9, foo)", {"foo"}),
        ("time() - foo_timestamp_seconds", {"foo_timestamp_seconds"}),
        ("vector(1)", set()),
    ],
)
def test_promql_metric_names(expr, expected):
    assert promql_metric_names(expr) == expected
