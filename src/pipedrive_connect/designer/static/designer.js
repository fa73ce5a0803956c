// The designer page: a palette of actions, a flow built by dragging them, and a config wizard per step,
// all over the service's JSON API (docs/designer.md). Plain JavaScript, no build step, nothing from a CDN.
"use strict";

const state = {
  actions: [],          // the catalog
  wizards: {},          // action key -> GET /api/actions/{key}
  steps: [],            // [{id, action, inputs, when?}]
  selected: -1,
  tested: {},           // step id -> {action, result} of its last successful test, for later steps' templates
  description: null,    // a loaded flow's description, written back on save
  trigger: null,        // the flow's trigger: {event, filter?}, or null (jobs from a hot folder or run)
  triggers: null,       // GET /api/triggers: objects, actions and filter kinds
  events: {},           // object -> GET /api/triggers/{object}: what its event jobs hold
};
const DEFAULT_JOB = '{"data": {}, "metadata": {}}';
const PAGE = 50;

// ---- the API -------------------------------------------------------------------------------------
async function api(method, path, body) {
  const headers = {};
  const token = sessionStorage.getItem("designer-token");
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = await response.json().catch(() => ({error: {type: "request", message: response.statusText}}));
  if (response.status === 401) {
    document.getElementById("auth").hidden = false;
    status("This designer needs its token: enter it above.", true);
  }
  return {ok: response.ok, status: response.status, data};
}

function status(text, isError) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", Boolean(isError));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// ---- the connection: who is connected, and "Connect to Pipedrive" --------------------------------
async function loadAccount() {
  const {ok, data} = await api("GET", "/api/connection");
  const box = document.getElementById("account");
  if (!ok) return box.replaceChildren();
  document.getElementById("connect").hidden = !data.can_connect;
  if (!data.connected) return box.replaceChildren("Not connected to Pipedrive");
  const kind = data.type === "oauth2" ? "OAuth" : "API token";
  const until = data.expires_at ? `, token until ${new Date(data.expires_at).toLocaleTimeString()}` : "";
  const who = data.error
    ? el("span", {class: "error"}, `Connection fails: ${data.error.message}`)
    : el("span", {class: "who"}, [data.user, data.company].filter(Boolean).join(" · ") || "connected");
  box.replaceChildren(who, " ", el("small", {}, `${data.api_domain} (${kind}${until})`));
}

async function connect() {
  const {ok, data} = await api("POST", "/api/oauth/start", {});
  if (!ok) return status(data.error.message, true);
  window.location.assign(data.authorization_url);  // Pipedrive sends the browser back to /oauth/callback
}

// ---- the palette ---------------------------------------------------------------------------------
async function loadPalette() {
  const {ok, data} = await api("GET", "/api/actions");
  if (!ok) return status(data.error.message, true);
  state.actions = data.actions;
  renderPalette();
  status(`${data.actions.length} actions; drag one onto the flow.`);
}

function renderPalette() {
  const term = document.getElementById("palette-search").value.trim().toLowerCase();
  const groups = document.getElementById("palette-groups");
  groups.replaceChildren();
  const byResource = {};
  for (const action of state.actions) {
    const text = `${action.key} ${action.label} ${action.description} ${action.resource}`.toLowerCase();
    if (term && !text.includes(term)) continue;
    (byResource[action.resource] = byResource[action.resource] || []).push(action);
  }
  for (const [resource, actions] of Object.entries(byResource).sort()) {
    const list = el("ul", {});
    for (const action of actions) {
      list.append(el("li", {
        class: "action", draggable: "true", title: action.description, dataset: {action: action.key},
        ondragstart: (event) => event.dataTransfer.setData("text/plain", "action:" + action.key),
        ondblclick: () => addStep(action.key, state.steps.length),
      }, action.label, el("small", {}, ` ${action.token_cost} tokens`)));
    }
    groups.append(el("details", {open: Boolean(term) || undefined, dataset: {resource}},
      el("summary", {}, `${resource} (${actions.length})`), list));
  }
}

// ---- the flow ------------------------------------------------------------------------------------
function stepIdFor(actionKey) {
  const match = actionKey.match(/^(?:add|get|update|delete|search|merge|create)([A-Z]\w*)$/);
  const base = match ? match[1].charAt(0).toLowerCase() + match[1].slice(1) : actionKey;
  let id = base, n = 2;
  while (state.steps.some((s) => s.id === id)) id = `${base}_${n++}`;
  return id;
}

