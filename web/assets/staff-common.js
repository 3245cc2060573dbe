// What the staff pages (/staff, /driver, /analytics) share: signing in (the same tab session as
// the customer app: the token in sessionStorage), the role check through GET /api/me, the header
// (navigation by role, live state, language, sign out), notices, and the status machine.

import { translator, translatePage, STATUS, chooseLanguage, currentLanguage } from "./i18n.js";
import { h } from "./dom.js";
import { STRINGS } from "./staff-strings.js";
import { api, ApiError, loadSession, saveSession, clearSession, onUnauthorized } from "./app-api.js";

export { ApiError, h };
export { formatTime } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** The page's language, translator and signed-in user; `t` changes with the language. */
export const page = { lang: currentLanguage(), t: translator(STRINGS), me: null };
export const t = (key, vars) => page.t(key, vars);

export const call = (method, path, body) => api(method, path, body, page.lang);
export const statusName = (status) => (STATUS[page.lang] || STATUS.en)[status] || status;

// ---- The status machine, as src/domain/status.rs `check_transition` has it for staff ----

/** The statuses in order; `cancelled` stands apart. */
export const FLOW = ["pending", "confirmed", "preparing", "ready", "shipped", "delivered"];
export const FINAL = ["delivered", "cancelled"];

/** Where staff may move an order that is `from`: forward only (skipping allowed), cancel until
 *  it is shipped, nothing once final. (A same-status update with notes is legal too; the pages
 *  do not offer it.) The server has the last word. */
export function staffMoves(from) {
  const at = FLOW.indexOf(from);
  if (at < 0 || FINAL.includes(from)) return [];
  const moves = FLOW.slice(at + 1);
  if (at < FLOW.indexOf("shipped")) moves.push("cancelled");
  return moves;
}

// ---- Notices and errors ----

export function notice(text, isError = false) {
  const el = $("notice");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.classList.toggle("hidden", !text);
}

export function errorText(error) {
  if (!(error instanceof ApiError)) return error?.message || t("failed", { status: "?" });
  if (error.status === 0) return t("offline");
  const fields = Object.values(error.body.errors || {}).flat();
  return fields.length ? fields.join(" ") : error.body.message || t("failed", { status: error.status });
}

/** Runs `work` with `button` disabled; a failure is shown in `where` (an element) or the notice. */
export async function busy(button, work, where = null) {
  button.disabled = true;
  if (where) where.classList.add("hidden");
  notice("");
  try {
    await work();
  } catch (error) {
    if (where) {
      where.textContent = errorText(error);
      where.classList.remove("hidden");
    } else {
      notice(errorText(error), true);
    }
  } finally {
    button.disabled = false;
  }
}

/** A form moving an order along the status machine: the allowed statuses (one button when there
 *  is only one) and, for a driver moving it to `delivered`, the delivery code field.
 *  `done(status)` runs after the server accepted the move. */
export function moveForm(order, done = () => {}) {
  const moves = staffMoves(order.status);
  if (!moves.length) return null;
  const select = h("select", { class: "move-to", "aria-label": t("moveTo"), "data-testid": "move-to" },
    ...moves.map((status) => h("option", { value: status, text: statusName(status) })));
  const code = h("input", {
    class: "code-input", name: "delivery_code", inputmode: "numeric", maxlength: "4", autocomplete: "off",
    placeholder: t("deliveryCodeHint"), "data-testid": "delivery-code",
  });
  const codeField = h("label", { class: "code-field" }, h("span", { text: t("deliveryCode") }), code);
  const single = moves.length === 1;
  const button = h("button", {
    type: "submit", class: "move", "data-testid": "move",
    text: single ? t("moveOnly", { status: statusName(moves[0]) }) : t("move"),
  });
  const problem = h("p", { class: "form-error error hidden", role: "alert", "data-testid": "move-error" });
  const form = h("form", { class: "move-form" },
    codeField, h("div", { class: "row" }, single ? null : select, button), problem);
  const chosen = () => (single ? moves[0] : select.value);
  // Drivers give the customer's code (dispatch.require_delivery_code); admins need none.
  const asksCode = page.me?.role === "driver";
  const sync = () => codeField.classList.toggle("hidden", !asksCode || chosen() !== "delivered");
  select.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(button, async () => {
      const status = chosen();
      const body = { status };
      if (asksCode && status === "delivered" && code.value.trim()) body.delivery_code = code.value.trim();
      try {
        await call("PUT", `/orders/${order.id}/status`, body);
      } catch (error) {
        throw deliveryError(error, status, Boolean(body.delivery_code));
      }
      done(status);
    }, problem);
  });
  return form;
}

