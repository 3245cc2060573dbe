// The analytics page (/analytics, admins): the v1 statistics and analytics as charts (Chart.js,
// vendored, loaded by the page before this module). Over the last 7 or 14 UTC days:
// GET /api/admin/orders/tracking-stats and /tracking-analytics for the period (the latter
// carries the orders per day and the minutes spent in each status).

import { $, t, page, call, busy, notice, errorText, statusName, startStaffPage, FLOW } from "./staff-common.js";

const STATUS_COLOURS = {
  pending: "#8a94a6", confirmed: "#5b9bd5", preparing: "#0b6bcb", ready: "#2f4f9e",
  shipped: "#b35900", delivered: "#1a7f37", cancelled: "#b42318",
};
const ACCENT = "#0b6bcb";
const charts = new Map();
/** The last answers: {days: ["2026-12-01", ...], perDay: [n, ...], stats, analytics}. */
let report = null;

/** The last `n` UTC days, oldest first, as YYYY-MM-DD. */
function lastDays(n) {
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  return Array.from({ length: n }, (_, i) => new Date(today - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

function dayLabel(day) {
  return new Intl.DateTimeFormat(page.lang === "id" ? "id-ID" : "en-GB", {
    day: "numeric", month: "short", timeZone: "UTC",
  }).format(new Date(`${day}T00:00:00Z`));
}

async function load() {
  const days = lastDays(Number($("range-days").value));
  const period = `start_date=${days[0]}&end_date=${days.at(-1)}`;
  const [stats, analytics] = await Promise.all([
    call("GET", `/admin/orders/tracking-stats?${period}`),
    call("GET", `/admin/orders/tracking-analytics?${period}`),
  ]);
  // Days without orders are missing from the answer; they count as none.
  const counted = new Map(analytics.data.orders_per_day.map((row) => [row.day, row.count]));
  report = { days, perDay: days.map((day) => counted.get(day) ?? 0), stats: stats.data, analytics: analytics.data };
  draw();
}

function chart(id, config) {
  charts.get(id)?.destroy();
  const canvas = $(id);
  const base = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: false } },
  };
  charts.set(id, new window.Chart(canvas, { ...config, options: { ...base, ...config.options } }));
  canvas.dataset.rendered = "true";
  canvas.dataset.points = String(config.data.datasets.reduce((sum, set) => sum + set.data.length, 0));
}

const bars = (label, data, colour = ACCENT) => ({ label, data, backgroundColor: colour, borderRadius: 4 });
const whole = { y: { beginAtZero: true, ticks: { precision: 0 } } };

function draw() {
  for (const option of $("range-days").options) option.textContent = t("lastDays", { n: option.value });
  if (!report) return;
  const { stats, analytics } = report;
  const percent = (value) => `${Number(value ?? 0).toLocaleString(page.lang)} %`;
  $("kpi-orders").textContent = String(stats.total_orders);
  $("kpi-completed").textContent = percent(stats.completion_rate);
  $("kpi-cancelled").textContent = percent(stats.cancellation_rate);
  $("kpi-time").textContent = stats.average_processing_time === null
    ? t("none") : t("minutes", { n: Math.round(stats.average_processing_time) });

  chart("chart-per-day", {
    type: "bar",
    data: { labels: report.days.map(dayLabel), datasets: [bars(t("ordersLabel"), report.perDay)] },
    options: { scales: whole },
  });

  const order = [...FLOW, "cancelled"];
  const distribution = [...stats.status_distribution].sort((a, b) => order.indexOf(a.status) - order.indexOf(b.status));
  chart("chart-status", {
    type: "doughnut",
    data: {
      labels: distribution.map((row) => statusName(row.status)),
      datasets: [{
        label: t("ordersLabel"),
        data: distribution.map((row) => row.count),
        backgroundColor: distribution.map((row) => STATUS_COLOURS[row.status] || ACCENT),
      }],
    },
    options: { plugins: { legend: { display: true, position: "bottom" } } },
  });

  const stages = FLOW.filter((status) => status in analytics.average_stage_minutes);
  chart("chart-times", {
    type: "bar",
    data: {
      labels: stages.map(statusName),
      datasets: [bars(t("chartTimes"), stages.map((status) => analytics.average_stage_minutes[status]),
        stages.map((status) => STATUS_COLOURS[status]))],
    },
    options: { scales: { y: { beginAtZero: true } } },
  });

  const transitions = Object.entries(analytics.status_transitions);
  chart("chart-transitions", {
    type: "bar",
    data: {
      labels: transitions.map(([key]) => key.split("_to_").map(statusName).join(" → ")),
      datasets: [bars(t("countLabel"), transitions.map(([, count]) => count))],
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
  });

  const feedback = analytics.feedback_analytics;
  const stars = ["5", "4", "3", "2", "1"];
  chart("chart-ratings", {
    type: "bar",
    data: {
      labels: stars.map((n) => t("stars", { n })),
      datasets: [bars(t("ratingsLabel"), stars.map((n) => feedback.rating_distribution[n] ?? 0), "#d69e00")],
    },
    options: { scales: whole },
  });
  $("ratings-summary").textContent = feedback.total_feedbacks
    ? t("ratingsSummary", { average: feedback.average_rating, count: feedback.total_feedbacks })
    : t("noRatings");

  const hours = Array.from({ length: 24 }, (_, hour) =>
    analytics.peak_processing_hours.find((row) => row.hour === hour)?.count ?? 0);
  chart("chart-hours", {
    type: "bar",
    data: { labels: hours.map((_, hour) => String(hour).padStart(2, "0")), datasets: [bars(t("countLabel"), hours)] },
    options: { scales: whole },
  });
}

async function start() {
  if (!window.Chart) throw new Error("Chart.js did not load");
  $("range").addEventListener("submit", (event) => {
    event.preventDefault();
    busy($("refresh"), load);
  });
  $("range-days").addEventListener("change", () => busy($("refresh"), load));
  draw();
  try {
    await load();
  } catch (error) {
    notice(errorText(error), true);
  }
}

startStaffPage({ roles: ["admin"], start, onLanguage: draw });