function addStep(actionKey, index) {
  state.steps.splice(index, 0, {id: stepIdFor(actionKey), action: actionKey, inputs: {}});
  select(index);
}

function renderSteps() {
  const list = document.getElementById("steps");
  list.replaceChildren();
  state.steps.forEach((step, i) => {
    const action = state.actions.find((a) => a.key === step.action);
    list.append(el("li", {
      class: "step" + (i === state.selected ? " selected" : ""), draggable: "true",
      dataset: {index: i, stepId: step.id},
      ondragstart: (event) => event.dataTransfer.setData("text/plain", "step:" + i),
      onclick: () => select(i),
    },
    el("span", {class: "step-id"}, step.id), " ",
    el("span", {class: "step-action"}, action ? action.label : step.action),
    el("span", {class: "step-tools"},
      el("button", {type: "button", title: "Move up", "aria-label": `Move ${step.id} up`, disabled: i === 0,
        onclick: (event) => { event.stopPropagation(); move(i, i - 1); }}, "↑"),
      el("button", {type: "button", title: "Move down", "aria-label": `Move ${step.id} down`,
        disabled: i === state.steps.length - 1,
        onclick: (event) => { event.stopPropagation(); move(i, i + 1); }}, "↓"),
      el("button", {type: "button", class: "remove", title: "Remove", "aria-label": `Remove ${step.id}`,
        onclick: (event) => { event.stopPropagation(); removeStep(i); }}, "✕"))));
  });
  document.getElementById("drop-hint").hidden = state.steps.length > 0;
}

function move(from, to) {
  const [step] = state.steps.splice(from, 1);
  state.steps.splice(to, 0, step);
  select(to);
}

function removeStep(i) {
  state.steps.splice(i, 1);
  select(Math.min(state.selected, state.steps.length - 1));
}

function dropIndex(event) {
  const target = event.target.closest ? event.target.closest("li.step") : null;
  if (!target) return state.steps.length;
  const box = target.getBoundingClientRect();
  return Number(target.dataset.index) + (event.clientY > box.top + box.height / 2 ? 1 : 0);
}

function setUpDropZone() {
  const zone = document.getElementById("flow");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const [kind, value] = event.dataTransfer.getData("text/plain").split(":");
    const index = dropIndex(event);
    if (kind === "action") addStep(value, index);
    else if (kind === "step") move(Number(value), Math.max(0, index > Number(value) ? index - 1 : index));
  });
}

function flowDocument() {
  const flow = {name: document.getElementById("flow-name").value || "flow"};
  if (state.description) flow.description = state.description;
  if (document.getElementById("flow-custom-names").checked) flow.customFieldNames = true;
  if (state.trigger) flow.trigger = state.trigger;
  flow.steps = [];
  for (const step of state.steps) {
    const out = {id: step.id, action: step.action};
    if (Object.keys(step.inputs).length) out.inputs = step.inputs;
    if (step.when) out.when = step.when;
    flow.steps.push(out);
  }
  return flow;
}

function testJob() {
  const box = document.getElementById("test-job-error");
  try {
    const job = JSON.parse(document.getElementById("test-job").value || "{}");
    box.textContent = "";
    return job;
  } catch (error) {
    box.textContent = "The test job is not valid JSON: " + error.message;
    return null;
  }
}

async function checkFlow() {
  const {ok, data} = await api("POST", "/api/flows/validate", {flow: flowDocument()});
  if (!ok) return showResult("flow-result", data, true), null;
  showResult("flow-result", data.ok ? {ok: true, steps: data.flow.steps.length} : {problems: data.problems}, !data.ok);
  return data;
}

async function saveFlow() {
  const checked = await checkFlow();
  if (!checked || !checked.ok) return status("Fix the flow's problems before saving it.", true);
  const name = (document.getElementById("flow-name").value || "flow").replace(/[^\w.-]+/g, "-") + ".yaml";
  const link = el("a", {href: URL.createObjectURL(new Blob([checked.yaml], {type: "application/yaml"})), download: name});
  document.body.append(link);
  link.click();
  link.remove();
  status(`Saved ${name}: run it with pipedrive-connect watch --flow ${name} --in IN --out OUT`);
}

