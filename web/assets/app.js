// The customer app: sign in, orders with live statuses, sharing, the inbox, two-factor login.
// Views switch on the URL's hash (#/orders/12) so the back button works; nothing secret is
// ever in the URL.

import { LiveStream } from "./live.js";
import { h } from "./dom.js";
import { translator, translatePage, STATUS, formatTime, chooseLanguage, currentLanguage } from "./i18n.js";
import { STRINGS } from "./app-strings.js";
import { api, ApiError, loadSession, saveSession, clearSession, onUnauthorized } from "./app-api.js";
import { DeliveryMap } from "./map.js";

let lang = currentLanguage();
let t = translator(STRINGS, lang);
let session = loadSession();

/** Orders seen in the list or opened, by id: their newest known {seq, status}. */
const orders = new Map();
const FINAL = ["delivered", "cancelled"];
/** The server closes a socket that sends over 120 frames a minute; resubscribing stays below. */
const MAX_FOLLOWED = 60;
let ordersPage = 1;
/** The open order: its id, the last timeline seq shown, and events that came while loading. */
let detail = null;
let inboxLoaded = false;
let unread = 0;
let orderLive = null;
let userLive = null;
const liveStates = {};
/** A two-factor setup waiting for its first code; survives re-rendering the account view. */
let totpSetup = null;

const $ = (id) => document.getElementById(id);
/** The open order's map: the driver's position and the destination while it is on its way. */
const detailMap = new DeliveryMap($("detail-map"));

/** Authenticator apps show codes as "123 456"; a pasted one keeps the space. */
const digits = (code) => code.replace(/\s/g, "");
const call = (method, path, body) => api(method, path, body, lang);
const statusName = (status) => STATUS[lang][status] || status;

function statusBadge(status, orderId) {
  return h("span", {
    class: "status", "data-status": status, "data-status-of": orderId, "data-testid": "order-status",
    text: statusName(status),
  });
}

function notice(text, isError = false) {
  const el = $("notice");
  el.textContent = text;
  el.classList.toggle("error", isError);
  el.classList.toggle("hidden", !text);
}

function errorText(error) {
  if (!(error instanceof ApiError)) return t("failed", { status: "?" });
  if (error.status === 0) return t("offline");
  const fields = Object.values(error.body.errors || {}).flat();
  return fields.length ? fields.join(" ") : error.body.message || t("failed", { status: error.status });
}

/** Runs `work` with `button` disabled (no double submits); a failure becomes the notice. */
async function busy(button, work) {
  button.disabled = true;
  notice("");
  try {
    await work();
  } catch (error) {
    notice(errorText(error), true);
  } finally {
    button.disabled = false;
  }
}

