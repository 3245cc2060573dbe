// The live board (/staff, admins and drivers): every unfinished order as a card in its status
// column, followed on the `board` topic (a snapshot, then one event per change, resumed with
// `since` after a drop). Cards move as orders change anywhere; delivered and cancelled ones
// leave. A card offers the moves the status machine allows, admins (un)assign drivers, drivers
// claim unassigned orders. The map shows the drivers who share their position.

import { LiveStream } from "./live.js";
import { loadSession } from "./app-api.js";
import { FleetMap } from "./map.js";
import {
  $, h, t, page, call, busy, notice, errorText, statusName, moveForm, setLive, endSession,
  startStaffPage, formatTime, FLOW, FINAL,
} from "./staff-common.js";

/** The board's columns: every status before the final ones. */
const COLUMNS = FLOW.filter((status) => !FINAL.includes(status));
/** Shipped cards whose last position is asked for when the board opens (each is a request). */
const MAX_POSITION_LOOKUPS = 20;

/** Cards by order id: {id, order_number, status, driver, customer, delivery_location,
 *  delivery_lat, delivery_lng, estimated_time, updated_at, version}. */
const cards = new Map();
/** Every driver, for the filter and the admins' assignment: [{id, name}]. */
let drivers = [];
let stream = null;
const fleet = new FleetMap($("fleet-map"));

const customerName = (card) =>
  (typeof card.customer === "string" ? card.customer : card.customer?.name) || "";

function matches(card) {
  const text = $("filter-text").value.trim().toLowerCase();
  const driver = $("filter-driver").value;
  if (driver === "none" && card.driver) return false;
  if (driver !== "all" && driver !== "none" && String(card.driver?.id) !== driver) return false;
  if (!text) return true;
  return [card.order_number, customerName(card), card.delivery_location]
    .some((field) => (field || "").toLowerCase().includes(text));
}

// ---- Drawing ----

function buildColumns() {
  $("board").replaceChildren(...COLUMNS.map((status) =>
    h("section", { class: "column", "data-column": status },
      h("h2", {}, h("span", { class: "status", "data-status": status, text: statusName(status) }),
        h("span", { class: "count", "data-count": status, text: "0" })),
      h("ol", { class: "cards", "data-cards": status }))));
  for (const card of [...cards.values()].sort((a, b) => a.id - b.id)) place(card);
  refreshColumns();
}

function driverFilterOptions() {
  const select = $("filter-driver");
  const chosen = select.value || "all";
  select.replaceChildren(
    h("option", { value: "all", text: t("allDrivers") }),
    h("option", { value: "none", text: t("unassigned") }),
    ...drivers.map((d) => h("option", { value: String(d.id), text: d.name })));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "all";
}

function cardElement(card) {
  const me = page.me;
  const driverLine = card.driver ? t("driverIs", { name: card.driver.name }) : t("noDriver");
  const actions = h("div", { class: "actions" });
  const move = moveForm(card, (status) => notice(t("moved", { number: card.order_number, status: statusName(status) })));
  if (move) actions.append(move);
  if (me.role === "admin") actions.append(assignControl(card));
  if (me.role === "driver" && !card.driver) {
    const claim = h("button", { type: "button", class: "secondary claim", "data-testid": "claim", text: t("claim") });
    claim.addEventListener("click", () => busy(claim, async () => {
      await call("POST", `/orders/${card.id}/claim`);
      notice(t("claimed", { number: card.order_number }));
    }));
    actions.append(claim);
  }
  return h("li", {
    class: "order-card", "data-order-id": card.id, "data-status": card.status,
    "data-driver-id": card.driver ? card.driver.id : "", "data-testid": "card",
  },
  h("div", { class: "head" },
    h("span", { class: "number", text: card.order_number }),
    card.estimated_time && h("time", {
      class: "muted", datetime: card.estimated_time, text: t("eta", { time: formatTime(card.estimated_time, page.lang) }),
    })),
  customerName(card) && h("p", { class: "customer", text: customerName(card) }),
  card.delivery_location && h("p", { class: "muted place", text: card.delivery_location }),
  h("p", { class: "driver", text: driverLine }),
  actions);
}

function assignControl(card) {
  const select = h("select", { class: "assign-driver", "data-testid": "assign-driver", "aria-label": t("assign") },
    h("option", { value: "", text: t("unassigned") }),
    ...drivers.map((d) => h("option", { value: String(d.id), text: d.name })));
  select.value = card.driver ? String(card.driver.id) : "";
  // A driver not in the list (added since the page loaded) still shows as assigned.
  if (card.driver && select.value !== String(card.driver.id)) {
    select.append(h("option", { value: String(card.driver.id), text: card.driver.name }));
    select.value = String(card.driver.id);
  }
  select.addEventListener("change", () => busy(select, async () => {
    const driverId = select.value ? Number(select.value) : null;
    try {
      await call("PUT", `/orders/${card.id}/driver`, { driver_id: driverId });
    } catch (error) {
      select.value = card.driver ? String(card.driver.id) : "";
      throw error;
    }
    const name = drivers.find((d) => d.id === driverId)?.name;
    notice(driverId ? t("assigned", { number: card.order_number, name }) : t("unassignedDone", { number: card.order_number }));
  }));
  return h("label", { class: "assign" }, h("span", { text: t("assign") }), select);
}