async function loadFlow(file) {
  const {ok, data} = await api("POST", "/api/flows/validate", {flow: await file.text()});
  if (!ok) return status(data.error.message, true);
  document.getElementById("flow-name").value = data.flow.name || file.name.replace(/\.\w+$/, "");
  document.getElementById("flow-custom-names").checked = Boolean(data.flow.customFieldNames);
  state.description = data.flow.description || null;
  state.trigger = data.flow.trigger || null;
  renderTrigger();
  state.steps = data.flow.steps.map((s) => ({id: s.id || s.action, action: s.action, inputs: s.inputs || {},
    when: s.when}));
  state.tested = {};
  select(state.steps.length ? 0 : -1);
  showResult("flow-result", data.ok ? {loaded: file.name} : {problems: data.problems}, !data.ok);
}

async function runFlow() {
  const job = testJob();
  if (job === null) return;
  const {data} = await api("POST", "/api/flows/run", {flow: flowDocument(), job});
  showResult("flow-result", data, data.route !== "success");
}

// ---- the trigger: the flow's first step, from GET /api/triggers ----------------------------------
// A trigger the slot cannot show (several events or filter keys) is kept as loaded until replaced.
function triggerParts(trigger) {
  if (!trigger || typeof trigger.event !== "string") return null;
  const [action, entity] = trigger.event.split(".");
  const keys = Object.keys(trigger.filter || {});
  if (keys.length > 1) return null;
  const parts = {action, entity, filter: keys[0] || "", value: keys.length ? trigger.filter[keys[0]] : undefined};
  const kind = state.triggers.filters.find((f) => f.key === parts.filter);
  if (parts.filter && !kind) return null;
  if (parts.value === null) return {...parts, value: undefined};  // chosen, its value not yet given
  if (kind && kind.takes === "field_value") {
    const pairs = Object.entries(parts.value || {});
    if (pairs.length !== 1) return null;
    [parts.field, parts.value] = pairs[0];
  } else if (kind && kind.takes === "field") {
    const fields = [].concat(parts.value);
    if (fields.length !== 1) return null;
    parts.field = fields[0];
  }
  return parts;
}

function triggerObject() {
  if (!state.trigger) return null;
  const events = [].concat(state.trigger.event);
  const entities = new Set(events.map((e) => String(e).split(".")[1]));
  return entities.size === 1 ? [...entities][0] : "*";
}

async function eventFor(entity) {
  if (!state.events[entity]) {
    const {ok, data} = await api("GET", "/api/triggers/" + encodeURIComponent(entity));
    state.events[entity] = ok ? data : {paths: [], fields: ["id"], sample: {}};
  }
  return state.events[entity];
}

async function loadTriggers() {
  const {ok, data} = await api("GET", "/api/triggers");
  if (!ok) return;
  state.triggers = data;
  renderTrigger();
}

function options(list, chosen, first) {
  return [first ? el("option", {value: ""}, first) : null,
    ...list.map((o) => el("option", {value: String(o.key ?? o.value), selected: String(o.key ?? o.value) === String(chosen ?? "") || undefined},
      o.label))];
}