function show(viewId) {
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("hidden", view.id !== viewId);
  const current = { "orders-view": "nav-orders", "order-detail": "nav-orders", "inbox-view": "nav-inbox", "account-view": "nav-account" }[viewId];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.id === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// ---- Session ----

function signIn({ token, expires_at, user }) {
  session = { token, user, expires_at };
  saveSession(session);
  $("nav").classList.remove("hidden");
  startStreams();
  if (/^#\/(login|register)?$/.test(location.hash) || !location.hash) location.hash = "#/orders";
  else route();
}

function signOut(messageKey) {
  stopStreams();
  clearSession();
  session = null;
  orders.clear();
  detail = null;
  totpSetup = null;
  inboxLoaded = false;
  setUnread(0);
  $("orders").replaceChildren();
  $("inbox").replaceChildren();
  $("nav").classList.add("hidden");
  history.replaceState(null, "", "#/login");
  route();
  if (messageKey) notice(t(messageKey), messageKey === "sessionEnded");
}

onUnauthorized(() => signOut("sessionEnded"));

// ---- Live streams ----

function startStreams() {
  stopStreams();
  const protocols = ["order-tracker", `bearer.${session.token}`];
  const userTopic = `user:${session.user.id}`;
  const onEnd = () => signOut("sessionEnded");
  orderLive = new LiveStream({
    path: () => "/ws", protocols, onEvent: onOrderEvent, onSignal: onOrderSignal, onEnd,
    onState: (s) => setLive("orders", s),
  });
  for (const id of orders.keys()) watch(id, detail?.id === id);
  // The inbox resumes with `since` so a device that was away gets what it missed, once.
  userLive = new LiveStream({
    path: (last) => "/api/ws" + (last.has(userTopic) ? `?since=${last.get(userTopic)}` : ""),
    protocols, onEvent: onUserEvent, onEnd, onState: (s) => setLive("user", s),
  });
  orderLive.start();
  userLive.start();
}

function stopStreams() {
  orderLive?.stop();
  userLive?.stop();
  orderLive = userLive = null;
  for (const key of Object.keys(liveStates)) delete liveStates[key];
  setLive();
}

function setLive(stream, state) {
  if (stream) liveStates[stream] = state;
  const states = Object.values(liveStates);
  const shown = states.includes("reconnecting") ? "reconnecting" : states.length === 2 ? "live" : "connecting";
  const el = $("live-state");
  el.dataset.state = shown;
  el.textContent = t(shown);
}

/** Records a read of `order`, unless a live event already told something newer. */
function remember(order) {
  const known = orders.get(order.id);
  if (!known || order.seq > known.seq) orders.set(order.id, { seq: order.seq, status: order.status });
  watch(order.id);
}

/** Follows an order from its known seq: every later change arrives, none twice. Final orders
 *  never change; a long list follows only its first open orders, the opened one always. */
function watch(id, always = false) {
  const topic = `order:${id}`;
  const known = orders.get(id);
  if (!orderLive || orderLive.framed.has(topic) || FINAL.includes(known.status)) return;
  if (always || orderLive.framed.size < MAX_FOLLOWED) orderLive.follow(topic, known.seq);
}

function onOrderEvent(frame) {
  if (!frame.type.startsWith("order.")) return;
  const id = Number(frame.order_id);
  const known = orders.get(id);
  if (known && frame.seq > known.seq) {
    Object.assign(known, { seq: frame.seq, status: frame.status });
    for (const el of document.querySelectorAll(`[data-status-of="${id}"]`)) {
      el.dataset.status = frame.status;
      el.textContent = statusName(frame.status);
    }
  }
  if (detail?.id === id) {
    const entry = {
      seq: frame.seq, status: frame.status, notes: frame.notes, updated_by: frame.updated_by,
      created_at: frame.updated_at, change: frame.change, driver: frame.driver,
    };
    const fresh = !detail.loading && frame.seq >= detail.seq;
    if (detail.loading) detail.early.push(entry);
    else if (frame.type === "order.status") addTimeline(entry);
    const status = orders.get(id)?.status ?? frame.status;
    showCancel(status);
    if (fresh) {
      detail.estimated_time = frame.estimated_time ?? null;
      if (frame.location !== undefined) detail.location = frame.location;
      showTimes();
    }
    showDelivery(status);
  }
}

/** A driver's position for the open order: not numbered, newest wins, maybe a new estimate. */
function onOrderSignal(frame) {
  if (frame.type !== "order.location" || !detail || detail.loading || Number(frame.order_id) !== detail.id) return;
  detail.location = { lat: frame.lat, lng: frame.lng, accuracy: frame.accuracy, at: frame.at };
  if (frame.estimated_time !== undefined) detail.estimated_time = frame.estimated_time;
  showTimes();
  showDelivery(orders.get(detail.id)?.status);
}

function onUserEvent(frame) {
  if (frame.type === "notification.unread") setUnread(frame.unread);
  else if (frame.type === "notification") {
    setUnread(unread + 1);
    if (inboxLoaded) {
      $("inbox").prepend(notificationItem({ ...frame, read_at: null }));
      $("inbox-empty").classList.add("hidden");
    }
  } else if (frame.type === "notification.read") {
    setUnread(frame.unread);
    for (const li of $("inbox").children) {
      if (frame.all || frame.ids.includes(Number(li.dataset.notificationId))) markItemRead(li);
    }
  }
}

function setUnread(count) {
  unread = Math.max(0, count);
  const badge = $("inbox-badge");
  badge.textContent = String(unread);
  badge.classList.toggle("hidden", unread === 0);
  badge.setAttribute("aria-label", t("unreadLabel", { count: unread }));
}

// ---- Views ----

function route() {
  notice("");
  const [, view, id] = location.hash.split("/");
  if (!session) {
    show("auth-view");
    $("register-form").classList.toggle("hidden", view !== "register");
    $("login-form").classList.toggle("hidden", view === "register");
    return;
  }
  if (detail && !(view === "orders" && id)) detail = null;
  if (view === "orders" && /^\d+$/.test(id || "")) return showDetail(Number(id));
  if (view === "inbox") return showInbox();
  if (view === "account") return showAccount();
  return showOrders();
}

async function showOrders(page = 1) {
  show("orders-view");
  const mine = session;
  try {
    const { data, meta } = await call("GET", `/orders?per_page=20&page=${page}`);
    if (session !== mine) return;
    if (page === 1) $("orders").replaceChildren();
    ordersPage = page;
    for (const order of data) {
      remember(order);
      // Orders placed since page 1 was read push older ones onto the next page a second time.
      if (!$("orders").querySelector(`[data-order-id="${order.id}"]`)) $("orders").append(orderItem(order));
    }
    $("orders-empty").classList.toggle("hidden", $("orders").children.length > 0);
    $("orders-more").classList.toggle("hidden", !(meta && meta.current_page < meta.last_page));
  } catch (error) {
    notice(errorText(error), true);
  }
}

function orderItem(order) {
  return h("li", { class: "order", "data-order-id": order.id },
    h("a", { href: `#/orders/${order.id}` },
      h("span", { class: "order-number", text: order.order_number }),
      statusBadge(orders.get(order.id)?.status || order.status, order.id),
      h("span", { class: "order-items", text: order.items || order.description || "" }),
      h("time", { class: "muted", datetime: order.created_at, text: formatTime(order.created_at, lang) })));
}

async function showDetail(id) {
  show("order-detail");
  detail = { id, seq: 0, loading: true, early: [], destination: null, location: null, code: null };
  $("order-detail").dataset.detailId = id;
  for (const el of ["share-box", "cancel-ask", "cancel-button", "detail-code", "detail-map-box"]) $(el).classList.add("hidden");
  detailMap.reset();
  $("share-url").value = "";
  $("timeline").replaceChildren();
  for (const el of ["detail-number", "detail-status", "detail-items", "detail-location", "detail-times"]) $(el).replaceChildren();
  try {
    const [{ data: order }, { data: entries }] = await Promise.all([
      call("GET", `/orders/${id}`), call("GET", `/orders/${id}/history`),
    ]);
    if (detail?.id !== id) return;
    remember(order);
    watch(id, true);
    const status = orders.get(id).status;
    $("detail-number").textContent = order.order_number;
    $("detail-status").replaceChildren(statusBadge(status, id));
    $("detail-items").textContent = order.items || order.description || "";
    $("detail-location").textContent = order.delivery_location ? t("deliverTo", { place: order.delivery_location }) : "";
    Object.assign(detail, {
      created_at: order.created_at,
      estimated_time: order.estimated_time,
      code: order.delivery_code ?? null,
      destination: Number.isFinite(order.delivery_lat) && Number.isFinite(order.delivery_lng)
        ? { lat: order.delivery_lat, lng: order.delivery_lng } : null,
      location: order.location ?? null,
    });
    showTimes();
    detail.loading = false;
    for (const entry of [...entries, ...detail.early]) addTimeline(entry);
    showCancel(status);
    showDelivery(status);
  } catch (error) {
    notice(errorText(error), true);
  }
}

function addTimeline(entry) {
  // History and live events overlap while the page loads; seq says which are new.
  if (entry.seq <= detail.seq) return;
  detail.seq = entry.seq;
  // A change of driver keeps the status; it says who brings the order instead.
  const assigned = entry.change === "assigned";
  $("timeline").append(h("li", { "data-seq": entry.seq, "data-change": entry.change || "status" },
    h("div", { class: "row" },
      h("span", { class: "status", "data-status": entry.status, text: statusName(entry.status) }),
      h("time", { class: "muted", datetime: entry.created_at, text: formatTime(entry.created_at, lang) })),
    assigned && h("p", { class: "note", text: entry.driver ? t("driverAssigned", { name: entry.driver.name }) : t("driverUnassigned") }),
    entry.notes && h("p", { class: "note", text: entry.notes }),
    entry.updated_by && h("p", { class: "note muted", text: t("by", { name: entry.updated_by }) })));
}

function showTimes() {
  $("detail-times").textContent = [t("placed", { time: formatTime(detail.created_at, lang) }),
    detail.estimated_time && t("eta", { time: formatTime(detail.estimated_time, lang) })].filter(Boolean).join(" · ");
}

/** The delivery code until the order is done, and the map while it is on its way. */
function showDelivery(status) {
  if (!detail || detail.loading) return;
  const done = FINAL.includes(status);
  $("detail-code").classList.toggle("hidden", !detail.code || done);
  $("detail-code-value").textContent = detail.code || "";
  if (status !== "shipped") detail.location = null;
  const mapped = status === "shipped" && Boolean(detail.destination || detail.location);
  $("detail-map-box").classList.toggle("hidden", !mapped);
  const at = mapped && detail.location?.at;
  $("detail-map-time").textContent = at
    ? t("positionAt", { time: new Date(at).toLocaleTimeString(lang === "id" ? "id-ID" : "en-GB") }) : "";
  detailMap.labels = { driver: t("mapDriver"), destination: t("mapDestination") };
  if (mapped) detailMap.show(detail.destination, detail.location);
  else detailMap.reset();
}

function showCancel(status) {
  // The owner may cancel only before the kitchen starts (the server has the last word).
  const cancellable = status === "pending" || status === "confirmed";
  $("cancel-button").classList.toggle("hidden", !cancellable);
  if (!cancellable) $("cancel-ask").classList.add("hidden");
}

async function share() {
  const { data } = await call("POST", `/orders/${detail.id}/share-links`);
  const url = data.url.startsWith("/") ? location.origin + data.url : data.url;
  $("share-url").value = url;
  $("share-box").classList.remove("hidden");
  $("share-url").select();
  try {
    if (!navigator.clipboard) throw new Error("no clipboard");
    await navigator.clipboard.writeText(url);
    notice(t("copied"));
  } catch {
    // Refused (no focus, no permission, plain http): the selected field is there to copy.
    notice(t("copyByHand"));
  }
}

async function showInbox() {
  show("inbox-view");
  try {
    const mine = session;
    const { data } = await call("GET", "/notifications?per_page=30");
    if (session !== mine) return;
    $("inbox").replaceChildren(...data.map(notificationItem));
    $("inbox-empty").classList.toggle("hidden", data.length > 0);
    inboxLoaded = true;
  } catch (error) {
    notice(errorText(error), true);
  }
}

function notificationItem(n) {
  // `data` is whatever an admin sent: only a whole number (or its digits) names an order.
  const raw = n.data?.order_id;
  const orderId = /^\d{1,18}$/.test(typeof raw === "number" || typeof raw === "string" ? String(raw) : "")
    ? String(raw) : null;
  return h("li", { class: "notification", "data-notification-id": n.id, "data-read": String(Boolean(n.read_at)) },
    h("div", { class: "row" },
      h("strong", { text: n.title || "" }),
      h("time", { class: "muted", datetime: n.created_at, text: formatTime(n.created_at, lang) })),
    h("p", { text: n.message }),
    h("div", { class: "row" },
      orderId && h("a", { href: `#/orders/${orderId}`, text: t("viewOrder") }),
      !n.read_at && h("button", { type: "button", class: "secondary mark-read", "data-testid": "mark-read", text: t("markRead") })));
}

function markItemRead(li) {
  li.dataset.read = "true";
  li.querySelector(".mark-read")?.remove();
}

async function showAccount() {
  show("account-view");
  renderAccount();
  try {
    const mine = session;
    const { data } = await call("GET", "/me");
    if (session !== mine) return;
    session.user = data;
    saveSession(session);
    renderAccount();
  } catch (error) {
    notice(errorText(error), true);
  }
}

function renderAccount() {
  const { user } = session;
  const on = user.totp_enabled;
  const login = user.email || user.username || user.name;
  $("account-who").textContent = t("signedInAs", { who: login });
  // For password managers, which pair the password fields with an account.
  for (const input of document.querySelectorAll(".account-login")) input.value = login;
  $("totp-status").textContent = t(on ? "totpOn" : "totpOff");
  $("totp-status").dataset.enabled = String(on);
  if (on) totpSetup = null;
  $("totp-start").classList.toggle("hidden", on || Boolean(totpSetup));
  $("totp-setup").classList.toggle("hidden", !totpSetup);
  $("totp-disable").classList.toggle("hidden", !on);
  if (totpSetup) {
    $("totp-qr").src = totpSetup.qr_png;
    $("totp-secret").textContent = totpSetup.secret;
  }
}

async function verifyTotp(form) {
  const body = { code: digits(form.code.value), password: form.password.value };
  // Turning 2FA on ends every session, this one's token included: close the sockets first so
  // their 4002 close is not taken for a revoked session, then go on with the fresh token.
  stopStreams();
  try {
    const { data, message } = await call("POST", `/totp/verify/${session.user.id}`, body);
    session = { ...session, token: data.token, expires_at: data.expires_at, user: { ...session.user, totp_enabled: true } };
    saveSession(session);
    totpSetup = null;
    form.reset();
    renderAccount();
    notice(message);
  } finally {
    if (session) startStreams();
  }
}

async function logoutEverywhere() {
  stopStreams();
  try {
    await call("POST", "/logout-all");
  } catch (error) {
    if (session) startStreams();
    throw error;
  }
  signOut("loggedOutEverywhere");
}

function setLanguage(next) {
  chooseLanguage(next);
  lang = currentLanguage();
  t = translator(STRINGS, lang);
  translatePage(t);
  for (const code of ["en", "id"]) $(`lang-${code}`).setAttribute("aria-pressed", String(code === lang));
  setLive();
  setUnread(unread);
}

// ---- Wiring ----

function onSubmit(id, work) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target.querySelector("button[type=submit]"), () => work(event.target));
  });
}

