// The catalog's 17 tables as checkboxes, grouped by sync method; and the frequency select.

import { h, replace } from "./dom.js";
import { METHOD_LABEL } from "./format.js";

const GROUPS = [
  ["full_refresh", "App API tables", "Fetched whole from the App API on the schedule."],
  ["webhook", "Event tables", "Filled in realtime by the Reporting Webhook; they subscribe the webhook to their events."],
];

export function renderTablePicker(container, catalog, selected) {
  const chosen = new Set(selected);
  const body = [];
  for (const [method, title, caption] of GROUPS) {
    const tables = catalog.tables.filter((t) => t.sync_method === method);
    const all = h("input", { type: "checkbox", "aria-label": `Select all ${title.toLowerCase()}`, dataset: { group: method } });
    body.push(h("tr", { class: "group-row" },
      h("th", { class: "checkbox-cell" }, all),
      h("th", { colspan: 3 }, `${title} · `, h("span", { class: "muted" }, caption))));
    for (const table of tables) {
      body.push(h("tr", { dataset: { table: table.name } },
        h("td", { class: "checkbox-cell" }, h("input", {
          type: "checkbox", name: "tables", value: table.name, id: `t-${table.name}`,
          checked: chosen.has(table.name), dataset: { method },
        })),
        h("td", { class: "nowrap" }, h("label", { for: `t-${table.name}`, class: "mono cell-title" }, table.name)),
        h("td", {}, table.description),
        h("td", {}, h("span", { class: "badge badge-method" }, METHOD_LABEL[table.sync_method] ?? table.sync_method)),
      ));
    }
  }
  replace(container, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "tables-table" },
    h("thead", {}, h("tr", {}, h("th", { class: "checkbox-cell" }, ""), h("th", {}, "Table"), h("th", {}, "Description"), h("th", {}, "Sync method"))),
    h("tbody", {}, body))));
  const sync = () => {
    for (const all of container.querySelectorAll("input[data-group]")) {
      const boxes = [...container.querySelectorAll(`input[name=tables][data-method="${all.dataset.group}"]`)];
      const on = boxes.filter((b) => b.checked).length;
      all.checked = on === boxes.length;
      all.indeterminate = on > 0 && on < boxes.length;
    }
  };
  container.addEventListener("change", (event) => {
    const group = event.target.dataset?.group;
    if (group) {
      for (const box of container.querySelectorAll(`input[name=tables][data-method="${group}"]`)) box.checked = event.target.checked;
    }
    sync();
  });
  sync();
}

export function selectedTables(container) {
  return [...container.querySelectorAll("input[name=tables]:checked")].map((b) => b.value);
}

export function selectedApiTables(container) {
  return [...container.querySelectorAll('input[name=tables][data-method="full_refresh"]:checked')].map((b) => b.value);
}

export function fillFrequencies(select, catalog, current) {
  const value = current ?? catalog.default_frequency_seconds;
  replace(select, catalog.frequencies.map((f) => h("option", {
    value: f.seconds, selected: f.seconds === value,
  }, f.seconds === catalog.default_frequency_seconds ? `${f.label} (default)` : f.label)));
}