async function renderTrigger() {
  const meta = state.triggers;
  if (!meta) return;
  const objectSel = document.getElementById("trigger-object"), actionSel = document.getElementById("trigger-action");
  const filterSel = document.getElementById("trigger-filter"), valueBox = document.getElementById("trigger-value");
  const kept = document.getElementById("trigger-kept");
  const parts = state.trigger ? triggerParts(state.trigger) : null;
  kept.hidden = !(state.trigger && !parts);
  kept.textContent = kept.hidden ? "" : "Kept as loaded (edit it in the YAML, or choose another trigger): "
    + JSON.stringify(state.trigger);
  objectSel.replaceChildren(...options(meta.objects, parts ? parts.entity : "", "Manual / hot folder (no trigger)"));
  if (state.trigger && !parts) objectSel.prepend(el("option", {value: "kept", selected: true}, "As loaded"));
  document.getElementById("trigger-action-box").hidden = !parts;
  document.getElementById("trigger-filter-box").hidden = !parts;
  if (!parts) return valueBox.replaceChildren();
  actionSel.replaceChildren(...options(meta.actions, parts.action));
  const fits = meta.filters.filter((f) => f.objects.includes(parts.entity) && f.actions.includes(parts.action));
  filterSel.replaceChildren(...options(fits, parts.filter, "— any such event —"));
  const kind = fits.find((f) => f.key === parts.filter);
  valueBox.replaceChildren();
  if (!kind) return;
  if (kind.takes === "stage") {
    const stage = el("select", {id: "trigger-stage", class: "picklist-select", "aria-label": "Stage",
      dataset: {picklist: kind.picklist.key}}, el("option", {value: ""}, "— choose a stage —"));
    valueBox.append(stage);
    stage.addEventListener("change", () => setTriggerValue(stage.value === "" ? undefined : Number(stage.value)));
    const {ok, data} = await api("POST", "/api/picklists/" + kind.picklist.key, {values: kind.picklist.fixed, limit: 500});
    if (!ok) return valueBox.append(el("small", {class: "error"}, data.error.message));
    stage.append(...options(data.options, parts.value));
    stage.dataset.loaded = String(data.options.length);
  } else if (kind.takes === "choice") {
    const choice = el("select", {id: "trigger-choice", "aria-label": kind.label},
      ...options(kind.choices, parts.value, "— choose —"));
    choice.addEventListener("change", () => setTriggerValue(choice.value || undefined));
    valueBox.append(choice);
  } else {
    const names = (await eventFor(parts.entity)).fields;
    const fields = [...names, ...(parts.field && !names.includes(parts.field) ? [parts.field] : [])]
      .map((f) => ({key: f, label: f}));
    const field = el("select", {id: "trigger-field", "aria-label": "Field"}, ...options(fields, parts.field, "— field —"));
    valueBox.append(field);
    let value = null;
    if (kind.takes === "field_value") {
      value = el("input", {id: "trigger-field-value", "aria-label": "Value", placeholder: "value"});
      value.value = parts.value ?? "";
      valueBox.append(" = ", value);
      value.addEventListener("input", () => setTriggerPair(field.value, value.value));
    }
    field.addEventListener("change", () => (value ? setTriggerPair(field.value, value.value)
      : setTriggerValue(field.value || undefined)));
  }
}

// The trigger as the slot's controls say, written to state.trigger (and so to the saved YAML). A filter
// chosen but not yet given its value is null, which the service's check names until it is given.
function readTrigger() {
  const entity = document.getElementById("trigger-object").value;
  if (entity === "kept") return;
  const old = state.trigger && state.trigger.filter;
  state.trigger = null;
  if (entity) {
    const action = document.getElementById("trigger-action-box").hidden ? "change"
      : document.getElementById("trigger-action").value || "change";
    const key = document.getElementById("trigger-filter-box").hidden ? "" : document.getElementById("trigger-filter").value;
    const kind = state.triggers.filters.find((f) => f.key === key && f.objects.includes(entity) && f.actions.includes(action));
    state.trigger = {event: `${action}.${entity}`};
    if (kind) state.trigger.filter = {[key]: old && key in old ? old[key] : null};
  }
  const job = document.getElementById("test-job");
  if (entity && job.value.trim() === DEFAULT_JOB) {  // a sample event to test the steps with
    eventFor(entity).then((info) => { job.value = JSON.stringify({data: info.sample, metadata: {}}); });
  }
  renderTrigger();
}

function setTriggerValue(value) {
  const [key] = Object.keys(state.trigger.filter);
  state.trigger.filter[key] = value === undefined ? null : value;
}

function setTriggerPair(field, value) {
  const [key] = Object.keys(state.trigger.filter);
  state.trigger.filter[key] = field && value !== "" ? {[field]: value} : null;
}

// ---- the wizard ----------------------------------------------------------------------------------
async function wizardFor(key) {
  if (!state.wizards[key]) {
    const {data} = await api("GET", "/api/actions/" + encodeURIComponent(key));
    state.wizards[key] = data;
  }
  return state.wizards[key];
}

