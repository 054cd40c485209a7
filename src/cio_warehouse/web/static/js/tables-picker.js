// The catalog's tables as checkboxes, grouped by sync method (the catalog says which are
// selected by default); a table's own options in a row under it; and the frequency select.

import { h, replace } from "./dom.js";
import { METHOD_LABEL } from "./format.js";

const GROUPS = [
  ["full_refresh", "App API tables", "Fetched whole from the App API on the schedule."],
  ["incremental", "Message history", "Every delivery, read from the App API by day and merged on id; opt-in."],
  ["webhook", "Event tables", "Filled in realtime by the Reporting Webhook; they subscribe the webhook to their events."],
];

// `options`: {table name: element} shown in a row under that table, enabled while it is checked.
// `overrides`: {table name: seconds}, the tables' own frequencies (the API's table_frequencies):
// each scheduled table gets a select, "" following the source's frequency.
export function renderTablePicker(container, catalog, selected, options = {}, overrides = {}) {
  const chosen = new Set(selected);
  const frequency = (table) => (table.sync_method === "webhook"
    ? h("span", { class: "muted" }, "realtime")
    : h("select", { class: "table-frequency", name: "table_frequency", "aria-label": `${table.name} sync frequency`, dataset: { table: table.name } },
      h("option", { value: "" }, "Source's frequency"),
      catalog.frequencies.map((f) => h("option", { value: f.seconds, selected: overrides[table.name] === f.seconds }, f.label))));
  const body = [];
  for (const [method, title, caption] of GROUPS) {
    const tables = catalog.tables.filter((t) => t.sync_method === method);
    const all = h("input", { type: "checkbox", "aria-label": `Select all ${title.toLowerCase()}`, dataset: { group: method } });
    body.push(h("tr", { class: "group-row" },
      h("th", { class: "checkbox-cell" }, all),
      h("th", { colspan: 4 }, `${title} · `, h("span", { class: "muted" }, caption))));
    for (const table of tables) {
      body.push(h("tr", { dataset: { table: table.name } },
        h("td", { class: "checkbox-cell" }, h("input", {
          type: "checkbox", name: "tables", value: table.name, id: `t-${table.name}`,
          checked: chosen.has(table.name), dataset: { method },
        })),
        h("td", { class: "nowrap" }, h("label", { for: `t-${table.name}`, class: "mono cell-title" }, table.name)),
        h("td", {}, table.description),
        h("td", {}, h("span", { class: "badge badge-method" }, METHOD_LABEL[table.sync_method] ?? table.sync_method)),
        h("td", {}, frequency(table)),
      ));
      if (options[table.name]) {
        body.push(h("tr", { class: "options-row", dataset: { optionsFor: table.name } },
          h("td", { class: "checkbox-cell" }, ""), h("td", { colspan: 4 }, options[table.name])));
      }
    }
  }
  replace(container, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "tables-table" },
    h("thead", {}, h("tr", {}, h("th", { class: "checkbox-cell" }, ""), h("th", {}, "Table"), h("th", {}, "Description"), h("th", {}, "Sync method"), h("th", {}, "Frequency"))),
    h("tbody", {}, body))));
  const sync = () => {
    for (const all of container.querySelectorAll("input[data-group]")) {
      const boxes = [...container.querySelectorAll(`input[name=tables][data-method="${all.dataset.group}"]`)];
      const on = boxes.filter((b) => b.checked).length;
      all.checked = on === boxes.length;
      all.indeterminate = on > 0 && on < boxes.length;
    }
    for (const select of container.querySelectorAll("select.table-frequency")) {
      select.disabled = !container.querySelector(`input[name=tables][value="${CSS.escape(select.dataset.table)}"]`)?.checked;
    }
    for (const [name, element] of Object.entries(options)) {
      const on = container.querySelector(`input[name=tables][value="${CSS.escape(name)}"]`)?.checked ?? false;
      for (const input of element.querySelectorAll("input, select")) input.disabled = !on;
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

// Every scheduled table's own frequency for the API: seconds, or null to follow the source's.
export function tableFrequencies(container) {
  return Object.fromEntries([...container.querySelectorAll("select.table-frequency")].map((select) =>
    [select.dataset.table, select.value === "" ? null : Number(select.value)]));
}

export function selectedTables(container) {
  return [...container.querySelectorAll("input[name=tables]:checked")].map((b) => b.value);
}

// The tables a sync reads from the App API (all but the webhook's).
export function selectedApiTables(container) {
  return [...container.querySelectorAll('input[name=tables]:not([data-method="webhook"]):checked')].map((b) => b.value);
}

// A number of days as typed (the API says what is wrong with it); empty: null, the default.
export function days(input) {
  return input.value.trim() === "" ? null : Number(input.value);
}

export function isChecked(container, table) {
  return container.querySelector(`input[name=tables][value="${CSS.escape(table)}"]`)?.checked ?? false;
}

export function fillFrequencies(select, catalog, current) {
  const value = current ?? catalog.default_frequency_seconds;
  replace(select, catalog.frequencies.map((f) => h("option", {
    value: f.seconds, selected: f.seconds === value,
  }, f.seconds === catalog.default_frequency_seconds ? `${f.label} (default)` : f.label)));
}
