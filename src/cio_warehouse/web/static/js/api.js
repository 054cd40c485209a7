// The JSON API client: same-origin session cookie, CSRF header on writes, one error shape.

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class ApiError extends Error {
  constructor(message, { status = 0, field = null, body = null } = {}) {
    super(message);
    this.status = status;
    this.field = field;
    this.body = body;
  }
}

export async function api(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError("The cio-warehouse service does not answer: check that `cio-warehouse serve` is running, then reload.");
  }
  if (response.status === 401) {
    // The session expired: log in again and come back here.
    window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    throw new ApiError("Your session ended: log in again.", { status: 401 });
  }
  if (response.status === 204) return null;
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string"
      ? data.error
      : `The service answered HTTP ${response.status} to ${method} ${path}; see its log for the cause.`;
    throw new ApiError(message, { status: response.status, field: data?.field ?? null, body: data });
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const patch = (path, body) => api("PATCH", path, body);
export const del = (path) => api("DELETE", path);
