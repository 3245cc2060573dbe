// Journey 8: a driver delivers with the /driver page, the browser's position overridden; the
// share page, the customer's order page and the staff board's map follow the driver's marker;
// a wrong delivery code is refused, the right one delivers and stops the sharing.

import { PHONE, openAs, customerByApi, orderByApi, expectOk, live, fits, screenshot } from "./staff.mjs";

const WAIT = 10_000;
const DESTINATION = { lat: -6.2, lng: 106.8166 };
const FIRST = { latitude: -6.2146, longitude: 106.8451, accuracy: 12 };
const SECOND = { latitude: -6.2088, longitude: 106.8302, accuracy: 8 };

/** Waits until the element's data-{prefix}-lat/-lng say `at` (to a metre or so). */
async function markerAt(page, selector, prefix, at) {
  await page.waitForFunction(([sel, pre, lat, lng]) => {
    const el = document.querySelector(sel);
    if (!el) return false;
    const near = (value, want) => value !== undefined && Math.abs(Number(value) - want) < 1e-5;
    return near(el.dataset[`${pre}Lat`], lat) && near(el.dataset[`${pre}Lng`], lng);
  }, [selector, prefix, at.latitude ?? at.lat, at.longitude ?? at.lng], { timeout: WAIT });
}

export async function driverPositionMovesMaps(ctx) {
  const { assert } = ctx;
  const customer = await customerByApi(ctx);
  const order = await orderByApi(ctx, customer, { delivery_lat: DESTINATION.lat, delivery_lng: DESTINATION.lng });
  const link = await expectOk(ctx, "POST", `/api/orders/${order.id}/share-links`, customer);
  await expectOk(ctx, "PUT", `/api/orders/${order.id}/driver`, ctx.admin, { driver_id: ctx.driver.id });
  await expectOk(ctx, "PUT", `/api/orders/${order.id}/status`, ctx.admin, {
    status: "shipped", estimated_time: new Date(Date.now() + 20 * 60_000).toISOString(),
  });
  const { delivery_code: code } = await expectOk(ctx, "GET", `/api/orders/${order.id}`, customer);
  assert.match(code, /^\d{4}$/, "the owner sees the delivery code");

  // The admin's board is open before the driver sets off.
  const board = await openAs(ctx, ctx.admin, "/staff");
  await live(board);

  // The driver starts the delivery; the page says what it sends.
  const driver = await openAs(ctx, ctx.driver, "/driver", PHONE);
  await driver.context().grantPermissions(["geolocation"]);
  await driver.context().setGeolocation(FIRST);
  const delivery = driver.locator(`[data-testid=delivery][data-order-id="${order.id}"]`);
  await delivery.waitFor({ timeout: WAIT });
  await live(driver);
  await delivery.locator("[data-testid=start-delivery]").click();
  await driver.locator("#sent-lat", { hasText: FIRST.latitude.toFixed(6) }).waitFor({ timeout: WAIT });
  assert.equal(await driver.textContent("#sent-lng"), FIRST.longitude.toFixed(6));
  assert.equal(await driver.textContent("#sent-accuracy"), "12 m");
  assert.match(await driver.textContent("#sharing-state"), new RegExp(order.order_number));

  // The share page shows the driver and the destination on the map.
  const viewer = await ctx.newPage({ viewport: PHONE });
  await viewer.goto(new URL(link.url, ctx.base).pathname);
  await viewer.locator("#map-box").waitFor({ timeout: WAIT });
  await live(viewer, "#live");
  await markerAt(viewer, "#map", "destination", DESTINATION);
  // The view has the last stored position, or the next live one brings it.
  await markerAt(viewer, "#map", "driver", FIRST);
  assert.ok(await viewer.locator("#map path.leaflet-interactive").count() >= 2, "two markers are drawn");

  // The customer's own order page shows the same, with the delivery code to give.
  const app = await openAs(ctx, customer, `/#/orders/${order.id}`, PHONE);
  await app.locator("#detail-map-box").waitFor({ timeout: WAIT });
  assert.equal(await app.textContent("#detail-code-value"), code);
  await markerAt(app, "#detail-map", "destination", DESTINATION);
  await markerAt(app, "#detail-map", "driver", FIRST);

  // The driver moves: every map follows, without a reload.
  await driver.context().setGeolocation(SECOND);
  await driver.locator("#sent-lat", { hasText: SECOND.latitude.toFixed(6) }).waitFor({ timeout: WAIT });
  await markerAt(viewer, "#map", "driver", SECOND);
  await markerAt(app, "#detail-map", "driver", SECOND);
  await board.waitForFunction(([id, lat]) => {
    const marker = document.querySelector(`#fleet-map path[data-order-id="${id}"]`);
    return marker && Math.abs(Number(marker.dataset.lat) - lat) < 1e-5;
  }, [order.id, SECOND.latitude], { timeout: WAIT });
  await fits(ctx, viewer, "the share page with its map");
  await fits(ctx, driver, "the driver page while delivering");
  await fits(ctx, app, "the order page with its map");
  await screenshot(ctx, viewer, "track-map-360x740");
  await screenshot(ctx, driver, "driver-delivering-360x740");
  await screenshot(ctx, board, "staff-board-map-1280x900");

  // A wrong code is refused and said so; the right one delivers and stops the sharing.
  const wrong = code === "0000" ? "1111" : "0000";
  await delivery.locator("input.code-input").fill(wrong);
  await delivery.locator("button.move").click();
  await delivery.locator("[data-testid=move-error]", { hasText: "not right" }).waitFor({ timeout: WAIT });
  await delivery.locator("input.code-input").fill(code);
  await delivery.locator("button.move").click();
  await driver.locator("#notice", { hasText: "position sharing stopped" }).waitFor({ timeout: WAIT });
  await delivery.waitFor({ state: "detached", timeout: WAIT });
  assert.match(await driver.textContent("#sharing-state"), /not being shared/);

  await viewer.locator("#status", { hasText: "Delivered" }).waitFor({ timeout: WAIT });
  await viewer.locator("#map-box").waitFor({ state: "hidden", timeout: WAIT });
  await app.locator("#detail-map-box").waitFor({ state: "hidden", timeout: WAIT });
  await board.locator(`.order-card[data-order-id="${order.id}"]`).waitFor({ state: "detached", timeout: WAIT });
  for (const page of [board, driver, viewer, app]) await page.context().close();
}
