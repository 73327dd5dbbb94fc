"""``connector manifest validate|explain``, through click's runner."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from connector.manifest.cli import manifest_group
from tests.manifest.conftest import SHIPPED


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str, env: dict | None = None):
        return runner.invoke(manifest_group, list(args), env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def broken(tmp_path):
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("within: 30m", 'within: "30 mins"').replace("default_tier: T1", "default_tier: T0")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_group_is_named_manifest():
    assert manifest_group.name == "manifest"
    assert set(manifest_group.commands) == {"validate", "explain"}


def test_validate_valid_manifest_exits_0_and_lists_placeholders(run):
    result = run("validate", str(SHIPPED))
    assert result.exit_code == 0
    assert f"{SHIPPED}: valid — 3 levels, 4 tiers, 12 rules" in result.output
    assert "38 Zendesk IDs are still placeholders" in result.output
    assert "  zendesk.fields.escalation_type: 990001" in result.output
    assert "  zendesk.levels.2.custom_status_id: 990103" in result.output


def test_validate_invalid_manifest_exits_1_with_every_problem(run, broken):
    result = run("validate", broken)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{broken}: 2 problems"
    assert lines[1].startswith('  tiers.T3.targets.bridge.within: "30 mins" is not a duration — use forms like '
                               "30m, 4h or 2d  (line ")
    assert lines[2].startswith('  default_tier: "T0" is not a tier — use one of T1, T2, T3, T4  (line ')


def test_validate_unreadable_file_exits_2(run, tmp_path):
    result = run("validate", str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_validate_yaml_syntax_error_exits_2(run, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("tiers:\n  T1: [unclosed\n", encoding="utf-8")
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "is not valid YAML" in result.output


def test_path_defaults_to_connector_manifest(run, broken):
    result = run("validate", env={"CONNECTOR_MANIFEST": broken})
    assert result.exit_code == 1
    assert result.output.startswith(f"{broken}: 2 problems")


def test_explain_summarises_levels_requirements_tiers_and_rules(run):
    result = run("explain", str(SHIPPED))
    assert result.exit_code == 0
    out = result.output
    assert "L2 → CIO → CEO" in out
    assert "financial escalations also: amount, currency, transaction_ids, transaction_status" in out
    assert "Urgent escalations also: urgency_reason" in out
    assert "currency         one of CAD, EUR, GBP, USD, USDT (any case)" in out
    table = [line.split() for line in out.splitlines()]
    assert ["T3", "bridge", "30m", "24x7", "at", "escalation", "bridge_opened", "filled", "in",
            "bridge_due_at"] in table
    assert ["rca", "5d", "business", "at", "resolution", "rca_delivered", "filled", "in", "rca_due_at",
            "(date)"] in table
    assert ["customer", "update", "every", "48h", "24x7", "at", "escalation", "each", "public", "agent",
            "reply", "restarts", "it", "next_update_due_at"] in table
    assert "   9. Large financial exposure → T3\n      when escalation_type is \"financial\" and amount is at " \
           "least 10000\n" in out
    assert "when the requester opened at least 3 tickets in the 7 days before the escalation" in out
    assert "when the ticket is tagged security_incident or the ticket is tagged pci_scope" in out
    assert "38 Zendesk IDs are still placeholders" in out


def test_explain_refuses_an_invalid_manifest(run, broken):
    result = run("explain", broken)
    assert result.exit_code == 1
    assert "tiers.T3.targets.bridge.within" in result.output
    assert "TIERS" not in result.output
