// Formatting: numbers, times (unix seconds from the API), durations, frequencies.

const NUMBER = new Intl.NumberFormat("en-US");

export const num = (n) => (n === null || n === undefined ? "–" : NUMBER.format(n));

export function when(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const date = new Date(seconds * 1000);
  // The browser's zone, named: a time without one is ambiguous beside the API's UTC days.
  return date.toLocaleString("en-GB", { year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const delta = Date.now() / 1000 - seconds;
  if (delta < -5) return `in ${span(-delta)}`;
  if (delta < 5) return "just now";
  return `${span(delta)} ago`;
}

export function until(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const delta = seconds - Date.now() / 1000;
  if (delta <= 0) return "due now";
  return `in ${span(delta)}`;
}

export function span(seconds) {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${(seconds / 3600).toFixed(seconds < 36000 ? 1 : 0).replace(/\.0$/, "")} h`;
  return `${(seconds / 86400).toFixed(1).replace(/\.0$/, "")} d`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function frequencyLabel(seconds, frequencies) {
  const found = frequencies?.find((f) => f.seconds === seconds);
  return found ? found.label : span(seconds);
}

export const METHOD_LABEL = { full_refresh: "Full refresh", incremental: "Incremental", webhook: "Webhook" };

export function pct(part, whole) {
  if (!whole) return "–";
  return `${((100 * part) / whole).toFixed(1).replace(/\.0$/, "")}%`;
}
