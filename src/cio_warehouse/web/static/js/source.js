// /sources/{name}: per-table status, Sync now (per table and all) with live progress, the webhook
// panel with a loud banner when deliveries fail, and the run history.

import { get, patch, post } from "./api.js";
import { banner, empty, h, prose, replace } from "./dom.js";
import { ago, duration, frequencyLabel, METHOD_LABEL, num, until, when } from "./format.js";

const source = document.getElementById("main").dataset.source;
const base = `/sources/${encodeURIComponent(source)}`;
const alerts = document.getElementById("alerts");
const syncAll = document.getElementById("sync-all");
const runsFilter = document.getElementById("runs-table");
const pauseToggle = document.getElementById("pause-toggle");

const state = { catalog: null, config: null, tables: [], webhook: null, counts: new Map(), lastEvents: new Map(), jobs: new Map() };
let refreshTimer = null;
// Loads overlap (the refresh timer, a finished job): only the newest answer is drawn.
const tickets = { tables: 0, webhook: 0, runs: 0 };

const PHASE_BADGE = {
  queued: "badge", fetching: "badge badge-run", normalizing: "badge badge-run", loading: "badge badge-run",
  succeeded: "badge badge-ok", failed: "badge badge-err", running: "badge badge-run", interrupted: "badge badge-warn",
};

function statusBadge(text, cls) {
  return h("span", { class: cls ?? PHASE_BADGE[text] ?? "badge" }, text);
}

// What to do after a failed or interrupted run, beside the error itself.
function remedy(run) {
  if (run.status === "interrupted") {
    return "The service stopped during this sync; the table keeps its previous rows. Sync now runs it again.";
  }
  const kept = /previous rows/.test(run.error ?? "") ? "" : " Until then the table keeps the rows of its last successful sync.";
  return `What to do: fix the cause above, then click Sync now.${kept}`;
}

function showAlert(level, title, message, id) {
  const existing = id ? document.getElementById(id) : null;
  const node = banner(level, title, message);
  if (id) node.id = id;
  if (existing) existing.replaceWith(node);
  else alerts.append(node);
  return node;
}

async function loadAll() {
  try {
    const [catalog, config] = await Promise.all([state.catalog ?? get("/catalog"), get(base)]);
    state.catalog = catalog;
    state.config = config;
  } catch (error) {
    replace(document.getElementById("tables"), h("div", { class: "panel-body" }, banner("error", null,
      error.status === 404 ? `${error.message} See the list of sources.` : error.message)));
    syncAll.disabled = true;
    return;
  }
  summarize();
  await Promise.all([loadTables(), loadWebhook(), loadRuns()]);
}

function summarize() {
  const { config, catalog } = state;
  document.getElementById("source-summary").textContent =
    `Customer.io · region ${config.region.toUpperCase()} · ${config.tables.length} tables · full refresh every ${frequencyLabel(config.frequency_seconds, catalog.frequencies)}` +
    (config.api_base_url ? ` · API ${config.api_base_url}` : "") +
    ` · loads into ${config.destination}` +
    (config.destination_caveat ? ` (${config.destination_caveat})` : "");
  // Every table but the webhook's is read from the App API by a sync.
  const apiTables = config.tables.filter((t) => (catalog.tables.find((c) => c.name === t)?.sync_method ?? "webhook") !== "webhook");
  state.apiTables = apiTables;
  updateSyncAll();
  showPaused();
  if (runsFilter.options.length === 1) {
    for (const name of apiTables) runsFilter.append(h("option", { value: name }, name));
  }
}

// Sync all now waits while any sync of this source runs (this page's, the scheduler's, another
// tab's); once none runs, a "did not start" banner from that time is old news.
function updateSyncAll() {
  const busy = state.jobs.size > 0 || state.tables.some((t) => t.running);
  const none = !state.apiTables?.length;
  const paused = Boolean(state.config?.paused_at);
  syncAll.disabled = none || busy || paused;
  syncAll.title = none ? "No App API table is selected: webhook tables fill in realtime."
    : paused ? "The source is paused: resume it to sync."
    : busy ? "A sync of this source is running: wait for it to finish." : "";
  if (state.busy && !busy) document.getElementById("sync-error")?.remove();
  state.busy = busy;
}

