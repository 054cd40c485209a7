// /settings, Alerts: list, add, test and remove alert channels. The API never returns a
// channel's URL or password: the list shows the masked target.

import { del, get, post } from "./api.js";
import { $$, banner, clearFieldErrors, h, replace, showFieldError } from "./dom.js";

const list = document.getElementById("alert-channels");
const form = document.getElementById("alert-form");
const status = form.querySelector(".form-status");

function showKindFields() {
  const kind = form.elements.kind.value;
  for (const field of $$("[data-kinds]", form)) field.hidden = !field.dataset.kinds.split(" ").includes(kind);
}

function row(channel) {
  const result = h("span", { class: "muted", role: "status" });
  const test = h("button", { type: "button", class: "btn btn-small", onclick: async () => {
    test.disabled = true;
    replace(result, "Sending…");
    try {
      const outcome = await post(`/alert-channels/${encodeURIComponent(channel.name)}/test`);
      replace(result, outcome.delivered ? banner("ok", "Delivered", ` (${outcome.answer}).`)
        : banner("error", "Not delivered: ", outcome.answer));
    } catch (error) {
      replace(result, banner("error", null, error.message));
    } finally {
      test.disabled = false;
    }
  } }, "Send test");
  const remove = h("button", { type: "button", class: "btn btn-small", onclick: async () => {
    if (!window.confirm(`Remove the alert channel ${channel.name}?`)) return;
    try {
      await del(`/alert-channels/${encodeURIComponent(channel.name)}`);
      await load();
    } catch (error) {
      replace(result, banner("error", null, error.message));
    }
  } }, "Remove");
  const state = channel.failing
    ? h("span", {}, h("strong", {}, `failing (${channel.failures} in a row)`), " ", channel.last_error)
    : "ok";
  return h("tr", { dataset: { channel: channel.name } },
    h("td", {}, channel.name), h("td", {}, channel.kind), h("td", {}, h("code", {}, channel.target)),
    h("td", { class: "channel-state" }, state), h("td", {}, test, " ", remove, " ", result));
}

async function load() {
  try {
    const { channels } = await get("/alert-channels");
    if (!channels.length) {
      replace(list, h("p", { class: "caption" }, "No alert channels yet: add one below."));
      return;
    }
    replace(list, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "alert-table" },
      h("thead", {}, h("tr", {}, ["Name", "Kind", "Target", "State", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, channels.map(row)))));
  } catch (error) {
    replace(list, banner("error", null, error.message));
  }
}

form.elements.kind.addEventListener("change", showKindFields);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(form);
  replace(status, "Adding…");
  const kind = form.elements.kind.value;
  const value = (name) => form.elements[name].value.trim() || null;
  const body = kind === "email"
    ? { name: value("name") ?? "", kind, email: value("email"), smtp_url: value("smtp_url"), smtp_password: form.elements.smtp_password.value || null }
    : { name: value("name") ?? "", kind, url: value("url") };
  try {
    const added = await post("/alert-channels", body);
    form.reset();
    showKindFields();
    replace(status, `Added ${added.name}. Send it a test message from the list.`);
    await load();
  } catch (error) {
    replace(status, "");
    showFieldError(form, error, status);
  }
});

showKindFields();
load();
