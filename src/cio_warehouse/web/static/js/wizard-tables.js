// Wizard step 3: choose tables and frequency; Import saves them and starts the first sync.

import { get, patch, post } from "./api.js";
import { banner, clearFieldErrors, replace, showFieldError } from "./dom.js";
import { days, fillFrequencies, isChecked, renderTablePicker, selectedApiTables, selectedTables, tableFrequencies } from "./tables-picker.js";

const source = document.getElementById("main").dataset.source;
const path = `/sources/${encodeURIComponent(source)}`;
const form = document.getElementById("tables-form");
const picker = document.getElementById("tables-picker");
const formError = document.getElementById("form-error");
const status = document.getElementById("form-status");
const button = document.getElementById("import");

async function start() {
  try {
    const [catalog, config] = await Promise.all([get("/catalog"), get(path)]);
    // Step 1 saved only the event tables: until Import, offer the catalog's default selection
    // (message history is not in it: it is opt-in).
    const imported = config.tables.some((name) => catalog.tables.find((t) => t.name === name)?.sync_method !== "webhook");
    const selected = imported ? config.tables : catalog.tables.filter((t) => t.default_selected).map((t) => t.name);
    const history = document.getElementById("history-options").content.cloneNode(true).firstElementChild;
    history.querySelector("[name=history_days]").value = config.history_days;
    renderTablePicker(picker, catalog, selected, { messages: history }, config.table_frequencies);
    fillFrequencies(form.elements.frequency_seconds, catalog, config.frequency_seconds);
    button.disabled = false;
  } catch (error) {
    replace(picker, banner("error", null, error.message));
    button.disabled = true;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  replace(formError);
  clearFieldErrors(form);
  const tables = selectedTables(picker);
  if (!tables.length) {
    replace(formError, banner("error", null, "Select at least one table to import."));
    return;
  }
  button.disabled = true;
  status.textContent = "Saving…";
  try {
    const body = { tables, frequency_seconds: Number(form.elements.frequency_seconds.value), table_frequencies: tableFrequencies(picker), draft: false };
    // Sent as typed: the API says what is wrong with it, beside the field.
    if (isChecked(picker, "messages")) body.history_days = days(form.elements.history_days);
    await patch(path, body);
    if (selectedApiTables(picker).length) {
      status.textContent = "Starting the first sync…";
      let job;
      try {
        job = await post(`${path}/sync`, {});
      } catch (error) {
        // The scheduler got there first: the source page shows that sync running.
        if (error.status !== 409) throw error;
      }
      window.location.assign(job ? `${path}?job=${job.id}` : path);
    } else {
      window.location.assign(path);
    }
  } catch (error) {
    status.textContent = "";
    showFieldError(form, error, formError);
    button.disabled = false;
  }
});

start();