/** Puts the card in its column, in order of id (oldest first), replacing its old element. */
function place(card, moved = false) {
  const old = document.querySelector(`.order-card[data-order-id="${card.id}"]`);
  const el = cardElement(card);
  el.classList.toggle("hidden", !matches(card));
  if (moved) el.classList.add("moved");
  const list = document.querySelector(`[data-cards="${card.status}"]`);
  if (old && old.parentElement === list) {
    old.replaceWith(el);
    return;
  }
  old?.remove();
  const after = [...list.children].find((other) => Number(other.dataset.orderId) > card.id);
  list.insertBefore(el, after || null);
}

function remove(id) {
  document.querySelector(`.order-card[data-order-id="${id}"]`)?.remove();
  cards.delete(id);
  fleet.remove(id);
  showFleet();
}

function refreshColumns() {
  for (const status of COLUMNS) {
    const list = document.querySelector(`[data-cards="${status}"]`);
    const shown = [...list.children].filter((el) => el.classList.contains("order-card") && !el.classList.contains("hidden"));
    document.querySelector(`[data-count="${status}"]`).textContent = String(shown.length);
    list.querySelector(".empty")?.remove();
    if (!shown.length) list.append(h("li", { class: "empty", text: t("noOrders") }));
  }
}

function applyFilters() {
  for (const el of document.querySelectorAll(".order-card")) {
    const card = cards.get(Number(el.dataset.orderId));
    el.classList.toggle("hidden", !card || !matches(card));
  }
  refreshColumns();
}

/** Markers on their way to the map (Leaflet may still be loading): the map stays shown. */
let placing = 0;

function showFleet() {
  const shown = fleet.size + placing > 0;
  $("fleet-map").classList.toggle("hidden", !shown);
  $("fleet-empty").classList.toggle("hidden", shown);
}

function fleetLabel(card) {
  return t("fleetLabel", { driver: card?.driver?.name || t("noDriver"), number: card?.order_number || "" });
}

async function placeDriver(orderId, location) {
  const card = cards.get(orderId);
  if (!card || card.status !== "shipped") return;
  // Visible first: Leaflet measures its container when it draws.
  placing += 1;
  showFleet();
  try {
    await fleet.place(orderId, location, fleetLabel(card));
  } catch (error) {
    notice(errorText(error), true);
  } finally {
    placing -= 1;
  }
  // The order may have moved on while Leaflet loaded.
  if (cards.get(orderId)?.status !== "shipped") fleet.remove(orderId);
  showFleet();
}

// ---- The stream ----

/** A card arrives or changes: move it, or take it off the board once final. */
function upsert(card) {
  const known = cards.get(card.id);
  if (known && typeof card.version === "number" && card.version < known.version) return;
  if (FINAL.includes(card.status) || !COLUMNS.includes(card.status)) {
    remove(card.id);
    return;
  }
  cards.set(card.id, card);
  place(card, Boolean(known) && known.status !== card.status);
  if (card.status !== "shipped") {
    fleet.remove(card.id);
    showFleet();
  } else if (card.location && !fleet.markers.has(card.id)) {
    placeDriver(card.id, card.location);
  }
}

function onEvent(frame) {
  if (frame.type === "board.snapshot") {
    cards.clear();
    for (const card of frame.orders || []) cards.set(card.id, card);
    for (const id of [...fleet.markers.keys()]) if (cards.get(id)?.status !== "shipped") fleet.remove(id);
    buildColumns();
    showFleet();
    lookUpPositions();
  } else if (frame.type === "board.order" && frame.order) {
    if (frame.change === "cancelled") remove(frame.order.id);
    else upsert(frame.order);
    refreshColumns();
  }
  // board.hidden: another driver's order; it only moves the stream's seq on.
}

function onSignal(frame) {
  if (frame.type === "order.location") {
    placeDriver(Number(frame.order_id), frame);
  } else if (frame.type === "error" && frame.topic === "board") {
    notice(t("boardRefused", { message: frame.message }), true);
  }
}

/** The shipped cards' last positions: from the card, or (a server whose cards lack them) asked
 *  for, for the first few. */
async function lookUpPositions() {
  const shipped = [...cards.values()].filter((card) => card.status === "shipped");
  for (const card of shipped.filter((c) => c.location)) placeDriver(card.id, card.location);
  const unknown = shipped.filter((card) => !("location" in card));
  for (const card of unknown.slice(0, MAX_POSITION_LOOKUPS)) {
    try {
      const { data } = await call("GET", `/orders/${card.id}`);
      if (data.location && !fleet.markers.has(card.id)) placeDriver(card.id, data.location);
    } catch {
      // The map is a help, not the board: a failed lookup waits for the next live position.
    }
  }
}

async function start() {
  try {
    ({ data: drivers } = await call("GET", "/drivers"));
  } catch (error) {
    notice(errorText(error), true);
  }
  driverFilterOptions();
  buildColumns();
  $("filter-text").addEventListener("input", applyFilters);
  $("filter-driver").addEventListener("change", applyFilters);
  const session = loadSession();
  stream = new LiveStream({
    path: () => "/ws",
    protocols: ["order-tracker", `bearer.${session.token}`],
    onEvent,
    onSignal,
    onState: setLive,
    onEnd: endSession,
  });
  stream.follow("board");
  setLive("connecting");
  stream.start();
}

startStaffPage({
  roles: ["admin", "driver"],
  start,
  onLanguage: () => {
    driverFilterOptions();
    buildColumns();
  },
});