async function select(index) {
  state.selected = index;
  renderSteps();
  const form = document.getElementById("wizard-form");
  document.getElementById("step-result").hidden = true;
  if (index < 0) {
    form.hidden = true;
    document.getElementById("wizard-empty").hidden = false;
    return;
  }
  const step = state.steps[index];
  const wizard = await wizardFor(step.action);
  if (state.selected !== index) return;  // another step was chosen meanwhile
  document.getElementById("wizard-empty").hidden = true;
  form.hidden = false;
  const head = document.getElementById("wizard-head");
  head.replaceChildren(el("h3", {}, wizard.label || step.action),
    el("p", {class: "description"}, wizard.message || wizard.description || ""),
    wizard.method ? el("p", {class: "endpoint"}, `${wizard.method} ${wizard.api_version}${wizard.path} · `
      + `${wizard.token_cost} tokens`) : null);
  document.getElementById("step-id").value = step.id;
  const fields = document.getElementById("fields"), options = document.getElementById("option-fields");
  fields.replaceChildren();
  options.replaceChildren();
  for (const field of wizard.fields || []) {
    if (field.dropped && !(field.name in step.inputs)) continue;  // not offered; shown only to explain an old flow
    (field.option ? options : fields).append(renderField(step, field));
  }
}

function renderField(step, field) {
  const id = `input-${field.name}`;
  const value = step.inputs[field.name];
  const wrap = el("div", {class: "field", dataset: {name: field.name}});
  wrap.append(el("label", {for: id}, field.title, field.required ? el("span", {class: "required", title: "required"},
    " *") : null, field.formerly ? el("small", {}, ` (formerly ${field.formerly})`) : null));
  if (field.description || field.dropped) wrap.append(el("p", {class: "description"}, field.dropped || field.description));
  let control;
  if (field.choices) {
    control = el("select", {id, multiple: field.multiple || undefined, dataset: {name: field.name}},
      field.multiple ? null : el("option", {value: ""}, "— not set —"),
      field.choices.map((c) => el("option", {value: String(c.value),
        selected: (Array.isArray(value) ? value.map(String) : [String(value)]).includes(String(c.value)) || undefined},
      c.label)));
    control.addEventListener("change", () => {
      const chosen = [...control.selectedOptions].map((o) => o.value).filter((v) => v !== "");
      setInput(step, field, field.multiple ? chosen : chosen[0]);
    });
  } else if (field.type === "boolean") {
    control = el("select", {id, dataset: {name: field.name}},
      ["", "true", "false"].map((v) => el("option", {value: v, selected: String(value ?? "") === v || undefined},
        v === "" ? "— not set —" : v === "true" ? "Yes" : "No")));
    control.addEventListener("change", () => setInput(step, field, control.value === "" ? undefined : control.value === "true"));
  } else {
    const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
    const multiline = (field.type === "object" || (field.type === "array" && !field.picklist));
    control = el(multiline ? "textarea" : "input", {id, dataset: {name: field.name}, rows: multiline ? 3 : undefined,
      placeholder: field.examples ? String(field.examples[0]) : (field.default !== undefined ? String(field.default) : ""),
      spellcheck: "false"});
    control.value = text;
    control.addEventListener("input", () => setInput(step, field, parseText(field, control.value)));
  }
  const row = el("div", {class: "row"}, control);
  if (!field.choices && field.type !== "boolean") row.append(renderInsert(step, field, control));
  wrap.append(row);
  if (field.picklist) wrap.append(renderPicklist(step, field, control));
  wrap.append(el("p", {class: "error", id: `error-${field.name}`}));
  return wrap;
}

