"""The designer page in a real headless Chromium (Debian's, driven by Playwright; never a downloaded browser):
build a two-step flow by dragging, fill the wizard with live dropdowns, preview, test against the sandbox,
save the YAML, and run the saved file with `watch --once`.

The test also writes docs/designer.png, the screenshot the README shows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from playwright import sync_api as playwright  # a test dependency; the browser is Debian's, found below

from pipedrive_connect.designer.connect import OAuthApp
from pipedrive_connect.designer.service import Designer, DesignerServer, Settings
from pipedrive_connect.flows import Flow
from pipedrive_connect.runtime import Runtime
from pipedrive_connect.sandbox import Sandbox

from ..conftest import SANDBOX_TOKEN
from ..support.system import require_program
from .conftest import SAMPLE_DATA, watch_command
from .test_triggers import Listen, free_port, wait_for
from .test_triggers import api as sandbox_api

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "designer.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000  # the longest any one wait in the page may take


@pytest.fixture
def partners(live):
    """A second pipeline, so choosing a pipeline visibly changes the stage dropdown."""
    pipeline = live.run("addPipeline", inputs={"name": "Partners"}).result
    stages = [
        live.run("addStage", inputs={"name": n, "pipelineId": pipeline["id"]}).result
        for n in ("Lead in", "Negotiation")
    ]
    return pipeline, stages


@pytest.fixture
def designer(live, partners):
    with DesignerServer(Designer(live)) as server:
        yield server


@pytest.fixture
def page(tmp_path):
    chromium = require_program("chromium", "chromium")
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            accept_downloads=True,
            viewport={"width": 1440, "height": 900},
            timeout=WAIT_MS * 2,
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()


def drag_action(page, key: str) -> None:
    page.fill("#palette-search", key)
    page.locator(f'#palette li.action[data-action="{key}"]').drag_to(page.locator("#steps"))


def options_of(select) -> list[str]:
    return [text.strip() for text in select.locator("option").all_inner_texts()][1:]  # without "— choose —"


def test_build_test_save_and_watch_a_flow(page, designer, sandbox, partners, tmp_path):
    expect = playwright.expect
    expect.set_options(timeout=WAIT_MS)
    pipeline, (_, negotiation) = partners
    page.goto(designer.url + "/")
    expect(page.locator("#status")).to_contain_text("actions")
    page.click("#test-job-box summary")
    page.fill("#test-job", json.dumps({"data": {"company": "Fjord Bikes AS", "order": "7001"}}))

    # -- the flow is built by dragging; a third step is moved and removed again
    drag_action(page, "addOrganization")
    drag_action(page, "addDeal")
    drag_action(page, "getDeals")
    expect(page.locator("li.step")).to_have_count(3)
    page.get_by_role("button", name="Move deals up").click()
    expect(page.locator("li.step .step-id")).to_have_text(["organization", "deals", "deal"])
    page.get_by_role("button", name="Remove deals").click()
    expect(page.locator("li.step .step-id")).to_have_text(["organization", "deal"])

    # -- step 1: the organization, named from the job, tested against the sandbox
    page.locator('li.step[data-step-id="organization"]').click()
    expect(page.locator('.field[data-name="name"] .required')).to_be_visible()
    page.fill("#input-name", "{{ job.data.company }}")
    page.click("#test-step")
    expect(page.locator("#step-result")).to_have_attribute("data-route", "success")
    assert '"name": "Fjord Bikes AS"' in page.inner_text("#step-result")

    # -- step 2: the deal; the organization comes from step 1, pipeline and stage from dropdowns
    page.locator('li.step[data-step-id="deal"]').click()
    expect(page.locator("#wizard-head h3")).to_have_text("Add Deal")
    page.fill("#input-title", "Order {{ job.data.order }}")
    page.fill("#input-value", "abc")
    expect(page.locator("#error-value")).to_contain_text("must be a number")  # inline, from the schema
    page.fill("#input-value", "1250.5")
    expect(page.locator("#error-value")).to_have_text("")
    insert = page.locator('.field[data-name="orgId"] select.insert')
    insert.select_option("{{ steps.organization.result.id }}")
    expect(page.locator("#input-orgId")).to_have_value("{{ steps.organization.result.id }}")

    stages = page.locator('.field[data-name="stageId"] select.picklist-select')
    expect(stages.locator("option", has_text="New business › Lead in")).to_have_count(1)  # every pipeline's stages
    page.locator('.field[data-name="pipelineId"] select.picklist-select').select_option(label="Partners")
    expect(stages.locator("option", has_text="New business")).to_have_count(0)  # reloaded for the chosen pipeline
    assert options_of(stages) == ["Partners › Lead in", "Partners › Negotiation"]
    stages.select_option(label="Partners › Negotiation")
    expect(page.locator("#input-stageId")).to_have_value(str(negotiation["id"]))

    page.click("#preview-step")
    expect(page.locator("#step-result h3")).to_have_text("Preview (not sent)")
    preview = json.loads(page.inner_text("#step-result pre"))
    assert preview["request"]["method"] == "POST" and preview["request"]["url"].endswith("/api/v2/deals")
    assert preview["request"]["json"]["stage_id"] == negotiation["id"]
    assert preview["request"]["json"]["title"] == "Order 7001"
    assert preview["request"]["headers"] == {"x-api-token": "***"} and SANDBOX_TOKEN not in page.content()
    assert preview["token_cost"] == 5

    page.click("#test-step")
    expect(page.locator("#step-result")).to_have_attribute("data-route", "success")
    tested = json.loads(page.inner_text("#step-result pre"))["result"]
    assert tested["stage_id"] == negotiation["id"] and tested["pipeline_id"] == pipeline["id"]
    page.fill("#palette-search", "")
    page.locator('.field[data-name="stageId"]').scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOT))

    # -- saved as YAML, then run by watch as a separate process
    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#save-flow")
    flow_file = tmp_path / "order-flow.yaml"
    download.value.save_as(flow_file)
    flow = yaml.safe_load(flow_file.read_text(encoding="utf-8"))
    assert [(s["id"], s["action"]) for s in flow["steps"]] == [("organization", "addOrganization"), ("deal", "addDeal")]

    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    (inbox / "order-7002.json").write_text(json.dumps({"data": {"company": "Nordlys Cykler", "order": "7002"}}))
    command, env = watch_command(sandbox.base_url, flow_file, tmp_path, inbox, out, "--once", "--settle", "0")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    routed = json.loads((out / "success" / "order-7002.json").read_text(encoding="utf-8"))
    deal = routed["steps"]["deal"]["result"]
    assert deal["title"] == "Order 7002" and deal["stage_id"] == negotiation["id"]
    assert deal["org_id"] == routed["steps"]["organization"]["result"]["id"]


def test_the_page_asks_for_the_token_when_the_service_wants_one(page, live):
    with DesignerServer(Designer(live, Settings(auth_token="designer-secret-1"))) as server:
        page.goto(server.url + "/")
        playwright.expect(page.locator("#auth")).to_be_visible(timeout=WAIT_MS)
        page.fill("#auth-token", "designer-secret-1")
        page.press("#auth-token", "Enter")
        page.locator("#auth-token").dispatch_event("change")
        playwright.expect(page.locator("#status")).to_contain_text("actions", timeout=WAIT_MS)


def test_nothing_is_fetched_from_elsewhere(page, designer):
    """The page works offline: every request it makes goes to the designer itself."""
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    page.goto(designer.url + "/")
    playwright.expect(page.locator("#status")).to_contain_text("actions", timeout=WAIT_MS)
    assert seen and all(url.startswith(designer.url + "/") for url in seen), seen


def test_a_loaded_flow_saves_back_unchanged(page, designer, tmp_path):
    flow = {
        "name": "Won deals",
        "description": "Reads a deal with its custom fields by name",
        "customFieldNames": True,
        # more than the trigger slot shows (two events, two filter keys): kept as loaded
        "trigger": {
            "event": ["change.deal", "create.deal"],
            "filter": {"status_changed_to": "won", "where": {"pipeline_id": 1}},
        },
        "steps": [
            {"id": "deal", "action": "getDeal", "inputs": {"id": "{{ job.data.dealId }}"}},
            {"id": "note", "action": "addNote", "inputs": {"content": "Won", "dealId": "{{ steps.deal.result.id }}"}},
        ],
    }
    source = tmp_path / "won.yaml"
    source.write_text(yaml.safe_dump(flow, sort_keys=False), encoding="utf-8")
    page.goto(designer.url + "/")
    playwright.expect(page.locator("#status")).to_contain_text("actions", timeout=WAIT_MS)
    page.set_input_files("#load-flow", str(source))
    playwright.expect(page.locator("li.step .step-id")).to_have_text(["deal", "note"], timeout=WAIT_MS)
    assert page.is_checked("#flow-custom-names") and page.input_value("#flow-name") == "Won deals"
    playwright.expect(page.locator("#trigger-kept")).to_contain_text("Kept as loaded", timeout=WAIT_MS)
    playwright.expect(page.locator("#input-id")).to_have_value("{{ job.data.dealId }}", timeout=WAIT_MS)
    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#save-flow")
    saved = tmp_path / "saved.yaml"
    download.value.save_as(saved)
    assert yaml.safe_load(saved.read_text(encoding="utf-8")) == flow


def test_connect_to_pipedrive_shows_the_account(page, bundle, tmp_path):
    """The button goes through the sandbox's consent (approved at once) and back; the header then names
    the account the OAuth tokens belong to."""
    client = ("designer-browser-app", "client-SECRET-a41f0c")
    folder = tmp_path / "secrets"  # the session-wide leak check leaves connection files alone
    folder.mkdir()
    with Sandbox(token=SANDBOX_TOKEN, data=SAMPLE_DATA, oauth_client=client) as sandbox:
        app = OAuthApp(*client, folder / "pipedrive.yaml", oauth_base=sandbox.base_url)
        with DesignerServer(Designer(Runtime(bundle, None), Settings(oauth=app))) as server:
            page.goto(server.url + "/")
            expect = playwright.expect
            expect(page.locator("#account")).to_have_text("Not connected to Pipedrive", timeout=WAIT_MS)
            page.get_by_role("button", name="Connect to Pipedrive").click()
            page.wait_for_url(server.url + "/", timeout=WAIT_MS)
            expect(page.locator("#account .who")).to_have_text("Dana Demo · Sandbox Company", timeout=WAIT_MS)
            expect(page.locator("#account small")).to_contain_text(f"{sandbox.base_url} (OAuth, token until")
            assert sandbox.stats()["oauth"]["authorization_code"] == 1


def test_a_trigger_as_the_first_step_saves_loads_and_runs_under_listen(page, designer, sandbox, partners, tmp_path):
    """ "When a deal moves to Negotiation": the trigger slot fills its stage dropdown from the picklist,
    insert offers the event's fields, the saved YAML carries the trigger, `Flow.load` takes it, loading
    it shows it again, and `listen` runs it when a deal really moves there."""
    expect = playwright.expect
    expect.set_options(timeout=WAIT_MS)
    _, (_, negotiation) = partners
    page.goto(designer.url + "/")
    expect(page.locator("#status")).to_contain_text("actions")
    expect(page.locator("#trigger-object option").first).to_have_text("Manual / hot folder (no trigger)")
    expect(page.locator("#trigger-action-box")).to_be_hidden()

    page.select_option("#trigger-object", "deal")
    expect(page.locator("#trigger-action")).to_have_value("change")
    filters = page.locator("#trigger-filter option")
    expect(filters).to_contain_text(["Stage changed to", "Status changed to"])
    page.select_option("#trigger-filter", "stage_changed_to")
    stage = page.locator("#trigger-stage")
    expect(stage.locator("option", has_text="Partners › Negotiation")).to_have_count(1)
    assert "New business › Lead in" in options_of(stage)  # every pipeline's stages
    stage.select_option(label="Partners › Negotiation")

    drag_action(page, "addNote")
    expect(page.locator("li.step .step-id")).to_have_text(["note"])
    page.fill("#input-content", "Reached Negotiation")
    insert = page.locator('.field[data-name="dealId"] select.insert')
    expect(insert.locator("option", has_text="job.data.previous.stage_id")).to_have_count(1)
    expect(insert.locator("option", has_text="job.data.meta.user_id")).to_have_count(1)
    insert.select_option("{{ job.data.data.id }}")
    expect(page.locator("#input-dealId")).to_have_value("{{ job.data.data.id }}")

    with page.expect_download(timeout=WAIT_MS) as download:
        page.click("#save-flow")
    flow_file = tmp_path / "negotiation.yaml"
    download.value.save_as(flow_file)
    saved = yaml.safe_load(flow_file.read_text(encoding="utf-8"))
    assert saved["trigger"] == {"event": "change.deal", "filter": {"stage_changed_to": negotiation["id"]}}
    assert saved["steps"] == [
        {
            "id": "note",
            "action": "addNote",
            "inputs": {"content": "Reached Negotiation", "dealId": "{{ job.data.data.id }}"},
        }
    ]
    flow = Flow.load(flow_file, designer.designer.runtime)
    assert flow.trigger is not None and flow.trigger.conditions() == {"stage_id": negotiation["id"]}

    # -- a fresh page shows the loaded trigger
    page.goto(designer.url + "/")
    expect(page.locator("#status")).to_contain_text("actions")
    page.set_input_files("#load-flow", str(flow_file))
    expect(page.locator("li.step .step-id")).to_have_text(["note"])
    expect(page.locator("#trigger-object")).to_have_value("deal")
    expect(page.locator("#trigger-filter")).to_have_value("stage_changed_to")
    expect(page.locator("#trigger-stage")).to_have_value(str(negotiation["id"]))

    # -- listen runs the saved file: a deal moved to Negotiation gets the note, an unrelated edit nothing
    (tmp_path / "listen").mkdir()
    listener = Listen(sandbox, tmp_path / "listen", saved, free_port()).start()
    try:
        deal = sandbox_api(sandbox, "POST", "/api/v2/deals", json={"title": "Moving", "stage_id": 1})
        sandbox_api(sandbox, "PATCH", f"/api/v2/deals/{deal['id']}", json={"title": "Renamed"})
        sandbox_api(sandbox, "PATCH", f"/api/v2/deals/{deal['id']}", json={"stage_id": negotiation["id"]})
        wait_for(lambda: listener.routed(), what="the stage change runs the flow")
    finally:
        assert listener.stop() == 0
    [job] = listener.routed()
    assert job["steps"]["note"]["result"]["deal_id"] == deal["id"]
    notes = [n for n in sandbox_api(sandbox, "GET", "/api/v1/notes") if n.get("deal_id") == deal["id"]]
    assert [n["content"] for n in notes] == ["Reached Negotiation"]
