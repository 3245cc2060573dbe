// Runs the page journeys in headless Chromium (Playwright's driver, the machine's own browser).
// `cargo test` starts it from tests/api/browser.rs with a server already running and passes:
//   BASE_URL, ADMIN_TOKEN, ADMIN_ID, DRIVER_TOKEN, DRIVER_ID, CHROMIUM, SCREENSHOTS
// and ONLY=2,6 (optional) runs only those journeys.
// Every page is watched: an uncaught exception, a console error, a CSP violation or a request
// to any other host fails the run. Two kinds of browser-logged lines are not the page's own
// errors and are allowed: an API answer of 4xx that the page handles (a revoked link's 404, a
// login's "code needed" 401), and a failed connection while a journey has cut the network.

import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import jsQR from "jsqr";
import { PNG } from "pngjs";
import { chromium } from "playwright-core";

import * as app from "./journeys/app.mjs";
import * as docs from "./journeys/docs.mjs";
import * as map from "./journeys/map.mjs";
import * as staff from "./journeys/staff.mjs";
import * as track from "./journeys/track.mjs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run these journeys through \`cargo test\``);
  return value;
};

/** A TCP relay in front of the server, so a journey can cut the browser's network for real:
 * open connections are reset and new ones refused until it is restored. */
async function startRelay(target) {
  const { hostname, port } = new URL(target);
  const open = new Set();
  let cut = false;
  const server = net.createServer((client) => {
    if (cut) return client.destroy();
    const upstream = net.connect(Number(port), hostname);
    open.add(client);
    open.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    restore() {
      cut = false;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** RFC 6238 code (30 s steps, 6 digits, SHA-1) of a base32 secret, `offset` steps from now. */
function totpCode(secret, offset = 0) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of secret.replace(/=+$/, "").toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const mac = crypto.createHmac("sha1", key).update(counter).digest();
  const at = mac[mac.length - 1] & 0xf;
  const number = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, "0");
}

function decodeQr(pngBuffer) {
  const png = PNG.sync.read(pngBuffer);
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(found, "the image holds a readable QR code");
  return found.data;
}

async function main() {
  const base = env("BASE_URL");
  const screenshots = env("SCREENSHOTS");
  fs.mkdirSync(screenshots, { recursive: true });
  const relay = await startRelay(base);
  const allowedOrigins = [new URL(base).origin, new URL(relay.base).origin];
  const browser = await chromium.launch({
    executablePath: env("CHROMIUM"),
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const problems = [];
  let outage = false;

  /** Watches a page for everything journey 5 forbids. */
  function watch(page) {
    page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = message.text();
      const where = message.location().url || "";
      const handledApiAnswer = /status of 4\d\d/.test(text) && new URL(where, base).pathname.startsWith("/api/");
      const cutNetwork = outage && /(WebSocket connection|net::ERR_|Failed to load resource)/.test(text);
      if (!handledApiAnswer && !cutNetwork) problems.push(`console error on ${page.url()}: ${text} (${where})`);
    });
    page.on("request", (request) => {
      const url = request.url();
      if (url.startsWith("data:")) return;
      if (!allowedOrigins.includes(new URL(url).origin)) problems.push(`request to another host: ${url}`);
    });
  }

  const ctx = {
    base,
    relay,
    browser,
    assert,
    screenshots,
    admin: { token: env("ADMIN_TOKEN"), id: Number(env("ADMIN_ID")) },
    driver: { token: env("DRIVER_TOKEN"), id: Number(env("DRIVER_ID")) },
    totpCode,
    decodeQr: async (png) => decodeQr(png),
    unique: () => crypto.randomBytes(4).toString("hex"),
    /** A page in a context of its own (no shared storage), watched. */
    async newPage({ viewport = { width: 1280, height: 800 }, through = base } = {}) {
      const context = await browser.newContext({ viewport, baseURL: through });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      watch(page);
      return page;
    },
    /** Marks the window in which failed connections are expected. */
    setOutage(on) {
      outage = on;
    },
    async api(method, route, token, body) {
      const headers = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const answer = await fetch(base + route, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await answer.text();
      return { status: answer.status, body: text ? JSON.parse(text) : null };
    },
  };

  const journeys = [
    ["1. share, watch live, survive a network cut", () => track.watchSharedOrderLive(ctx, app)],
    ["2. a revoked link says so", () => track.revokedLinkSaysSo(ctx)],
    ["3. inbox badge follows other tabs", () => app.inboxBadgeFollowsOtherTabs(ctx)],
    ["4. two-factor setup", () => app.twoFactorSetup(ctx)],
    ["6. screenshots", () => track.screenshots(ctx)],
    ["7. the staff board follows changes live", () => staff.boardFollowsChanges(ctx)],
    ["8. a driver's position moves the maps; the delivery code", () => map.driverPositionMovesMaps(ctx)],
    ["9. analytics charts", () => staff.analyticsCharts(ctx)],
    ["10. staff pages at 360 px; who may open them", () => staff.narrowPagesAndAccess(ctx)],
    ["11. the API reference renders every operation", () => docs.apiReference(ctx)],
  ];
  // ONLY=2,6 runs those journeys alone (while working on a page).
  const only = (process.env.ONLY || "").split(",").filter(Boolean);
  let failed = 0;
  for (const [name, run] of journeys) {
    if (only.length && !only.some((n) => name.startsWith(`${n}.`))) continue;
    const started = Date.now();
    try {
      await run();
      console.log(`ok   ${name} (${Date.now() - started} ms)`);
    } catch (error) {
      failed += 1;
      console.log(`FAIL ${name}: ${error.stack || error}`);
    }
  }
  if (problems.length) {
    failed += 1;
    console.log(`FAIL 5. pages stay clean:\n  ${problems.join("\n  ")}`);
  } else {
    console.log("ok   5. no console error, no request to another host");
  }
  await browser.close();
  await relay.close();
  process.exit(failed ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