// Paused: nothing syncs or loads; Customer.io's deliveries are still acknowledged and wait in the
// inbox (the webhook's backlog), to load on resume.
function showPaused() {
  const paused = state.config.paused_at;
  pauseToggle.disabled = false;
  pauseToggle.textContent = paused ? "Resume" : "Pause";
  pauseToggle.title = paused ? "Sync on the schedule again and load the events that waited."
    : "Stop syncs and event loading; deliveries are still accepted and kept.";
  if (paused) {
    showAlert("warning", "Paused", h("span", {},
      `Since ${when(paused)}: no sync runs and webhook events are not loaded. Customer.io's deliveries are still acknowledged and kept in the inbox (the backlog below); Resume loads them.`), "paused-banner");
  } else {
    document.getElementById("paused-banner")?.remove();
  }
}

pauseToggle.addEventListener("click", async () => {
  pauseToggle.disabled = true;
  try {
    state.config = await patch(base, { paused: !state.config.paused_at });
    summarize();
    await Promise.all([loadTables(), loadWebhook()]);
  } catch (error) {
    showAlert("error", "The source's state did not change", error.message, "pause-error");
    pauseToggle.disabled = false;
  }
});

async function loadTables() {
  const container = document.getElementById("tables");
  const ticket = ++tickets.tables;
  try {
    const [tables, counts] = await Promise.all([get(`${base}/tables`), get(`/warehouse/tables?source=${encodeURIComponent(source)}`).catch(() => [])]);
    const last = await lastEvents(tables, counts);
    if (ticket !== tickets.tables) return;
    state.tables = tables;
    state.counts = new Map(counts.map((c) => [c.table, c.rows]));
    state.lastEvents = last;
    updateSyncAll();
  } catch (error) {
    if (ticket !== tickets.tables) return;
    replace(container, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    scheduleRefresh(); // a service restarting, a dropped connection: try again, as when it works
    return;
  }
  renderTables();
  scheduleRefresh();
}

// When each event table last received a row: one read-only query over the tables that exist.
async function lastEvents(tables, counts) {
  const present = new Set(counts.filter((c) => c.rows > 0).map((c) => c.table));
  const names = tables.filter((t) => t.sync_method === "webhook" && present.has(t.name)).map((t) => t.name);
  if (!names.length) return new Map();
  const sql = names.map((name) => `select '${name}' as t, epoch(max(received_at)) as at from "${source}"."${name}"`).join(" union all ");
  try {
    const result = await post("/query", { sql, max_rows: names.length });
    return new Map(result.rows.map(([name, at]) => [name, at]));
  } catch {
    return new Map();
  }
}

function renderTables() {
  const container = document.getElementById("tables");
  const selected = state.tables.filter((t) => t.selected);
  if (!selected.length) {
    replace(container, empty("No tables selected", "Choose the tables to import in Settings.",
      h("a", { class: "btn", href: `${base}/settings` }, "Choose tables")));
    return;
  }
  const level = state.webhook?.assessment?.level;
  const webhookLive = state.config.signing_key_set && state.webhook?.registered;
  const paused = Boolean(state.config.paused_at);
  const rows = [];
  for (const table of selected) {
    const isApi = table.sync_method !== "webhook";
    const last = table.last_run;
    const success = table.last_success;
    let status;
    if (table.running) status = h("span", { class: "badge badge-run" }, h("span", { class: "spinner" }), " syncing");
    else if (!isApi && level === "error") status = statusBadge("deliveries failing", "badge badge-err");
    else if (paused) status = statusBadge("paused", "badge badge-warn");
    else if (!isApi) status = webhookLive ? statusBadge("realtime", "badge badge-ok") : statusBadge("waiting for webhook", "badge badge-warn");
    else if (!last) status = statusBadge("not synced yet", "badge");
    else status = statusBadge(last.status);
    // A full refresh's last run holds the whole table; an incremental one adds to it.
    const rowsCount = table.sync_method === "full_refresh" ? (success?.rows ?? state.counts.get(table.name)) : (state.counts.get(table.name) ?? 0);
    const lastEvent = state.lastEvents.get(table.name);
    const failed = isApi && !table.running && last && (last.status === "failed" || last.status === "interrupted");
    rows.push(h("tr", { dataset: { table: table.name, status: table.running ? "running" : (last?.status ?? "none") }, class: failed ? "has-error" : null },
      h("td", {}, h("span", { class: "mono cell-title" }, table.name), h("div", { class: "caption" }, table.description)),
      h("td", {}, h("span", { class: "badge badge-method" }, METHOD_LABEL[table.sync_method])),
      h("td", { class: "status-cell" }, status),
      h("td", { class: "nowrap", title: isApi ? when(success?.ended_at) : when(lastEvent) },
        isApi ? (success ? ago(success.ended_at) : "never") : (lastEvent ? `event ${ago(lastEvent)}` : "no events yet")),
      h("td", { class: "num rows-cell" }, num(rowsCount ?? null)),
      h("td", { class: "num nowrap" }, isApi ? duration(last?.duration ?? null) : "–"),
      h("td", { class: "nowrap", title: when(table.next_run_at) }, paused ? "paused" : isApi ? (table.running ? "running now" : until(table.next_run_at)) : "realtime"),
      h("td", { class: "num" }, isApi
        ? h("button", { type: "button", class: "btn btn-small sync-one", dataset: { table: table.name }, disabled: table.running || paused }, "Sync now")
        : ""),
    ));
    if (failed) {
      rows.push(h("tr", { class: "error-row", dataset: { errorFor: table.name } }, h("td", { colspan: 8 },
        h("div", { class: "error-text" }, `Last sync ${last.status} ${ago(last.ended_at ?? last.started_at)}: ${last.error ?? "no reason was recorded."}`),
        h("div", { class: "fix" }, remedy(last)))));
    }
  }
  const unselected = state.tables.length - selected.length;
  replace(container, h("div", { class: "table-wrap" }, h("table", { class: "data", id: "status-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Table"), h("th", {}, "Method"), h("th", {}, "Status"), h("th", {}, "Last sync"),
      h("th", { class: "num" }, "Rows"), h("th", { class: "num" }, "Duration"), h("th", {}, "Next run"), h("th", {}, ""))),
    h("tbody", {}, rows))),
  unselected ? h("div", { class: "panel-foot" }, h("span", { class: "caption" },
    `${unselected} more ${unselected === 1 ? "table is" : "tables are"} available. `, h("a", { href: `${base}/settings` }, "Choose tables"))) : null);
}

