// The driver's page (/driver): my assigned, unfinished orders (GET /api/driver/orders, read again
// whenever the board stream says one of them changed, and every POLL_MS as a fallback); for a
// shipped order, "start delivery" follows the device's position (navigator.geolocation) and
// sends it over the socket (`{"type":"location",...}`; POST /api/orders/{id}/location while the
// socket is down), showing exactly what was sent, until the order is delivered.

import { LiveStream } from "./live.js";
import { loadSession } from "./app-api.js";
import {
  $, h, t, page, call, busy, notice, errorText, statusName, moveForm, setLive, endSession,
  startStaffPage, formatTime, ApiError,
} from "./staff-common.js";

const POLL_MS = 20_000;
/** Positions go out at most this often: the server keeps one a second per order, and a socket
 *  may send 120 frames a minute. The newest position waiting is sent when the gap is over. */
const MIN_GAP_MS = 2_000;
/** The server's limits: a larger accuracy radius or speed is left out rather than refused. */
const MAX_ACCURACY_M = 100_000;
const MAX_SPEED_MS = 70;

/** My orders as last read, by id. */
let orders = new Map();
/** What each order's element shows, so a refresh replaces only the changed ones (and keeps a
 *  delivery code being typed). */
const drawn = new Map();
/** The shipped orders whose delivery I share my position for: id -> order number. */
const sharing = new Map();
/** The newest status the board told of each order, for saying why sharing stopped. */
const lastStatus = new Map();
let watchId = null;
let fix = null;
let lastSentAt = 0;
let sendTimer = null;
let stream = null;
let refreshTimer = null;

// ---- My orders ----

async function load() {
  try {
    const { data } = await call("GET", "/driver/orders");
    orders = new Map(data.map((order) => [order.id, order]));
  } catch (error) {
    notice(errorText(error), true);
    return;
  }
  // A delivery that is over (delivered, cancelled, or no longer mine) stops sharing by itself.
  for (const id of [...sharing.keys()]) {
    if (orders.get(id)?.status !== "shipped") stopSharing(id, true);
  }
  render();
}

/** Reads my orders again soon: many events in a burst make one request. */
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(load, 300);
}

function render() {
  const list = $("deliveries");
  const ids = [...orders.keys()].sort((a, b) => a - b);
  for (const el of [...list.children]) {
    if (!orders.has(Number(el.dataset.orderId))) {
      el.remove();
      drawn.delete(Number(el.dataset.orderId));
    }
  }
  let previous = null;
  for (const id of ids) {
    const order = orders.get(id);
    const key = JSON.stringify([order.status, order.estimated_time, order.delivery_location, sharing.has(id), page.lang]);
    let el = list.querySelector(`[data-order-id="${id}"]`);
    if (!el || drawn.get(id) !== key) {
      const fresh = orderElement(order);
      if (el) el.replaceWith(fresh);
      el = fresh;
      drawn.set(id, key);
    }
    if (previous ? previous.nextElementSibling !== el : list.firstElementChild !== el) {
      if (previous) previous.after(el);
      else list.prepend(el);
    }
    previous = el;
  }
  $("no-deliveries").classList.toggle("hidden", orders.size > 0);
  showSharing();
}

function orderElement(order) {
  const shipped = order.status === "shipped";
  const on = sharing.has(order.id);
  const toggle = shipped ? h("button", {
    type: "button", class: on ? "secondary" : "", "data-testid": on ? "stop-delivery" : "start-delivery",
    text: t(on ? "stopDelivery" : "startDelivery"),
  }) : null;
  toggle?.addEventListener("click", () => (sharing.has(order.id) ? stopSharing(order.id) : startSharing(order.id)));
  const move = moveForm(order, (status) => {
    notice(t("moved", { number: order.order_number, status: statusName(status) }));
    lastStatus.set(order.id, status);
    if (status !== "shipped") stopSharing(order.id, true);
    refreshSoon();
  });
  return h("li", { class: "card delivery", "data-order-id": order.id, "data-status": order.status, "data-testid": "delivery" },
    h("div", { class: "row between" },
      h("strong", { class: "number", text: order.order_number }),
      h("span", { class: "status", "data-status": order.status, text: statusName(order.status) })),
    (order.items || order.description) && h("p", { class: "items", text: order.items || order.description }),
    order.delivery_location && h("p", { text: t("deliverTo", { place: order.delivery_location }) }),
    order.customer_phone && h("p", {}, h("a", { href: `tel:${order.customer_phone}`, text: order.customer_phone })),
    order.estimated_time && h("p", { class: "muted", text: t("eta", { time: formatTime(order.estimated_time, page.lang) }) }),
    toggle && h("p", {}, toggle),
    move);
}

// ---- Sharing my position ----

function showSharing() {
  const numbers = [...sharing.values()];
  const box = $("sharing");
  box.dataset.sharing = String(sharing.size > 0);
  $("sharing-state").textContent = sharing.size
    ? (fix ? t("sharingFor", { numbers: numbers.join(", ") }) : t("waitingFix"))
    : t("notSharing");
}

function geoProblem(text) {
  $("geo-problem").textContent = text;
  $("geo-problem").classList.toggle("hidden", !text);
}