function parseText(field, text) {
  if (text.trim() === "") return undefined;
  if ((field.type === "integer" || field.type === "number") && /^-?\d+(\.\d+)?$/.test(text.trim())) {
    return Number(text.trim());
  }
  if ((field.type === "object" || field.type === "array") && !text.includes("{{") && /^[[{]/.test(text.trim())) {
    try { return JSON.parse(text); } catch (error) { return text; }
  }
  return text;
}

function setInput(step, field, value) {
  if (value === undefined || (Array.isArray(value) && value.length === 0)) delete step.inputs[field.name];
  else step.inputs[field.name] = value;
  showFieldError(field.name, clientProblem(field, step.inputs[field.name]));
  const wizard = state.wizards[step.action];
  for (const other of wizard.fields || []) {  // a dropdown that depends on this input starts over
    if (other.picklist && other.picklist.depends_on.includes(field.name)) {
      const box = document.querySelector(`.field[data-name="${other.name}"] .picklist`);
      if (box) box.reload();
    }
  }
}

// What the schema refuses, checked as the person types (the service checks again on preview and test).
function clientProblem(field, value) {
  if (value === undefined) return field.required ? `${field.title} is required` : "";
  if (typeof value === "number") value = String(value);
  if (typeof value !== "string" || value.includes("{{")) return "";
  if (field.type === "integer" && !/^-?\d+$/.test(value.trim())) return `${field.title} must be a whole number`;
  if (field.type === "number" && !Number.isFinite(Number(value))) return `${field.title} must be a number`;
  if ((field.type === "integer" || field.type === "number") && field.minimum !== undefined && Number(value) < field.minimum) {
    return `${field.title} must be at least ${field.minimum}`;
  }
  if (field.pattern && !new RegExp(field.pattern, "u").test(value)) return field.description || `${field.title} does not fit`;
  return "";
}

function showFieldError(name, message) {
  const box = document.getElementById(`error-${name}`);
  if (box) box.textContent = message || "";
}

// A live dropdown: options from the picklist (with the values of the inputs it depends on), search, load more.
function renderPicklist(step, field, control) {
  const meta = field.picklist;
  const select = el("select", {class: "picklist-select", "aria-label": `Choose ${field.title}`,
    dataset: {picklist: meta.key}});
  const search = el("input", {type: "search", class: "picklist-search", placeholder: "Search…",
    "aria-label": `Search ${field.title}`, hidden: !meta.searchable || undefined});
  const more = el("button", {type: "button", class: "load-more", hidden: true}, "Load more");
  const note = el("small", {class: "picklist-note"});
  const box = el("div", {class: "picklist", dataset: {for: field.name}}, search, select, more, note);
  let cursor = null, loading = 0;

  async function load(append) {
    const mine = ++loading;
    const values = {...meta.fixed};
    for (const name of meta.depends_on) if (step.inputs[name] !== undefined) values[name] = step.inputs[name];
    const {ok, data} = await api("POST", "/api/picklists/" + meta.key,
      {values, search: search.value || null, cursor: append ? cursor : null, limit: PAGE});
    if (mine !== loading) return;  // a newer request (another pipeline chosen) wins
    if (!append) select.replaceChildren(el("option", {value: ""}, `— choose ${field.title.toLowerCase()} —`));
    if (!ok) {
      note.textContent = data.error.message;
      more.hidden = true;
      return;
    }
    note.textContent = "";
    for (const option of data.options) {
      select.append(el("option", {value: String(option.key),
        selected: String(step.inputs[field.name] ?? "") === String(option.key) || undefined}, option.label));
    }
    cursor = data.next_cursor;
    more.hidden = !cursor;
    select.dataset.loaded = String(select.options.length - 1);
  }

  select.addEventListener("change", () => {
    if (!select.value) return;
    const value = field.multiple ? [...new Set([...(String(control.value).split(",").filter((v) => v.trim())),
      select.value])].join(",") : select.value;
    control.value = value;
    setInput(step, field, parseText(field, value));
  });
  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => load(false), 250); });
  more.addEventListener("click", () => load(true));
  box.reload = () => { cursor = null; load(false); };
  load(false);
  return box;
}

// "Insert a value": the test job's fields and what earlier steps give back, as templates.
function renderInsert(step, field, control) {
  const menu = el("select", {class: "insert", "aria-label": `Insert a value into ${field.title}`},
    el("option", {value: ""}, "{ } insert"));
  fillInsertMenu(menu, step);
  for (const event of ["focus", "pointerdown"]) menu.addEventListener(event, () => fillInsertMenu(menu, step));
  menu.addEventListener("change", () => {
    if (!menu.value) return;
    const at = control.selectionStart ?? control.value.length;
    control.value = control.value.slice(0, at) + menu.value + control.value.slice(control.selectionEnd ?? at);
    setInput(step, field, parseText(field, control.value));
    menu.value = "";
  });
  return menu;
}