async function loadWebhook() {
  const container = document.getElementById("webhook");
  const ticket = ++tickets.webhook;
  let hook;
  try {
    hook = await get(`${base}/webhook`);
  } catch (error) {
    if (ticket === tickets.webhook) replace(container, banner("error", null, error.message));
    return;
  }
  if (ticket !== tickets.webhook) return;
  state.webhook = hook;
  const health = hook.health ?? {};
  const remote = hook.remote;
  const byReason = Object.entries(health.rejected_by_reason ?? {}).map(([k, v]) => `${k.replaceAll("_", " ")}: ${num(v)}`).join(", ");
  let enabled;
  if (!hook.registered) enabled = "–";
  else if (remote) enabled = remote.disabled ? "no (disabled)" : "yes";
  else enabled = "unknown";
  const fact = (label, value, id, small = false) => h("div", {}, h("dt", {}, label), h("dd", { id, class: small ? "small" : null }, value));
  const level = hook.assessment?.level ?? "ok";
  replace(container,
    banner(level === "ok" ? "ok" : level, null, h("span", { id: "webhook-assessment" }, prose(hook.assessment?.message ?? ""))),
    h("dl", { class: "facts" },
      fact("Registered", hook.registered ? `yes${remote?.id ? ` (id ${remote.id})` : ""}` : "no", "wh-registered"),
      fact("Enabled", enabled, "wh-enabled"),
      fact("Signing key", state.config.signing_key_set ? "stored" : "missing", "wh-key"),
      fact("Last delivery", health.last_delivery_at ? ago(health.last_delivery_at) : "never", "wh-last"),
      fact("Deliveries, last hour", health.deliveries_last_hour == null ? "unknown" : num(health.deliveries_last_hour), "wh-hour"),
      fact("Stored events", num(health.stored ?? 0), "wh-stored"),
      fact("Duplicates", num(health.duplicates ?? 0), "wh-duplicates"),
      fact("Rejected", [num(health.rejected ?? 0), byReason ? h("span", { class: "fact-note" }, byReason) : null], "wh-rejected"),
      fact("Dropped", num(health.dropped ?? 0), "wh-dropped"),
      fact("Dead letters", num(health.dead_letters ?? 0), "wh-dead"),
      fact("Backlog", num(health.backlog ?? 0), "wh-backlog"),
    ),
    h("p", { class: "caption" }, "URL: ", h("code", { id: "wh-url" }, hook.url ?? "not registered")),
    hook.remote_error ? banner("warning", "Customer.io's side could not be read", hook.remote_error) : null,
    hook.missing_notice ? banner("warning", "Not subscribed to every event", h("span", { id: "wh-missing" }, hook.missing_notice)) : null,
    hook.missed?.length
      ? h("div", { id: "wh-missed" }, hook.missed.map((day) => banner("warning", "Missed deliveries",
        h("span", { class: "missed-day", dataset: { day: day.day } }, prose(day.message)))))
      : null,
    hook.loader?.last_error
      ? banner("error", "Events are not reaching the warehouse",
        `${hook.loader.last_error} They wait in the inbox (backlog above) and load once the warehouse takes them` +
        (hook.loader.retry_at ? `; next attempt ${until(hook.loader.retry_at)}.` : "."))
      : null,
  );
  const loud = document.getElementById("webhook-alarm");
  if (level === "error") {
    const alarm = showAlert("error", "Webhook deliveries are failing", h("span", {},
      prose(hook.assessment.message), " ", h("a", { href: `${base}/settings#webhook` }, "Fix it in the webhook settings.")), "webhook-alarm");
    alarm.classList.add("banner-loud");
  } else if (loud) {
    loud.remove();
  }
  if (state.tables.length) renderTables();
}

