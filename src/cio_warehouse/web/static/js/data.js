// /data: the table browser, the SQL box, message activity per channel and delivery funnels.

import { get, post } from "./api.js";
import { banner, empty, h, replace } from "./dom.js";
import { FUNNEL_STEPS, funnelBars, legend, lineChart } from "./charts.js";
import { num, pct } from "./format.js";

const MAX_ROWS = 1000;
const FUNNEL_LIMIT = 25;
const params = new URLSearchParams(location.search);
const sourceSelect = document.getElementById("source-select");
const daysSelect = document.getElementById("days-select");
const sqlForm = document.getElementById("sql-form");
const sqlInput = document.getElementById("sql");
const state = { sources: [], kind: "campaign", showAllFunnels: false };
// Each load takes a ticket; an answer that arrives after a newer load began is dropped, so that a
// slow first answer never overwrites what the user switched to.
const tickets = { activity: 0, funnels: 0, table: 0 };

const enc = encodeURIComponent;

// -- results as a table ----------------------------------------------------------------------

function cell(value) {
  if (value === null || value === undefined) return h("td", { class: "null" }, "null");
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return h("td", { title: text.length > 60 ? text : null, class: typeof value === "number" ? "num" : null }, text);
}

function resultsTable(columns, rows, id) {
  return h("div", { class: "table-wrap" }, h("table", { class: "data compact results", id },
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, row.map(cell))))));
}

// -- table browser -----------------------------------------------------------------------------

async function loadTableList() {
  const container = document.getElementById("table-list");
  let tables;
  try {
    tables = await get("/warehouse/tables");
  } catch (error) {
    replace(container, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    return [];
  }
  if (!tables.length) {
    replace(container, empty("No tables yet", "Link a source and run its first sync; its tables appear here.",
      h("a", { class: "btn", href: "/sources" }, "Go to sources")));
    return tables;
  }
  const groups = new Map();
  for (const t of tables) {
    if (!groups.has(t.source)) groups.set(t.source, []);
    groups.get(t.source).push(t);
  }
  replace(container, h("ul", { class: "table-list" }, [...groups].map(([source, list]) => [
    h("li", { class: "group" }, source),
    list.map((t) => h("li", {}, h("button", {
      type: "button", "aria-pressed": "false", dataset: { source: t.source, table: t.table },
    }, h("span", { class: "mono" }, t.table), h("span", { class: "count" }, num(t.rows))))),
  ])));
  return tables;
}

async function showTable(source, table) {
  const detail = document.getElementById("table-detail");
  for (const b of document.querySelectorAll("#table-list button")) {
    b.setAttribute("aria-pressed", String(b.dataset.source === source && b.dataset.table === table));
  }
  document.getElementById("table-title").textContent = `${source}.${table}`;
  const queryButton = document.getElementById("query-table");
  queryButton.hidden = false;
  queryButton.dataset.target = `${source}.${table}`;
  replace(detail, h("p", { class: "loading" }, "Loading…"));
  const ticket = ++tickets.table;
  let info;
  try {
    info = await get(`/warehouse/tables/${enc(source)}/${enc(table)}?limit=20`);
  } catch (error) {
    if (ticket === tickets.table) replace(detail, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    return;
  }
  if (ticket !== tickets.table) return;
  document.getElementById("table-caption").textContent =
    `${num(info.row_count)} rows · ${info.columns.length} columns${info.rows.length ? ` · first ${info.rows.length} rows below` : ""}`;
  const columns = info.columns.map((c) => c.name);
  replace(detail,
    h("details", { class: "panel-body", id: "table-columns" },
      h("summary", {}, `Columns (${info.columns.length})`),
      h("table", { class: "data compact" }, h("thead", {}, h("tr", {}, h("th", {}, "Column"), h("th", {}, "Type"))),
        h("tbody", {}, info.columns.map((c) => h("tr", {}, h("td", { class: "mono" }, c.name), h("td", { class: "mono muted" }, c.type)))))),
    info.rows.length
      ? resultsTable(columns, info.rows, "table-rows")
      : empty("The table is empty", "Its last sync found no rows; events tables fill as webhook deliveries arrive."));
}

document.getElementById("table-list").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-table]");
  if (button) showTable(button.dataset.source, button.dataset.table);
});
document.getElementById("query-table").addEventListener("click", (event) => {
  sqlInput.value = `select *\nfrom ${event.target.dataset.target}\nlimit 100`;
  runQuery();
  document.getElementById("sql-panel").scrollIntoView({ behavior: "smooth" });
});

// -- SQL -------------------------------------------------------------------------------------

