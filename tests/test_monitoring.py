"""What operators plug into their monitoring (docs/monitoring/): the alerting rules,
checked and unit-tested with promtool, and the Grafana dashboard, both on the
metrics the IdP really exposes at ``/metrics``."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import STRONG_PASSWORD
from tests.conftest import login
from tests.security.oauth import refresh
from tests.security.oauth import register_module
from tests.security.oauth import tokens_for

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "docs" / "monitoring"
RULES = MONITORING / "idp-alerts.yml"
RULE_TESTS = MONITORING / "idp-alerts.test.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
DEPLOYMENT = ROOT / "docs" / "deployment.md"

# Metrics the rules and the dashboard use before the IdP exposes them (none today): the
# one place to list a metric being added to idp/metrics.py, until it is exposed.
EXPECTED_SOON: set[str] = set()
# Written by Prometheus itself for each scrape, not by the IdP.
PROMETHEUS_OWN = {"up"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}


def promtool(*args: str) -> subprocess.CompletedProcess:
    # promtool comes with Debian's prometheus package (.ci/ensure-promtool, make install-test).
    return subprocess.run(["promtool", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum"),
            "gauge": ("",)}


def scrape(client) -> dict[str, list]:
    """Sample name -> its samples, as Prometheus reads /metrics; a metric declared
    without samples yet (a label never used in this process) with none."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.text):
        for suffix in SUFFIXES.get(family.type, ("",)):
            samples.setdefault(family.name + suffix, [])
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return sum(s.value for s in samples.get(name, ())
               if all(s.labels.get(k) == v for k, v in labels.items()))


def alerting_rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"]
            for target in panel.get("targets", ())]


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, its exact label matchers) of each selector in a PromQL expression."""
    expr = re.sub(r"\$\{?\w+\}?", "", expr)  # Grafana's variables
    found = []
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*(\{[^}]*\})?", expr):
        name, matchers = match.group(1), match.group(2) or ""
        before, after = expr[:match.start()], expr[match.end():]
        if re.match(r"\s*((by|without)\s*\([^)]*\)\s*)?\(", after) \
                or name.lower() in PROMQL_WORDS:
            continue  # a function or an aggregation, an operator
        if re.search(r"(by|without|on|ignoring|group_left|group_right)\s*\([^)]*$", before):
            continue  # a label name in a grouping clause
        if re.search(r"\[[^\]]*$", before) or re.search(r"\{[^}]*$", before):
            continue  # a duration, or a label name inside a selector
        exact = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', matchers))
        found.append((name, exact))
    return found


@pytest.fixture
def exposed(client, make_user, app) -> dict[str, list]:
    """/metrics after a password login, a lockout, a code redeemed, userinfo and a refresh."""
    make_user("monitored")
    make_user("locked-out")
    module = register_module("monitored-module")
    assert login(client, "monitored", STRONG_PASSWORD).status_code == 303
    tokens = tokens_for(client, module)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200
    assert refresh(client, module, tokens["refresh_token"]).status_code == 200
    other = app.test_client()
    for _ in range(app.config["IDP_LOCKOUT_THRESHOLD"]):
        login(other, "locked-out", "Mauvais-Mot-De-Passe-00")
    return scrape(client)


def test_answers_are_counted_by_endpoint_and_status(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/no-such-page")
    after = scrape(client)
    for labels in ({"endpoint": "health.healthz", "status": "200"},
                   {"endpoint": "unmatched", "status": "404"}):
        assert value(after, "idp_responses_total", **labels) == \
            value(before, "idp_responses_total", **labels) + 1, labels


def test_promtool_accepts_the_alerting_rules():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_alerts_fire_on_faults_and_stay_silent_on_ordinary_traffic():
    """Lock storms, 5xx, dependencies, token refusals, latency and sealing lag, each
    firing and not (docs/monitoring/idp-alerts.test.yml)."""
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checks = [check for case in cases for check in case["alert_rule_test"]]
    for alert in ("IdpAccountLockStorm", "IdpServerErrors"):
        outcomes = {bool(c["exp_alerts"]) for c in checks if c["alertname"] == alert}
        assert outcomes == {True, False}, alert  # shown firing and shown silent


def test_every_rule_has_a_duration_a_severity_a_summary_and_a_runbook():
    headings = {slug(line.lstrip("#").strip())
                for line in DEPLOYMENT.read_text().splitlines() if line.startswith("#")}
    for rule in alerting_rules():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook"].partition("#")
        assert page == "docs/deployment.md", rule["alert"]
        assert anchor in headings, (rule["alert"], anchor)


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    heading = re.sub(r"[^\w\- ]", "", heading.lower())
    return heading.replace(" ", "-")


def test_the_dashboard_reads_prometheus_through_a_template_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel["targets"], panel["title"]


def test_the_rules_and_the_dashboard_use_only_metrics_the_idp_exposes(exposed):
    expressions = [rule["expr"] for rule in alerting_rules()] + dashboard_expressions()
    used = [found for expr in expressions for found in selectors(expr)]
    names = {name for name, _labels in used}
    assert {"idp_account_locks_total", "idp_responses_total",
            "idp_dependency_up"} <= names  # the parsing finds them
    unknown = names - exposed.keys() - PROMETHEUS_OWN - EXPECTED_SOON
    assert not unknown, unknown
    for name, labels in used:
        # An exact label value the IdP never gives is a typo (an HTTP status excepted:
        # a 500 is not shown on purpose).
        labels = {k: v for k, v in labels.items() if k != "status"}
        if exposed.get(name):
            assert any(all(s.labels.get(k) == v for k, v in labels.items())
                       for s in exposed[name]), (name, labels)