async function loadRuns() {
  const container = document.getElementById("runs");
  const table = runsFilter.value;
  const ticket = ++tickets.runs;
  let runs;
  try {
    runs = await get(`${base}/runs?limit=50${table ? `&table=${encodeURIComponent(table)}` : ""}`);
  } catch (error) {
    if (ticket === tickets.runs) replace(container, h("div", { class: "panel-body" }, banner("error", null, error.message)));
    return;
  }
  if (ticket !== tickets.runs) return;
  if (!runs.length) {
    replace(container, empty("No syncs yet", "Click Sync all now to load the full-refresh tables, or wait for the schedule."));
    return;
  }
  replace(container, h("div", { class: "table-wrap" }, h("table", { class: "data compact", id: "runs-list" },
    h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Table"), h("th", {}, "Status"), h("th", { class: "num" }, "Rows"),
      h("th", { class: "num" }, "Pages"), h("th", { class: "num" }, "Retries"), h("th", { class: "num" }, "Duration"), h("th", {}, "Error"))),
    h("tbody", {}, runs.map((run) => h("tr", { dataset: { run: run.id } },
      h("td", { class: "nowrap", title: when(run.started_at) }, when(run.started_at)),
      h("td", { class: "mono" }, run.table),
      h("td", {}, statusBadge(run.status)),
      h("td", { class: "num" }, num(run.rows)),
      h("td", { class: "num" }, num(run.pages)),
      h("td", { class: "num" }, num(run.retries)),
      h("td", { class: "num nowrap" }, duration(run.duration)),
      h("td", { class: "error-text" }, run.error ?? ""),
    ))))));
}

// -- sync jobs ---------------------------------------------------------------------------------

async function startSync(tables) {
  // The outcome of an earlier sync is old news once another starts.
  for (const old of alerts.querySelectorAll('[id^="job-"]')) old.remove();
  try {
    const job = await post(`${base}/sync`, tables ? { tables } : {});
    track(job);
    await loadTables();
  } catch (error) {
    showAlert("error", "The sync did not start", error.message, "sync-error");
    await loadTables(); // it may have refused because another sync runs: show that one
  }
}

