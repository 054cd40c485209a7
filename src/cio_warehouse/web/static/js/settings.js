// /settings: the public base URL that webhook URLs are built from.

import { get, put } from "./api.js";
import { clearFieldErrors, showFieldError } from "./dom.js";

const form = document.getElementById("settings-form");
const status = form.querySelector(".form-status");

async function start() {
  try {
    const settings = await get("/settings");
    form.elements.public_base_url.value = settings.public_base_url_is_default ? "" : settings.public_base_url;
    form.elements.public_base_url.placeholder = settings.receiver_url;
    document.getElementById("receiver-url").textContent = settings.receiver_url;
  } catch (error) {
    status.textContent = error.message;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(form);
  status.textContent = "Saving…";
  try {
    await put("/settings", { public_base_url: form.elements.public_base_url.value.trim() });
    status.textContent = "Saved. Register each source's webhook again (source > Settings > Register again) so that Customer.io uses the new URL.";
  } catch (error) {
    status.textContent = "";
    showFieldError(form, { ...error, field: error.field ?? "public_base_url", message: error.message }, status);
  }
});

start();
