// The session and the API calls of the customer app.
//
// The token lives in sessionStorage only: it ends with the tab, never travels in a URL and is
// never written where other tabs or later visits would find it.

const KEY = "order-tracker.session";

/** The stored session ({token, user, expires_at}), or null once it is gone or expired. */
export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY));
    if (session?.token && !(Date.parse(session.expires_at) <= Date.now())) return session;
  } catch {
    // A damaged entry is the same as none.
  }
  sessionStorage.removeItem(KEY);
  return null;
}

export function saveSession(session) {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

/** A refused call: `status` 0 when the server could not be reached; `body` the envelope;
 * `retryAfter` the seconds a 429 asks to wait (its Retry-After header), else null. */
export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
    this.retryAfter = retryAfter;
  }
}

let unauthorized = () => {};
/** What to do when the server no longer accepts the current session's token. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** Calls `/api{path}` with the session's token; answers the envelope or throws ApiError. */
export async function api(method, path, body, lang = "en") {
  const token = loadSession()?.token;
  const headers = { Accept: "application/json", "Accept-Language": lang };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, null);
  }
  const envelope = await response.json().catch(() => null);
  if (response.ok && envelope?.success !== false) return envelope;
  // Only a refusal of the token still in use ends the session: an answer to a call made with
  // an older token (before 2FA replaced it, or after signing out) says nothing about this one.
  if (response.status === 401 && token && token === loadSession()?.token) unauthorized();
  const wait = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  throw new ApiError(response.status, envelope, Number.isFinite(wait) ? wait : null);
}
