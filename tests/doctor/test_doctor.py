"""``connector doctor`` against the three simulators: a deployment set up as the docs say
passes every check; each thing an admin can get wrong gives one precise ✗ and exit 1."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.demo import AgentDesk, connector_environment, installed_manifest_text
from connector.manifest import load_manifest
from connector.pipeline.queue import JobQueue
from connector.pipeline.retry import PermanentError
from connector.store import Store
from connector.store.escalations import EscalationRecord, Escalations
from plugins.jira.simulator import JiraSimulator
from plugins.salesforce.metadata import simulator_schema
from plugins.salesforce.simulator import SalesforceSimulator
from plugins.zendesk.simulator import ZendeskSimulator

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "manifest" / "connector.yaml"
ZENDESK_SECRET = "doctor-zendesk-signing-secret"
JIRA_SECRET = "doctor-jira-webhook-secret"


def org_schema(*, drop: tuple[str, str] | None = None) -> dict:
    """The org the shipped metadata deploys, optionally without one (object, field)."""
    schema = simulator_schema(ROOT / "manifest" / "salesforce")
    if drop:
        del schema[drop[0]]["fields"][drop[1]]
    return schema


@pytest.fixture(scope="module")
def zendesk():
    with ZendeskSimulator() as sim:
        yield sim


@pytest.fixture(scope="module")
def jira():
    with JiraSimulator(projects=("PAY",)) as sim:
        yield sim


class Deployment:
    """A connector's configuration pointing at the simulators, as an admin sets it up:
    the manifest's fields and statuses created in Zendesk and their ids in the manifest."""

    def __init__(self, tmp_path: Path, zendesk: ZendeskSimulator, salesforce: SalesforceSimulator,
                 jira: JiraSimulator):
        self.zendesk, self.salesforce, self.jira = zendesk, salesforce, jira
        shipped = load_manifest(SHIPPED)
        self.desk = AgentDesk(zendesk, shipped)
        self.manifest_text = installed_manifest_text(SHIPPED.read_text(), shipped, self.desk.manifest)
        self.manifest_path = tmp_path / "connector.yaml"
        self.manifest_path.write_text(self.manifest_text)
        self.database_url = f"sqlite:///{tmp_path / 'store.db'}"
        self.store = Store(self.database_url)
        self.store.migrate()
        self.env = connector_environment(
            zendesk=zendesk, zendesk_secret=ZENDESK_SECRET, database_url=self.database_url,
            salesforce=salesforce, jira=jira, jira_secret=JIRA_SECRET, manifest_path=str(self.manifest_path))

    def edit_manifest(self, old: str, new: str) -> None:
        assert old in self.manifest_text, old
        self.manifest_path.write_text(self.manifest_text.replace(old, new, 1))

    def doctor(self, **env: str):
        result = CliRunner().invoke(main, ["doctor"], env={**self.env, **env})
        return result.exit_code, result.output

    def close(self) -> None:
        self.store.dispose()


@pytest.fixture
def make_deployment(tmp_path, zendesk, jira):
    made = []

    def make(schema: dict | None = None) -> Deployment:
        zendesk.reset()
        jira.reset()
        salesforce = SalesforceSimulator(schema or org_schema()).start()
        deployment = Deployment(tmp_path, zendesk, salesforce, jira)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.close()
        deployment.salesforce.stop()


@pytest.fixture
def deployment(make_deployment):
    return make_deployment()


def marked(output: str, mark: str) -> list[str]:
    return [line.strip()[2:] for line in output.splitlines() if line.strip().startswith(mark + " ")]


