// /sources: every linked source with its region, tables, schedule, webhook and last sync.

import { get } from "./api.js";
import { h, replace, banner, empty } from "./dom.js";
import { ago, frequencyLabel, num } from "./format.js";

const root = document.getElementById("sources-list");

async function load() {
  let sources, catalog;
  try {
    [sources, catalog] = await Promise.all([get("/sources"), get("/catalog")]);
  } catch (error) {
    replace(root, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    return;
  }
  if (!sources.length) {
    replace(root, empty(
      "No sources yet",
      "Link a Customer.io workspace: you need an App API key and the workspace's region (US or EU).",
      h("a", { class: "btn btn-primary", href: "/sources/new" }, "+ New source"),
    ));
    return;
  }
  const details = await Promise.all(sources.map(async (source) => {
    try {
      return await get(`/sources/${encodeURIComponent(source.name)}/tables`);
    } catch {
      return null;
    }
  }));
  const rows = sources.map((source, i) => {
    const tables = details[i];
    const lastEnded = tables
      ? Math.max(0, ...tables.map((t) => t.last_run?.ended_at ?? t.last_run?.started_at ?? 0))
      : 0;
    const failed = tables ? tables.filter((t) => t.selected && t.last_run?.status === "failed").length : 0;
    const running = tables ? tables.some((t) => t.running) : false;
    // The same verdict the source's page shows: rejected or dropped deliveries are its worst state.
    const verdict = source.webhook_assessment;
    const failing = verdict.level === "error";
    let webhook;
    if (failing) webhook = h("span", { class: "badge badge-err", title: verdict.message }, "deliveries failing");
    else if (source.webhook_id === null || source.webhook_id === undefined) webhook = h("span", { class: "badge badge-warn" }, "not registered");
    else if (!source.signing_key_set) webhook = h("span", { class: "badge badge-warn" }, "no signing key");
    else webhook = h("span", { class: "badge badge-ok" }, "enabled");
    const problems = [failed ? `${failed} failed` : null, failing ? "webhook failing" : null].filter(Boolean);
    let status;
    if (problems.length) status = h("span", { class: "badge badge-err", title: failing ? verdict.message : null }, problems.join(", "));
    else if (running) status = h("span", { class: "badge badge-run" }, "syncing");
    else if (source.paused_at) status = h("span", { class: "badge badge-warn" }, "paused");
    else if (source.draft) {
      // Left in the wizard: finish it, or discard it with its webhook (the wizard's Cancel).
      status = h("span", {}, h("span", { class: "badge badge-warn" }, "setup not finished"), " ",
        h("a", { class: "continue-setup", href: `/sources/${encodeURIComponent(source.name)}/setup/webhook` }, "Continue setup"));
    }
    else if (lastEnded) status = h("span", { class: "badge badge-ok" }, "ok");
    else status = h("span", { class: "badge" }, "not synced yet");
    return h("tr", { dataset: { source: source.name } },
      h("td", {}, h("a", { class: "cell-title", href: `/sources/${encodeURIComponent(source.name)}` }, source.name),
        h("div", { class: "caption" }, "Customer.io")),
      h("td", {}, source.region.toUpperCase()),
      h("td", { class: "num" }, num(source.tables.length)),
      h("td", {}, `every ${frequencyLabel(source.frequency_seconds, catalog.frequencies)}`),
      h("td", {}, webhook),
      h("td", {}, status),
      h("td", {}, lastEnded ? ago(lastEnded) : "never"),
    );
  });
  replace(root, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "sources-table" },
    h("thead", {}, h("tr", {},
      h("th", {}, "Source"), h("th", {}, "Region"), h("th", { class: "num" }, "Tables"),
      h("th", {}, "Sync frequency"), h("th", {}, "Webhook"), h("th", {}, "Status"), h("th", {}, "Last sync"))),
    h("tbody", {}, rows))));
}

load();
