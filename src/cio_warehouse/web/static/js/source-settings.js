// /sources/{name}/settings: connection (key "replace", region, base URL), tables and frequency,
// the webhook (register again, replace the signing key), and removing the source.

import { del, get, patch } from "./api.js";
import { banner, clearFieldErrors, h, replace, showFieldError } from "./dom.js";
import { days, fillFrequencies, isChecked, renderTablePicker, selectedTables, tableFrequencies } from "./tables-picker.js";
import { registrationOutcome, setupWebhook } from "./webhook-setup.js";

const source = document.getElementById("main").dataset.source;
const base = `/sources/${encodeURIComponent(source)}`;
const alerts = document.getElementById("alerts");
const connection = document.getElementById("connection-form");
const tablesForm = document.getElementById("tables-form");
const picker = document.getElementById("tables-picker");
const removeForm = document.getElementById("remove-form");

// The region and API base URL as saved: the stored key is sent only to that host.
let connected = null;

function normalUrl(url) {
  return url.trim().replace(/\/+$/, "");
}

function hostChanged() {
  return connected !== null && (connection.elements.region.value !== connected.region ||
    normalUrl(connection.elements.api_base_url.value) !== normalUrl(connected.api_base_url));
}

// A new host needs the key typed again (the API refuses it otherwise, with the same reason).
function keyRequired() {
  const required = hostChanged();
  connection.elements.app_api_key.required = required;
  document.getElementById("key-optional").hidden = required;
  document.getElementById("key-required").hidden = !required;
}
connection.elements.region.addEventListener("change", keyRequired);
connection.elements.api_base_url.addEventListener("input", keyRequired);

function formStatus(form, text) {
  form.querySelector(".form-status").textContent = text;
}

async function start() {
  let catalog, config, settings;
  try {
    [catalog, config, settings] = await Promise.all([get("/catalog"), get(base), get("/settings")]);
  } catch (error) {
    replace(alerts, banner("error", null, error.message));
    return;
  }
  connected = { region: config.region, api_base_url: config.api_base_url ?? "" };
  connection.elements.region.value = connected.region;
  connection.elements.api_base_url.value = connected.api_base_url;
  const history = document.getElementById("history-options").content.cloneNode(true).firstElementChild;
  history.querySelector("[name=history_days]").value = config.history_days;
  history.querySelector("[name=lookback_days]").value = config.lookback_days;
  renderTablePicker(picker, catalog, config.tables, { messages: history }, config.table_frequencies);
  fillFrequencies(tablesForm.elements.frequency_seconds, catalog, config.frequency_seconds);
  document.getElementById("key-stored").hidden = !config.signing_key_set;
  document.getElementById("public-base").textContent = settings.public_base_url ?? "";
  document.getElementById("base-form").elements.public_base_url.value = settings.public_base_url ?? "";
  // Filled in: the forms may be sent now (before, they would send half-loaded values).
  for (const button of document.querySelectorAll("#connection-form button, #tables-form button")) button.disabled = false;
  await showWebhook();
}

// The webhook as Customer.io has it now (its events follow the selected tables).
async function showWebhook() {
  const outcome = document.getElementById("register-outcome");
  let hook;
  try {
    hook = await get(`${base}/webhook`);
  } catch (error) {
    replace(outcome, banner("error", null, error.message));
    return;
  }
  document.getElementById("webhook-url").value = hook.url ?? "";
  if (hook.remote?.name) document.getElementById("hook-name").textContent = hook.remote.name;
  if (hook.registered && hook.remote) {
    replace(outcome, registrationOutcome({ ok: true, webhook: hook.remote, events: hook.remote.events ?? [], missing_notice: hook.missing_notice }));
  } else if (hook.registered) {
    replace(outcome, banner("warning", null, hook.remote_error ?? "The webhook is registered, but Customer.io's side could not be read."));
  } else {
    replace(outcome, banner("warning", null, "No reporting webhook is registered: click Register again to create it, or follow the manual steps it shows."));
  }
}

connection.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(connection);
  const body = {
    region: connection.elements.region.value,
    // "" goes back to the region's own host.
    api_base_url: connection.elements.api_base_url.value.trim(),
  };
  const key = connection.elements.app_api_key.value.trim();
  if (key) body.app_api_key = key;
  formStatus(connection, "Checking with Customer.io…");
  try {
    const saved = await patch(base, body);
    connected = { region: saved.region, api_base_url: saved.api_base_url ?? "" };
    keyRequired();
    connection.elements.app_api_key.value = "";
    formStatus(connection, key ? "Saved: the new key works and replaced the old one." : "Saved.");
  } catch (error) {
    formStatus(connection, "");
    showFieldError(connection, error, alerts);
  }
});

tablesForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const tables = selectedTables(picker);
  if (!tables.length) {
    formStatus(tablesForm, "Select at least one table.");
    return;
  }
  formStatus(tablesForm, "Saving…");
  clearFieldErrors(tablesForm);
  const body = { tables, frequency_seconds: Number(tablesForm.elements.frequency_seconds.value), table_frequencies: tableFrequencies(picker) };
  if (isChecked(picker, "messages")) {
    body.history_days = days(tablesForm.elements.history_days);
    body.lookback_days = days(tablesForm.elements.lookback_days);
  }
  try {
    await patch(base, body);
    formStatus(tablesForm, "Saved. The webhook now subscribes to the selected event tables.");
    await showWebhook();
  } catch (error) {
    formStatus(tablesForm, "");
    showFieldError(tablesForm, error, alerts);
  }
});

const { register } = setupWebhook(source);
document.getElementById("register-again").addEventListener("click", async () => {
  try {
    await register();
  } catch (error) {
    replace(document.getElementById("register-outcome"), banner("error", null, error.message));
  }
});

removeForm.elements.confirm.addEventListener("input", () => {
  document.getElementById("remove-source").disabled = removeForm.elements.confirm.value.trim() !== source;
});
removeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (removeForm.elements.confirm.value.trim() !== source) return;
  const button = document.getElementById("remove-source");
  button.disabled = true;
  try {
    const result = await del(base);
    if (result?.warning) {
      replace(document.getElementById("remove-outcome"), banner("warning", `Removed ${source}, with a warning`, result.warning,
        h("p", {}, h("a", { href: "/sources" }, "Back to the sources"))));
      return;
    }
    window.location.assign("/sources");
  } catch (error) {
    replace(document.getElementById("remove-outcome"), banner("error", null, error.message));
    button.disabled = false;
  }
});

start();