def section(output: str, title: str) -> str:
    """The lines of one section of the report (from its title to the next blank line)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def test_a_deployment_set_up_as_documented_passes_every_check(deployment):
    code, output = deployment.doctor()
    for title in ("Configuration", "Store", "Zendesk", "Salesforce", "Jira", "Work"):
        assert not marked(section(output, title), "✗"), section(output, title)
    assert code == 0 and output.rstrip().endswith("all checks passed")
    assert "✓ credentials work; project PAY and issue type Bug exist" in section(output, "Jira")
    assert "✓ all 35 ticket fields in the manifest exist, are active and have fitting types" in output
    assert "✓ every level's custom status exists: L2 “Escalated – L2”, CIO “Escalated – CIO”, CEO “Escalated – CEO”" \
        in output
    assert "✓ credentials work: signed in as “Escalation connector” (admin)" in output
    assert "✓ every object and field the connector writes exists with a usable type" in output
    assert "✓ every escalation found its Account (none unmatched)" in output
    assert "✓ no dead letters" in output


def test_nothing_secret_is_printed(deployment):
    _, output = deployment.doctor()
    for secret in (ZENDESK_SECRET, JIRA_SECRET, deployment.zendesk.oauth_token, deployment.salesforce.access_token,
                   deployment.jira.api_token):
        assert secret not in output


def test_a_wrong_field_id_is_named_with_its_manifest_key(deployment):
    amount = deployment.desk.field("amount")
    deployment.edit_manifest(f"amount: {{id: {amount}, format: decimal}}", "amount: {id: 360999999, format: decimal}")
    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Zendesk"), "✗") == [
        "zendesk.fields.amount = 360999999: no such ticket field in Zendesk "
        "(Admin Center → Objects and rules → Tickets → Fields shows each field's ID)"]


def test_a_field_whose_type_does_not_fit_its_format_is_named(deployment):
    currency = deployment.desk.field("currency")
    deployment.zendesk.ticket_fields[currency]["type"] = "text"
    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Zendesk"), "✗") == [
        f"zendesk.fields.currency = {currency}: “Currency” is a text field in Zendesk; format dropdown needs tagger"]


def test_a_written_dropdown_without_an_option_the_connector_writes_is_named(deployment):
    tier = deployment.desk.field("tier")
    deployment.zendesk.add_ticket_field("Tier", "tagger", field_id=tier + 5000, options=["t1", "t2", "t3"])
    deployment.edit_manifest(f"tier: {tier} ", f"tier: {{id: {tier + 5000}, format: dropdown}} ")
    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Zendesk"), "✗") == [
        f"zendesk.fields.tier = {tier + 5000}: the dropdown “Tier” has no option for T4, which the connector writes"]


def test_a_missing_level_status_is_named(deployment):
    cio = deployment.desk.level("CIO")
    deployment.edit_manifest(f"custom_status_id: {cio}", "custom_status_id: 424242")
    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Zendesk"), "✗") == [
        "zendesk.levels.1.custom_status_id = 424242 (CIO): no such custom ticket status in Zendesk "
        "(Admin Center → Objects and rules → Tickets → Ticket statuses shows each status's ID)"]


def test_a_missing_salesforce_field_is_named_with_its_manifest_key(make_deployment):
    deployment = make_deployment(org_schema(drop=("Escalation__c", "Tier__c")))
    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Salesforce"), "✗") == [
        "Escalation__c.Tier__c does not exist (manifest key: salesforce.fields.tier); deploy manifest/salesforce "
        "(sf project deploy start --source-dir force-app) or fix the API name"]


def test_a_jira_project_that_does_not_exist_is_named_with_its_manifest_key(deployment):
    deployment.edit_manifest("project: PAY", "project: PAYX")
    code, output = deployment.doctor()
    assert code == 1
    [failure] = marked(section(output, "Jira"), "✗")
    assert "PAYX" in failure and "jira.project" in failure
    assert not marked(section(output, "Zendesk"), "✗") and not marked(section(output, "Salesforce"), "✗")


@pytest.mark.parametrize("variable, value, system, says", [
    ("ZENDESK_OAUTH_TOKEN", "not-the-token", "Zendesk", "401"),
    ("SALESFORCE_ACCESS_TOKEN", "00Dexpired!token", "Salesforce", "SALESFORCE_ACCESS_TOKEN"),
])
def test_refused_credentials_are_a_failure_and_stay_secret(deployment, variable, value, system, says):
    code, output = deployment.doctor(**{variable: value})
    assert code == 1
    [failure] = marked(section(output, system), "✗")
    assert failure.startswith("credentials refused:") and says in failure
    assert value not in output


def test_unmatched_escalations_and_dead_letters_are_listed(deployment):
    escalations = Escalations(deployment.store)
    escalations.save(EscalationRecord(ticket_id=4242, state="open", tier="T3", level="L2", account_ref="001NOPE"))
    escalations.set_salesforce(4242, "unmatched", error="no Account with Id = '001NOPE'")
    queue = JobQueue(deployment.store)
    job_id = queue.enqueue("zendesk:ticket:4242", "salesforce.mirror", {"ticket_id": 4242}, "corr-1")
    job = queue.claim("worker-1")
    assert job is not None and job.id == job_id
    queue.fail(job, "worker-1", PermanentError("Escalation__c.Tier__c: INVALID_FIELD"))

    code, output = deployment.doctor()
    assert code == 1
    assert marked(section(output, "Salesforce"), "✗") == [
        "ticket 4242: not mirrored to Salesforce — no Account with Id = '001NOPE' (account_ref '001NOPE'); "
        "fix it, then run `connector salesforce resync`"]
    work = section(output, "Work")
    assert f"✗ dead letter: job {job_id} salesforce.mirror on zendesk:ticket:4242 after 1 attempt(s)" in work
    assert "last error: PermanentError: Escalation__c.Tier__c: INVALID_FIELD" in work
    assert f"once the cause is fixed: connector jobs retry {job_id}" in work


def test_configuration_problems_are_failures_and_a_missing_store_is_not_created(deployment, tmp_path):
    missing = tmp_path / "elsewhere" / "store.db"
    code, output = deployment.doctor(ZENDESK_WEBHOOK_SECRETS="", DATABASE_URL=f"sqlite:///{missing}")
    assert code == 1
    assert "✗ environment: ZENDESK_WEBHOOK_SECRETS is not set" in output
    assert f"✗ store sqlite:///{missing}: the file does not exist; run `connector db upgrade`" in output
    assert not missing.exists()


def test_an_invalid_manifest_is_a_failure_with_its_problems(deployment):
    deployment.edit_manifest("default_tier: T1", "default_tier: T9")
    code, output = deployment.doctor()
    assert code == 1
    assert f"✗ manifest {deployment.manifest_path} is invalid" in output
    assert "default_tier" in section(output, "Configuration")
    assert "✗ ticket fields and statuses not checked: the manifest did not load" in output