async function runQuery() {
  const result = document.getElementById("sql-result");
  const status = document.getElementById("sql-status");
  const sql = sqlInput.value.trim();
  if (!sql) {
    replace(result, h("div", { class: "panel-body" }, banner("error", null, "Write a query first, e.g. select count(*) from acme.campaigns.")));
    return;
  }
  const button = document.getElementById("run-sql");
  button.disabled = true;
  status.textContent = "Running…";
  const started = performance.now();
  try {
    const data = await post("/query", { sql, max_rows: MAX_ROWS });
    const ms = Math.round(performance.now() - started);
    status.textContent = "";
    replace(result,
      h("div", { class: "panel-foot", id: "sql-summary" }, h("span", { class: "caption" },
        `${num(data.rows.length)} row${data.rows.length === 1 ? "" : "s"}${data.truncated ? ` (only the first ${num(MAX_ROWS)} are shown: add a limit or an aggregate)` : ""} · ${ms} ms`),
        data.columns.length
          ? h("button", { type: "button", class: "btn btn-small", id: "sql-csv", onclick: () => downloadCsv(data) },
            data.truncated ? `Download CSV (first ${num(MAX_ROWS)} rows)` : "Download CSV")
          : null),
      data.columns.length ? resultsTable(data.columns, data.rows, "sql-rows") : null);
  } catch (error) {
    status.textContent = "";
    const titled = /^The query failed/.test(error.message);
    replace(result, h("div", { class: "panel-body" }, h("div", { class: "banner banner-error", role: "alert", id: "sql-error" },
      titled ? null : h("strong", {}, "The query failed"), error.message)));
  } finally {
    button.disabled = false;
  }
}

// The CSV is made here from the result on screen: what is downloaded is what was shown, and the
// query does not run a second time. RFC 4180: a field with a comma, quote or line break is quoted,
// its quotes doubled; null is an empty field; lists and objects are their JSON.
function csvField(value) {
  if (value === null || value === undefined) return "";
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function downloadCsv(data) {
  const lines = [data.columns, ...data.rows].map((row) => row.map(csvField).join(","));
  const blob = new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const stamp = new Date().toISOString().slice(0, 19).replaceAll(":", "").replace("T", "-");
  const link = h("a", { href: url, download: `query-${stamp}.csv`, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000); // after the download has read it
}

sqlForm.addEventListener("submit", (event) => {
  event.preventDefault();
  runQuery();
});
sqlInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    runQuery();
  }
});

// -- activity --------------------------------------------------------------------------------

function dayRange(days, lastDay) {
  const end = new Date(`${lastDay}T00:00:00Z`);
  const out = [];
  for (let i = days - 1; i >= 0; i--) {
    out.push(new Date(end.getTime() - i * 86400000).toISOString().slice(0, 10));
  }
  return out;
}