function onClick(id, work) {
  $(id).addEventListener("click", (event) => busy(event.currentTarget, work));
}

onSubmit("login-form", async (form) => {
  const body = { email: form.email.value.trim(), password: form.password.value };
  const askingCode = !$("totp-field").classList.contains("hidden");
  if (askingCode) body.totp = digits(form.totp.value);
  try {
    const { data } = await call("POST", "/login", body);
    form.reset();
    $("totp-field").classList.add("hidden");
    form.totp.required = false;
    signIn(data);
  } catch (error) {
    if (error.status !== 401 || error.body.message !== "totp_required") throw error;
    $("totp-field").classList.remove("hidden");
    form.totp.required = true;
    form.totp.focus();
    notice(t("totpNeeded"));
  }
});

onSubmit("register-form", async (form) => {
  const account = { email: form.email.value.trim(), password: form.password.value };
  const name = $("register-name").value.trim();
  await call("POST", "/register", { ...account, ...(name && { name }), locale: lang });
  const { data } = await call("POST", "/login", account);
  form.reset();
  signIn(data);
});

onSubmit("create-order", async (form) => {
  const body = { items: form.items.value.trim() };
  if (form.delivery_location.value.trim()) body.delivery_location = form.delivery_location.value.trim();
  const { data, message } = await call("POST", "/orders", body);
  form.reset();
  remember(data);
  $("orders").prepend(orderItem(data));
  $("orders-empty").classList.add("hidden");
  notice(message);
});

