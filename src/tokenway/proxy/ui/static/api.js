// The UI's calls to /ui/api: the session cookie goes by itself; every change carries the
// page's CSRF token. An expired session sends the browser back to the login page.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function get(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== "" && value !== null && value !== undefined) query.set(name, value);
  }
  const suffix = query.toString() ? "?" + query : "";
  return call("GET", path + suffix);
}

export async function post(path, body) {
  return call("POST", path, body);
}

async function call(method, path, body) {
  const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET") {
    init.headers["content-type"] = "application/json";
    init.headers["x-csrf-token"] = csrf;
    init.body = JSON.stringify(body ?? {});
  }
  let response;
  try {
    response = await fetch("/ui/api" + path, init);
  } catch (err) {
    throw new ApiError(0, "The proxy cannot be reached: " + err.message, "network");
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401) {
    window.location.assign("/ui/login?m=expired");
    throw new ApiError(401, "Your session has expired.", "session_expired");
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    throw new ApiError(response.status, error.message || "HTTP " + response.status, error.code);
  }
  return data;
}