async function loadActivity() {
  const container = document.getElementById("activity");
  const source = sourceSelect.value;
  if (!source) {
    replace(container, empty("No sources yet", "Link a Customer.io workspace to see its message activity.",
      h("a", { class: "btn btn-primary", href: "/sources/new" }, "+ New source")));
    return;
  }
  const days = Number(daysSelect.value);
  const ticket = ++tickets.activity;
  let rows;
  try {
    rows = await get(`/sources/${enc(source)}/activity?days=${days}`);
  } catch (error) {
    if (ticket === tickets.activity) replace(container, banner("error", null, error.message));
    return;
  }
  if (ticket !== tickets.activity) return;
  if (!rows.length) {
    replace(container, empty("No message events yet",
      "Events appear once Customer.io delivers to the webhook: check that the webhook is enabled and its signing key saved on the source page.",
      h("a", { class: "btn", href: `/sources/${enc(source)}` }, "Open the source")));
    return;
  }
  const normalized = rows.map((r) => ({ ...r, day: String(r.day).slice(0, 10) }));
  const today = new Date().toISOString().slice(0, 10);
  const lastDay = normalized.reduce((max, r) => (r.day > max ? r.day : max), today);
  const labels = dayRange(days, lastDay);
  const index = new Map(labels.map((d, i) => [d, i]));
  const channels = new Map();
  for (const r of normalized) {
    if (!channels.has(r.channel)) channels.set(r.channel, new Map());
    const metrics = channels.get(r.channel);
    if (!metrics.has(r.metric)) metrics.set(r.metric, new Array(labels.length).fill(0));
    const i = index.get(r.day);
    if (i !== undefined) metrics.get(r.metric)[i] += r.events;
  }
  const order = ["sent", "delivered", "opened", "clicked", "converted", "bounced", "failed"];
  const rank = (m) => (order.includes(m) ? order.indexOf(m) : order.length);
  const cards = [...channels].sort((a, b) => total(b[1]) - total(a[1])).map(([channel, metrics]) => {
    const names = [...metrics.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
    const series = names.map((name) => ({ name, values: metrics.get(name) }));
    return h("div", { class: "chart-card", dataset: { channel } },
      h("h3", {}, h("span", {}, channel), h("span", { class: "caption" }, `${num(total(metrics))} events`)),
      h("div", { class: "chart" }, lineChart({ labels, series, title: `${channel} events per metric per day` })),
      legend(names));
  });
  replace(container, h("div", { class: "chart-grid" }, cards));
}

function total(metrics) {
  let n = 0;
  for (const values of metrics.values()) for (const v of values) n += v;
  return n;
}

// -- funnels ---------------------------------------------------------------------------------

async function loadFunnels() {
  const container = document.getElementById("funnels");
  const source = sourceSelect.value;
  if (!source) {
    replace(container, empty("No sources yet", "Funnels appear once a source receives message events."));
    return;
  }
  const ticket = ++tickets.funnels;
  let rows;
  try {
    rows = await get(`/sources/${enc(source)}/funnels?kind=${state.kind}`);
  } catch (error) {
    if (ticket === tickets.funnels) replace(container, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    return;
  }
  if (ticket !== tickets.funnels) return;
  // Every delivery is sent first, so no sends means no deliveries: rows of zeros say nothing.
  if (!rows.some((row) => row.sent)) {
    const known = rows.length ? `${num(rows.length)} ${state.kind}s are known, none with a delivery yet. ` : "";
    replace(container, h("div", { id: "funnels-empty" }, empty(`No ${state.kind} deliveries yet`,
      `${known}Funnels count the deliveries that carry a ${state.kind}_id, from the reporting webhook and from message history (the messages table); sync the ${state.kind}s table to see names.`)));
    return;
  }
  rows.sort((a, b) => (b.sent ?? 0) - (a.sent ?? 0));
  const shown = state.showAllFunnels ? rows : rows.slice(0, FUNNEL_LIMIT);
  const numCell = (row, step, i) => h("td", { class: "num", dataset: { metric: step } },
    num(row[step] ?? 0), i === 0 ? null : h("span", { class: "conv" }, pct(row[step] ?? 0, row[FUNNEL_STEPS[i - 1]] ?? 0)));
  replace(container,
    h("div", { class: "table-wrap" }, h("table", { class: "data", id: "funnel-table" },
      h("thead", {}, h("tr", {}, h("th", {}, state.kind[0].toUpperCase() + state.kind.slice(1)),
        FUNNEL_STEPS.map((step) => h("th", { class: "num" }, step)), h("th", {}, "Funnel"))),
      h("tbody", {}, shown.map((row) => h("tr", { dataset: { kind: row.kind, id: row.id } },
        h("td", {}, h("div", { class: "cell-title" }, row.name ?? h("span", { class: "muted" }, "(name unknown: sync the table)")),
          h("div", { class: "caption mono" }, `id ${row.id}`)),
        FUNNEL_STEPS.map((step, i) => numCell(row, step, i)),
        h("td", { class: "funnel-bars" }, funnelBars(row))))))),
    rows.length > shown.length
      ? h("div", { class: "panel-foot" }, h("span", { class: "caption" }, `Showing the ${shown.length} with the most sends of ${rows.length}.`),
        h("button", { type: "button", class: "btn btn-small", id: "funnels-all" }, `Show all ${rows.length}`))
      : null);
}

document.getElementById("funnel-panel").addEventListener("click", (event) => {
  const tab = event.target.closest("button[data-kind]");
  if (tab) {
    state.kind = tab.dataset.kind;
    state.showAllFunnels = false;
    for (const b of document.querySelectorAll("#funnel-panel [role=tab]")) b.setAttribute("aria-selected", String(b === tab));
    loadFunnels();
  } else if (event.target.id === "funnels-all") {
    state.showAllFunnels = true;
    loadFunnels();
  }
});
sourceSelect.addEventListener("change", () => {
  loadActivity();
  loadFunnels();
});
daysSelect.addEventListener("change", loadActivity);

// -- start -----------------------------------------------------------------------------------

async function start() {
  let sources = [];
  try {
    sources = await get("/sources");
  } catch (error) {
    replace(document.getElementById("activity"), banner("error", null, error.message));
  }
  state.sources = sources;
  replace(sourceSelect, sources.map((s) => h("option", { value: s.name }, s.name)));
  const wanted = params.get("source");
  if (wanted && sources.some((s) => s.name === wanted)) sourceSelect.value = wanted;
  const first = sourceSelect.value || "acme";
  // An example, unless the user typed a query while the sources loaded.
  if (!sqlInput.value.trim()) sqlInput.value = params.get("sql") ?? `select metric, count(*) as events\nfrom ${first}.email_events\ngroup by metric\norder by events desc`;
  const tables = await loadTableList();
  const pick = params.get("table");
  if (pick && pick.includes(".")) {
    const [s, t] = pick.split(".", 2);
    showTable(s, t);
  } else if (tables.length) {
    const preferred = tables.find((t) => t.source === sourceSelect.value) ?? tables[0];
    showTable(preferred.source, preferred.table);
  }
  loadActivity();
  loadFunnels();
}

start();
