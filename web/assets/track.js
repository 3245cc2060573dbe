// The public tracking page: what a share link's holder sees, live, without signing in.
// It reads the public view once, then follows the order's public stream from that view's seq,
// so nothing is missed between the two and nothing is shown twice.

import { LiveStream } from "/assets/live.js";
import { DeliveryMap } from "/assets/map.js";
import { STATUS, chooseLanguage, currentLanguage, formatTime, translatePage, translator } from "/assets/i18n.js";
import { STRINGS } from "/assets/track-strings.js";

/** The stepper's steps; confirmed, preparing and ready are one step to the customer. */
const STEPS = [
  { key: "pending", statuses: ["pending"] },
  { key: "processing", statuses: ["confirmed", "preparing", "ready"] },
  { key: "shipped", statuses: ["shipped"] },
  { key: "delivered", statuses: ["delivered"] },
];

// The last non-empty segment, so a link pasted with a trailing slash still works.
const token = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const $ = (id) => document.getElementById(id);
let t = translator(STRINGS);
let lang = currentLanguage();
/** The order as last shown: {order_number, status, estimated_time, driver_name,
 * destination: {lat, lng} | null, location: {lat, lng, accuracy, at} | null,
 * timeline: [{status, notes, at}]}. */
let view = null;
let stream = null;
const deliveryMap = new DeliveryMap($("map"));

function statusName(status) {
  return (STATUS[lang] || STATUS.en)[status] || status;
}

function render() {
  translatePage(t);
  if (!view) return;
  $("order-number").textContent = view.order_number;
  $("status").textContent = statusName(view.status);
  const cancelled = view.status === "cancelled";
  $("cancelled").classList.toggle("hidden", !cancelled);
  $("stepper").classList.toggle("hidden", cancelled);
  const current = STEPS.findIndex((step) => step.statuses.includes(view.status));
  $("stepper").replaceChildren(...STEPS.map((step, i) => {
    const li = document.createElement("li");
    li.textContent = step.key === "processing" ? t("stepProcessing") : statusName(step.key);
    if (i < current || view.status === "delivered") li.classList.add("done");
    if (i === current) li.classList.add("current");
    return li;
  }));
  renderEta();
  $("driver").classList.toggle("hidden", !view.driver_name);
  $("driver-name").textContent = view.driver_name || "";
  $("timeline").replaceChildren(...view.timeline.map((entry) => {
    const li = document.createElement("li");
    li.dataset.status = entry.status;
    const time = document.createElement("time");
    time.dateTime = entry.at;
    time.textContent = formatTime(entry.at, lang);
    li.append(statusName(entry.status), time);
    if (entry.notes) {
      const notes = document.createElement("p");
      notes.className = "notes";
      notes.textContent = entry.notes;
      li.append(notes);
    }
    return li;
  }));
  renderMap();
}

function renderEta() {
  $("eta").classList.toggle("hidden", !view.estimated_time);
  $("eta-time").textContent = formatTime(view.estimated_time, lang);
}

/** While the order is on its way: the driver's last position and the destination. */
function renderMap() {
  const shown = view.status === "shipped" && Boolean(view.destination || view.location);
  $("map-box").classList.toggle("hidden", !shown);
  deliveryMap.labels = { driver: t("mapDriver"), destination: t("mapDestination") };
  const at = shown && view.location?.at;
  $("map-time").textContent = at
    ? t("positionAt", { time: new Date(at).toLocaleTimeString(lang === "id" ? "id-ID" : "en-GB") })
    : "";
  if (shown) deliveryMap.show(view.destination, view.location);
  else deliveryMap.reset();
}

function showState(state) {
  const live = $("live");
  live.dataset.state = state;
  live.dataset.i18n = state;
  live.textContent = t(state);
}

function showEnded() {
  if (stream) stream.stop();
  view = null;
  $("order").classList.add("hidden");
  $("loading").classList.add("hidden");
  $("ended").classList.remove("hidden");
  showState("ended");
}

/** While reconnecting: a link revoked meanwhile refuses the socket with a plain 404 the socket
 * cannot read, so ask the API. */
async function checkLink() {
  try {
    const answer = await fetch(`/api/track/${encodeURIComponent(token)}`);
    if (answer.status === 404) showEnded();
  } catch {
    // Still offline: the stream keeps trying.
  }
}

function onEvent(frame) {
  if (frame.type !== "order.status" && frame.type !== "order.snapshot") return;
  view.status = frame.status;
  view.estimated_time = frame.estimated_time;
  // A change by someone else (the kitchen, an admin) does not take the driver away; a change
  // of driver (un)assigns one.
  if (frame.change === "assigned") view.driver_name = frame.driver_name ?? null;
  else if (frame.driver_name) view.driver_name = frame.driver_name;
  // Positions are shown only while the order is on its way; a snapshot carries the last one.
  if (frame.location !== undefined) view.location = frame.location;
  if (frame.status !== "shipped") view.location = null;
  // The timeline tells of status changes; a new driver shows in the driver line only.
  if (frame.type === "order.status" && frame.change !== "assigned") {
    view.timeline.push({ status: frame.status, notes: frame.notes, at: frame.updated_at });
  }
  render();
}

/** A driver's position: not numbered, newest wins; it may carry a fresh estimate. */
function onSignal(frame) {
  if (frame.type !== "order.location" || !view) return;
  view.location = { lat: frame.lat, lng: frame.lng, accuracy: frame.accuracy, at: frame.at };
  if (frame.estimated_time !== undefined) view.estimated_time = frame.estimated_time;
  renderEta();
  renderMap();
}

async function load() {
  const answer = await fetch(`/api/track/${encodeURIComponent(token)}?lang=${lang}`);
  if (answer.status === 404) return showEnded();
  if (!answer.ok) {
    $("loading").classList.add("hidden");
    $("problem").textContent = t("problem");
    $("problem").classList.remove("hidden");
    return;
  }
  const { data } = await answer.json();
  view = {
    order_number: data.order_number,
    status: data.status,
    estimated_time: data.estimated_time,
    driver_name: data.driver_name,
    destination: data.destination ?? null,
    location: data.location ?? null,
    timeline: data.timeline.map((entry) => ({ status: entry.status, notes: entry.notes, at: entry.at })),
  };
  $("loading").classList.add("hidden");
  $("order").classList.remove("hidden");
  render();
  const from = data.seq;
  stream = new LiveStream({
    // One topic per socket here: resume after the newest seq seen, or the view's own.
    path: (last) => `/ws/track/${token}?since=${Math.max(from, ...last.values())}`,
    onEvent,
    onSignal,
    onState: (state) => {
      showState(state);
      if (state === "reconnecting") checkLink();
    },
    onEnd: showEnded,
  });
  stream.start();
}

for (const choice of ["en", "id"]) {
  $(`lang-${choice}`).addEventListener("click", () => {
    chooseLanguage(choice);
    lang = choice;
    t = translator(STRINGS, lang);
    showState($("live").dataset.state);
    render();
  });
}

translatePage(t);
load();