async function fillInsertMenu(menu, step) {
  const paths = ["job.id", "job.files[0].path", "job.files[0].name"];
  const entity = triggerObject();
  if (entity) paths.push(...(await eventFor(entity)).paths);
  const job = testJob() || {};
  for (const key of Object.keys(job.data || {})) paths.push(`job.data.${key}`);
  for (const key of Object.keys(job.metadata || {})) paths.push(`job.metadata.${key}`);
  for (const earlier of state.steps.slice(0, state.steps.indexOf(step))) {
    const wizard = await wizardFor(earlier.action);
    const tested = state.tested[earlier.id];
    const schema = (wizard.output || {}).schema || {};
    const props = Object.keys((schema.items || schema).properties || {});
    const names = tested && tested.result && typeof tested.result === "object" && !Array.isArray(tested.result)
      ? Object.keys(tested.result) : props;
    const prefix = schema.type === "array" ? `steps.${earlier.id}.result[0]` : `steps.${earlier.id}.result`;
    for (const name of names) paths.push(`${prefix}.${name}`);
  }
  menu.replaceChildren(el("option", {value: ""}, "{ } insert"),
    ...[...new Set(paths)].map((p) => el("option", {value: `{{ ${p} }}`}, p)));
}

// ---- preview and test ----------------------------------------------------------------------------
function currentStep() { return state.steps[state.selected]; }

function jobForStep() {
  const job = testJob();
  if (job === null) return null;
  return {...job, steps: {...(job.steps || {}), ...state.tested}};
}

async function previewStep() {
  const step = currentStep(), job = jobForStep();
  if (!step || job === null) return;
  const {ok, data} = await api("POST", "/api/preview", {action: step.action, inputs: step.inputs, job});
  showInputError(ok ? null : data.error);
  showResult("step-result", ok ? data : data, !ok, ok ? "Preview (not sent)" : "Not sendable");
}

async function testStep() {
  const step = currentStep(), job = jobForStep();
  if (!step || job === null) return;
  const {ok, data} = await api("POST", "/api/run", {action: step.action, inputs: step.inputs, job});
  if (!ok) return showResult("step-result", data, true, "Refused");
  showInputError(data.error);
  if (data.route === "success") state.tested[step.id] = {action: step.action, result: data.result};
  showResult("step-result", data, data.route !== "success", `Route: ${data.route}`);
}

function showInputError(error) {
  document.querySelectorAll("#wizard .field .error").forEach((box) => { box.textContent = ""; });
  if (error && error.type === "input" && error.input) showFieldError(error.input.split(".")[0], error.message);
}

function showResult(id, value, isError, title) {
  const box = document.getElementById(id);
  box.hidden = false;
  box.classList.toggle("error", Boolean(isError));
  box.dataset.route = value && value.route ? value.route : (isError ? "error" : "ok");
  box.replaceChildren(el("h3", {}, title || (isError ? "Problems" : "Result")),
    el("pre", {}, JSON.stringify(value, null, 2)));
}

// ---- start ---------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("palette-search").addEventListener("input", renderPalette);
  document.getElementById("step-id").addEventListener("change", (event) => {
    const step = currentStep();
    const id = event.target.value.trim();
    if (!step || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(id) || state.steps.some((s) => s !== step && s.id === id)) {
      event.target.value = step ? step.id : "";
      return status("A step id is a unique name of letters, digits and _.", true);
    }
    if (state.tested[step.id]) {  // its test result stays available to later steps under the new id
      state.tested[id] = state.tested[step.id];
      delete state.tested[step.id];
    }
    step.id = id;
    renderSteps();
  });
  document.getElementById("preview-step").addEventListener("click", previewStep);
  document.getElementById("test-step").addEventListener("click", testStep);
  document.getElementById("validate-flow").addEventListener("click", checkFlow);
  document.getElementById("save-flow").addEventListener("click", saveFlow);
  document.getElementById("run-flow").addEventListener("click", runFlow);
  document.getElementById("load-flow").addEventListener("change", (event) => {
    if (event.target.files[0]) loadFlow(event.target.files[0]);
    event.target.value = "";
  });
  document.getElementById("auth-token").addEventListener("change", (event) => {
    sessionStorage.setItem("designer-token", event.target.value);
    document.getElementById("auth").hidden = true;
    loadPalette();
    loadAccount();
  });
  document.getElementById("connect").addEventListener("click", connect);
  for (const id of ["trigger-object", "trigger-action", "trigger-filter"]) {
    document.getElementById(id).addEventListener("change", readTrigger);
  }
  setUpDropZone();
  renderSteps();
  loadTriggers();
  loadPalette();
  loadAccount();
});