$("orders-more").addEventListener("click", () => showOrders(ordersPage + 1));
onClick("share-button", share);
$("cancel-button").addEventListener("click", () => $("cancel-ask").classList.remove("hidden"));
$("cancel-keep").addEventListener("click", () => $("cancel-ask").classList.add("hidden"));
onClick("cancel-confirm", async () => {
  // A status change rather than DELETE: the order stays in the list, shown as cancelled.
  const { message } = await call("PUT", `/orders/${detail.id}/status`, { status: "cancelled" });
  $("cancel-ask").classList.add("hidden");
  notice(message);
});

$("inbox").addEventListener("click", (event) => {
  const button = event.target.closest(".mark-read");
  if (!button) return;
  const li = button.closest("li");
  busy(button, async () => {
    const { data } = await call("POST", `/notifications/${li.dataset.notificationId}/read`);
    // The socket's notification.read sets the exact count; this keeps the badge right meanwhile.
    if (li.dataset.read === "false" && data?.updated) setUnread(unread - data.updated);
    markItemRead(li);
  });
});

onClick("mark-all-read", async () => {
  await call("POST", "/notifications/read-all");
  setUnread(0);
  for (const li of $("inbox").children) markItemRead(li);
});

onClick("totp-start", async () => {
  ({ data: totpSetup } = await call("POST", `/totp/setup/${session.user.id}`));
  renderAccount();
  $("totp-code").focus();
});
onSubmit("totp-setup", verifyTotp);
onSubmit("totp-disable", async (form) => {
  const { message } = await call("POST", `/totp/disable/${session.user.id}`, { password: form.password.value });
  form.reset();
  session.user.totp_enabled = false;
  saveSession(session);
  renderAccount();
  notice(message);
});

onClick("logout", async () => signOut("signedOut"));
onClick("logout-all", logoutEverywhere);
for (const code of ["en", "id"]) {
  $(`lang-${code}`).addEventListener("click", () => {
    setLanguage(code);
    if (session) {
      call("PATCH", "/me", { locale: code }).catch(() => {});
      route();
    }
  });
}
window.addEventListener("hashchange", route);

setLanguage(lang);
if (session) {
  $("nav").classList.remove("hidden");
  startStreams();
}
route();