function startSharing(id) {
  if (!navigator.geolocation || !window.isSecureContext) {
    geoProblem(t("geoUnsupported"));
    return;
  }
  geoProblem("");
  sharing.set(id, orders.get(id)?.order_number || String(id));
  if (watchId === null) {
    fix = null;
    watchId = navigator.geolocation.watchPosition(onFix, onGeoError, {
      enableHighAccuracy: true, maximumAge: 0, timeout: 60_000,
    });
  } else if (fix) {
    sendNow();
  }
  render();
}

function stopSharing(id, finished = false) {
  const number = sharing.get(id);
  if (!sharing.delete(id)) return;
  if (finished) {
    const status = orders.get(id)?.status || lastStatus.get(id);
    notice(status && status !== "shipped"
      ? t("deliveryStopped", { number, status: statusName(status) })
      : t("sharingStopped", { number }));
  }
  if (!sharing.size && watchId !== null) {
    navigator.geolocation.clearWatch(watchId);
    watchId = null;
    clearTimeout(sendTimer);
    sendTimer = null;
  }
  render();
}

function onFix(position) {
  const c = position.coords;
  const number = (value, max) => (Number.isFinite(value) && value >= 0 && value <= max ? value : null);
  fix = {
    lat: c.latitude,
    lng: c.longitude,
    accuracy: number(c.accuracy, MAX_ACCURACY_M),
    heading: Number.isFinite(c.heading) && c.heading >= 0 && c.heading <= 360 ? c.heading : null,
    speed: number(c.speed, MAX_SPEED_MS),
    takenAt: position.timestamp || Date.now(),
  };
  geoProblem("");
  const wait = lastSentAt + MIN_GAP_MS - Date.now();
  if (wait <= 0) sendNow();
  else sendTimer ??= setTimeout(() => {
    sendTimer = null;
    sendNow();
  }, wait);
}

function onGeoError(error) {
  if (error.code === error.PERMISSION_DENIED) {
    geoProblem(t("geoDenied"));
    for (const id of [...sharing.keys()]) stopSharing(id);
  } else {
    geoProblem(t("geoUnavailable"));
  }
}

/** Sends the newest position for every delivery I share: over the socket when it is open,
 *  else over HTTP. The time is left to the server (now), so a device clock that is off does
 *  not get positions refused. */
async function sendNow() {
  if (!fix || !sharing.size) return;
  lastSentAt = Date.now();
  const sent = fix;
  const position = { lat: sent.lat, lng: sent.lng };
  for (const field of ["accuracy", "heading", "speed"]) if (sent[field] !== null) position[field] = sent[field];
  let via = "viaSocket";
  for (const id of [...sharing.keys()]) {
    if (stream?.send({ type: "location", order_id: id, ...position })) continue;
    via = "viaHttp";
    try {
      await call("POST", `/orders/${id}/location`, position);
    } catch (error) {
      // 409: no longer shipped; 404: no longer mine. Either way this delivery is over for me.
      if (error instanceof ApiError && (error.status === 409 || error.status === 404)) {
        stopSharing(id, true);
        refreshSoon();
      } else {
        geoProblem(t("positionRefused", { message: errorText(error) }));
      }
    }
  }
  showSent(sent, via);
}

function showSent(sent, via) {
  $("sent").classList.remove("hidden");
  $("sent-lat").textContent = sent.lat.toFixed(6);
  $("sent-lng").textContent = sent.lng.toFixed(6);
  $("sent-accuracy").textContent = sent.accuracy === null ? t("none") : t("metres", { n: Math.round(sent.accuracy) });
  $("sent-time").textContent = new Date(sent.takenAt).toLocaleTimeString(page.lang === "id" ? "id-ID" : "en-GB");
  $("sent-via").textContent = t(via);
  $("sent").dataset.lat = String(sent.lat);
  $("sent").dataset.lng = String(sent.lng);
  showSharing();
}

// ---- The board stream: tells me when one of my orders changed ----

function onEvent(frame) {
  if (frame.type === "board.snapshot") {
    refreshSoon();
  } else if (frame.type === "board.order" && frame.order) {
    const order = frame.order;
    lastStatus.set(order.id, order.status);
    if (order.driver?.id === page.me.id || orders.has(order.id)) refreshSoon();
  }
}

function onSignal(frame) {
  // A position the socket refused comes back as an error frame without a topic.
  if (frame.type === "error" && !frame.topic && sharing.size) {
    geoProblem(t("positionRefused", { message: frame.message }));
  }
}

async function start() {
  await load();
  const session = loadSession();
  stream = new LiveStream({
    path: () => "/ws",
    protocols: ["order-tracker", `bearer.${session.token}`],
    onEvent,
    onSignal,
    onState: (state) => {
      setLive(state);
      if (state === "live") refreshSoon();
    },
    onEnd: endSession,
  });
  stream.follow("board");
  setLive("connecting");
  stream.start();
  setInterval(() => {
    if (!document.hidden) load();
  }, POLL_MS);
}

startStaffPage({
  roles: ["driver"],
  start,
  onLanguage: () => {
    drawn.clear();
    render();
  },
});
