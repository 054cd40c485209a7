// Wizard step 2: register the webhook at once, show its URL (or the manual steps), save the key.

import { get } from "./api.js";
import { banner, replace } from "./dom.js";
import { setupWebhook } from "./webhook-setup.js";

const source = document.getElementById("main").dataset.source;
const { register } = setupWebhook(source);

async function start() {
  try {
    const config = await get(`/sources/${encodeURIComponent(source)}`);
    document.getElementById("key-stored").hidden = !config.signing_key_set;
    await register();
  } catch (error) {
    replace(document.getElementById("register-outcome"), banner("error", null, error.message));
  }
}

start();
