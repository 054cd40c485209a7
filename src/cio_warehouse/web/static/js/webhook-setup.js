// Register the Reporting Webhook and save its signing key: shared by the wizard and the source page.

import { get, post, put } from "./api.js";
import { banner, h, prose, replace } from "./dom.js";
import { num } from "./format.js";

const enc = encodeURIComponent;

// The outcome of a registration (ok, or why not plus the manual steps), as a banner.
export function registrationOutcome(outcome) {
  if (outcome.ok && outcome.webhook) {
    const hook = outcome.webhook;
    const verb = outcome.created === undefined ? "Status of" : outcome.created ? "Registered" : "Found";
    const state = hook.disabled
      ? "disabled until its signing key is saved below"
      : "enabled";
    const summary = h("span", { id: "register-summary" }, `It is ${state}, and subscribed to ${num(outcome.events.length)} events of the selected tables.`);
    // Customer.io refused some event names (registered without them), or they are missing now.
    const notice = outcome.notice ?? outcome.missing_notice;
    // Registered all the same: Customer.io accepts any URL, it just never delivers to this one.
    const unreachable = outcome.unreachable
      ? [" ", h("span", { id: "register-unreachable" }, prose(outcome.unreachable)), " ",
        h("button", { type: "button", class: "btn-link", dataset: { action: "change-base" } }, "Change the public base URL")]
      : [];
    return banner(notice || outcome.unreachable ? "warning" : "ok", `${verb} reporting webhook ${hook.id} in Customer.io`,
      summary, notice ? [" ", h("span", { id: "register-notice" }, prose(notice))] : null, unreachable);
  }
  return h("div", { class: "banner banner-warning", role: "alert", id: "manual-steps" },
    h("strong", {}, "The webhook could not be registered automatically."),
    h("p", { id: "register-failure" }, prose(`Why: ${outcome.failure}.`)),
    h("p", {}, "Set it up by hand in Customer.io, then paste its signing key below:"),
    h("ol", {}, outcome.steps.map((step) => h("li", {}, prose(step)))),
  );
}

export function setupWebhook(source, { onRegistered = () => {} } = {}) {
  const outcomeSlot = document.getElementById("register-outcome");
  const urlInput = document.getElementById("webhook-url");
  const baseForm = document.getElementById("base-form");
  const keyForm = document.getElementById("key-form");
  const keyOutcome = document.getElementById("key-outcome");

  let lastOutcome = null;

  async function register(publicBaseUrl) {
    replace(outcomeSlot, h("p", { class: "loading" }, h("span", { class: "spinner" }), " Registering the reporting webhook with Customer.io…"));
    const [settings, outcome] = await Promise.all([
      get("/settings"),
      post(`/sources/${enc(source)}/webhook/register`, publicBaseUrl ? { public_base_url: publicBaseUrl } : {}),
    ]);
    document.getElementById("public-base").textContent = publicBaseUrl || settings.public_base_url;
    baseForm.elements.public_base_url.value = publicBaseUrl || settings.public_base_url || "";
    urlInput.value = outcome.url;
    if (outcome.webhook?.name) document.getElementById("hook-name").textContent = outcome.webhook.name;
    replace(outcomeSlot, registrationOutcome(outcome));
    lastOutcome = outcome;
    onRegistered(outcome);
    return outcome;
  }

  document.getElementById("copy-url").addEventListener("click", async (event) => {
    urlInput.select();
    try {
      await navigator.clipboard.writeText(urlInput.value);
      event.target.textContent = "Copied";
    } catch {
      event.target.textContent = "Press Ctrl+C";
    }
  });
  const changeBase = () => {
    baseForm.hidden = false;
    baseForm.elements.public_base_url.focus();
  };
  document.getElementById("change-base").addEventListener("click", changeBase);
  outcomeSlot.addEventListener("click", (event) => {
    if (event.target.closest("[data-action=change-base]")) changeBase();
  });
  baseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const slot = baseForm.querySelector(".field-error");
    slot.hidden = true;
    const value = baseForm.elements.public_base_url.value.trim();
    try {
      await put("/settings", { public_base_url: value });
      await register(value);
      baseForm.hidden = true;
    } catch (error) {
      slot.textContent = error.message;
      slot.hidden = false;
    }
  });

  keyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = keyForm.elements.signing_key;
    const slot = keyForm.querySelector(".field-error");
    const field = input.closest(".field");
    slot.hidden = true;
    field.classList.remove("invalid");
    const key = input.value.trim();
    if (!key) {
      slot.textContent = "Paste the signing key from the webhook's page in Customer.io first.";
      slot.hidden = false;
      field.classList.add("invalid");
      return;
    }
    const button = keyForm.querySelector("button[type=submit]");
    button.disabled = true;
    replace(keyOutcome, h("span", { class: "spinner" }), " Saving the key and enabling the webhook…");
    try {
      // Events verified and stored before the key: the first signed delivery is the count rising.
      const before = (await get(`/sources/${enc(source)}`)).webhook_stored;
      const saved = await put(`/sources/${enc(source)}/webhook/signing-key`, { signing_key: key });
      input.value = "";
      const rotation = saved.rotated ? " The previous key stays valid during the rotation." : "";
      const text = saved.enabled && saved.webhook
        ? `Signing key saved and webhook ${saved.webhook.id} enabled.${rotation}`
        : `Signing key saved. No webhook is registered yet: create it by hand as shown above and enable it; deliveries signed with this key are then accepted.${rotation}`;
      replace(keyOutcome, banner("ok", null, h("span", { id: "key-saved" }, text), " ", firstDelivery));
      watchFirstDelivery(before);
      document.getElementById("key-stored").hidden = false;
      if (saved.webhook) {
        const base = lastOutcome ?? { ok: true, created: false, events: saved.webhook.events ?? [] };
        replace(outcomeSlot, registrationOutcome({ ...base, ok: true, webhook: saved.webhook }));
      }
    } catch (error) {
      replace(keyOutcome);
      slot.textContent = error.message;
      slot.hidden = false;
      field.classList.add("invalid");
    } finally {
      button.disabled = false;
    }
  });

  // Saved is not flowing: say so only once a delivery signed with the key was stored.
  const firstDelivery = h("span", { id: "first-delivery" });
  let watching = null;

  function watchFirstDelivery(before) {
    clearTimeout(watching);
    replace(firstDelivery, h("span", { class: "spinner" }), " Waiting for the first signed delivery: send a message in Customer.io, or wait for the next one.");
    firstDelivery.dataset.state = "waiting";
    const poll = async () => {
      let current;
      try {
        current = await get(`/sources/${enc(source)}`);
      } catch {
        watching = setTimeout(poll, 5000);
        return;
      }
      if (current.webhook_stored > before) {
        replace(firstDelivery, `First signed delivery received: events flow into the ${source}.*_events tables.`);
        firstDelivery.dataset.state = "received";
        firstDelivery.closest(".banner")?.classList.replace("banner-warning", "banner-ok");
        return;
      }
      // Rejections (a wrong key) say what is wrong while the wait goes on.
      if (current.webhook_assessment.level === "error") {
        firstDelivery.dataset.state = "failing";
        replace(firstDelivery, prose(current.webhook_assessment.message));
        firstDelivery.closest(".banner")?.classList.replace("banner-ok", "banner-warning");
      }
      watching = setTimeout(poll, 2000);
    };
    watching = setTimeout(poll, 1000);
  }

  return { register };
}
