// Wizard step 1: check the App API key at once (errors beside the field), then save the source.

import { get, post } from "./api.js";
import { clearFieldErrors, replace, showFieldError } from "./dom.js";

const form = document.getElementById("credentials-form");
const status = document.getElementById("form-status");
const next = document.getElementById("next");
const formError = document.getElementById("form-error");
const region = form.elements.region;

region.addEventListener("change", () => {
  document.getElementById("region-host").textContent = region.selectedOptions[0].dataset.host;
});
form.elements.name.addEventListener("input", () => {
  document.getElementById("name-echo").textContent = form.elements.name.value || "customerio";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(form);
  replace(formError);
  const name = form.elements.name.value.trim();
  const key = form.elements.app_api_key.value.trim();
  const baseUrl = form.elements.api_base_url.value.trim();
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(name)) {
    showFieldError(form, { field: "name", message: "Use lowercase letters, digits and underscores, starting with a letter (e.g. acme)." }, formError);
    return;
  }
  if (!key) {
    showFieldError(form, { field: "app_api_key", message: "Paste the App API key from Customer.io (Settings > Account Settings > API Credentials > App API Keys)." }, formError);
    return;
  }
  const body = { name, region: region.value, app_api_key: key };
  if (baseUrl) body.api_base_url = baseUrl;
  const destination = form.elements.destination.value.trim();
  if (destination) body.destination = destination;
  next.disabled = true;
  status.textContent = "Checking the key with Customer.io…";
  try {
    await post("/sources/check-key", { region: body.region, app_api_key: key, api_base_url: body.api_base_url });
    status.textContent = "Key accepted. Saving the source…";
    // Only the event tables until step 3's Import: the webhook registers for their events now,
    // and the scheduler (which syncs a never-synced API table at once) waits for Import.
    const catalog = await get("/catalog");
    body.tables = catalog.tables.filter((t) => t.sync_method === "webhook").map((t) => t.name);
    // A draft until Import: Cancel (or Discard in the list) removes it with its webhook.
    body.draft = true;
    await post("/sources", body);
    window.location.assign(`/sources/${encodeURIComponent(name)}/setup/webhook`);
  } catch (error) {
    status.textContent = "";
    if (error.field === "api_base_url" || error.field === "destination") document.getElementById("advanced").open = true;
    showFieldError(form, error, formError);
    next.disabled = false;
  }
});