/** A refused delivery in the driver's words: a wrong or missing code (422), or the wait after
 *  too many wrong ones (429 with Retry-After). */
function deliveryError(error, status, gaveCode) {
  if (!(error instanceof ApiError) || status !== "delivered") return error;
  if (error.status === 429) return new Error(t("codeWait", { seconds: error.retryAfter ?? "?" }));
  if (error.status === 422) return new Error(t(gaveCode ? "wrongCode" : "codeNeeded"));
  return error;
}

// ---- The live indicator ----

export function setLive(state) {
  const el = $("live-state");
  el.classList.remove("hidden");
  el.dataset.state = state;
  el.dataset.i18n = state;
  el.textContent = t(state);
}

// ---- Signing in and the role check ----

const NAV = [
  { id: "nav-board", roles: ["admin", "driver"] },
  { id: "nav-deliveries", roles: ["driver"] },
  { id: "nav-analytics", roles: ["admin"] },
];

/** The session has ended (401, or a socket closed with 4001/4002): sign in again, on a page
 *  freshly loaded so that no stream or timer of the old session lives on. */
export function endSession() {
  clearSession();
  location.replace(`${location.pathname}?ended=1`);
}

function setLanguage(lang, onLanguage) {
  chooseLanguage(lang);
  page.lang = currentLanguage();
  page.t = translator(STRINGS, page.lang);
  translatePage(page.t);
  for (const code of ["en", "id"]) $(`lang-${code}`).setAttribute("aria-pressed", String(code === page.lang));
  const live = $("live-state");
  if (live.dataset.state) live.textContent = t(live.dataset.state);
  if (page.me) onLanguage();
}

function showSignIn() {
  $("signin").classList.remove("hidden");
  $("signin-email").focus();
}

/** Starts a staff page for `roles`: signs in if needed, asks GET /api/me who this is, then runs
 *  `start(me)`, or says the account has no access. `onLanguage()` re-renders after a switch. */
export function startStaffPage({ roles, start, onLanguage = () => {} }) {
  onUnauthorized(endSession);
  setLanguage(page.lang, onLanguage);
  for (const code of ["en", "id"]) {
    $(`lang-${code}`).addEventListener("click", () => {
      setLanguage(code, onLanguage);
      if (page.me) call("PATCH", "/me", { locale: code }).catch(() => {});
    });
  }
  $("sign-out").addEventListener("click", () => {
    clearSession();
    location.replace(location.pathname);
  });
  if (new URLSearchParams(location.search).has("ended")) {
    history.replaceState(null, "", location.pathname);
    notice(t("sessionEnded"), true);
  }

  async function check() {
    $("loading").classList.remove("hidden");
    try {
      const { data: me } = await call("GET", "/me");
      page.me = me;
      $("sign-out").classList.remove("hidden");
      $("nav").classList.remove("hidden");
      for (const link of NAV) $(link.id).classList.toggle("hidden", !link.roles.includes(me.role));
      for (const link of document.querySelectorAll("#nav a")) {
        if (link.getAttribute("href") === location.pathname) link.setAttribute("aria-current", "page");
      }
      if (!roles.includes(me.role)) {
        const names = roles.map((role) => t(role === "admin" ? "roleAdmin" : "roleDriver")).join(t("or"));
        $("no-access-text").textContent = t("noAccess", { roles: names, name: me.name, role: me.role });
        $("no-access").classList.remove("hidden");
        return;
      }
      $("page").classList.remove("hidden");
      await start(me);
    } catch (error) {
      notice(errorText(error), true);
    } finally {
      $("loading").classList.add("hidden");
    }
  }

  $("signin").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    busy(form.querySelector("button[type=submit]"), async () => {
      const body = { email: form.email.value.trim(), password: form.password.value };
      const askingCode = !$("signin-totp-field").classList.contains("hidden");
      if (askingCode) body.totp = form.totp.value.replace(/\s/g, "");
      try {
        const { data } = await call("POST", "/login", body);
        saveSession({ token: data.token, user: data.user, expires_at: data.expires_at });
      } catch (error) {
        if (error.status !== 401 || error.body.message !== "totp_required") throw error;
        $("signin-totp-field").classList.remove("hidden");
        form.totp.required = true;
        form.totp.focus();
        notice(t("totpNeeded"));
        return;
      }
      form.reset();
      $("signin").classList.add("hidden");
      await check();
    });
  });

  if (loadSession()) check();
  else showSignIn();
}