function track(job) {
  document.getElementById("sync-error")?.remove();
  state.jobs.set(job.id, job);
  renderJobs();
  const poll = async () => {
    let current;
    try {
      current = await get(`/jobs/${job.id}`);
    } catch (error) {
      state.jobs.delete(job.id);
      showAlert("warning", "Lost track of the sync", `${error.message} Its outcome shows in the table list once it ends.`, `job-lost-${job.id}`);
      renderJobs();
      return;
    }
    state.jobs.set(job.id, current);
    renderJobs();
    if (current.finished_at === null || current.finished_at === undefined) {
      setTimeout(poll, 600);
      return;
    }
    finished(current);
  };
  setTimeout(poll, 300);
}

function finished(job) {
  state.jobs.delete(job.id);
  renderJobs();
  const outcomes = job.outcomes ?? [];
  const ok = outcomes.filter((o) => o.status === "succeeded");
  const took = duration((job.finished_at ?? 0) - job.started_at);
  if (job.error) {
    showAlert("error", "The sync failed", job.error, `job-${job.id}`);
  } else if (ok.length === outcomes.length) {
    showAlert("ok", null, h("span", { class: "job-done", dataset: { job: job.id } },
      `Synced ${ok.length} of ${outcomes.length} tables (${num(ok.reduce((n, o) => n + (o.rows ?? 0), 0))} rows) in ${took}.`), `job-${job.id}`);
  } else {
    const failed = outcomes.filter((o) => o.status !== "succeeded").map((o) => o.table).join(", ");
    showAlert("error", `Synced ${ok.length} of ${outcomes.length} tables; ${failed} failed`,
      "The failed tables keep their previous rows; their errors and what to do are in the table list below.", `job-${job.id}`);
  }
  loadTables();
  loadRuns();
}

function renderJobs() {
  const panel = document.getElementById("job-panel");
  const jobs = [...state.jobs.values()];
  updateSyncAll();
  panel.hidden = jobs.length === 0;
  if (!jobs.length) return;
  const progress = jobs.flatMap((job) => (job.progress?.length ? job.progress : job.tables.map((table) => ({ table, phase: "queued", rows: 0, pages: 0, retries: 0 }))));
  const done = progress.filter((p) => p.phase === "succeeded" || p.phase === "failed").length;
  document.getElementById("job-caption").textContent =
    `${done} of ${progress.length} tables done; rows count up while pages arrive (paced under 10 requests per second).`;
  replace(document.getElementById("job-progress"), progress.map((p) => h("div", { class: "progress-item", dataset: { table: p.table, phase: p.phase } },
    h("div", {}, h("div", { class: "mono cell-title" }, p.table),
      h("div", { class: "caption" }, `${num(p.rows)} rows · ${num(p.pages)} pages${p.retries ? ` · ${num(p.retries)} retries` : ""}`)),
    h("div", {}, ["succeeded", "failed", "queued"].includes(p.phase) ? null : h("span", { class: "spinner" }), " ", statusBadge(p.phase)))));
}

// While anything runs that this page did not start (the scheduler, another tab), refresh.
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const running = state.tables.some((t) => t.running);
  refreshTimer = setTimeout(async () => {
    await Promise.all([loadTables(), loadWebhook(), running ? loadRuns() : null]);
  }, running ? 1500 : 5000);
}

syncAll.addEventListener("click", () => startSync(null));
document.getElementById("tables").addEventListener("click", (event) => {
  const button = event.target.closest("button.sync-one");
  if (button) {
    button.disabled = true;
    startSync([button.dataset.table]);
  }
});
runsFilter.addEventListener("change", loadRuns);

await loadAll();
const jobId = new URLSearchParams(location.search).get("job");
if (jobId && /^\d+$/.test(jobId)) {
  try {
    const job = await get(`/jobs/${jobId}`);
    if (job.finished_at === null || job.finished_at === undefined) track(job);
    else finished(job);
  } catch {
    // A job from before a restart: the table list already shows its outcome.
  }
}
