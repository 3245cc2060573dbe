// Journeys through the staff pages (/staff, /driver, /analytics), driven by run.mjs with its
// `ctx`: the live board, the analytics charts, narrow screens and who may open which page.
// Staff sign in by their token (the test server made them); a customer signs in by the form.

const WAIT = 10_000;
const SESSION_KEY = "order-tracker.session";
export const PHONE = { width: 360, height: 740 };
const DESKTOP = { width: 1280, height: 900 };

/** A page signed in as `who` ({token, id}) in a context of its own, in English. */
export async function openAs(ctx, who, path, viewport = DESKTOP) {
  const page = await ctx.newPage({ viewport });
  const session = JSON.stringify({
    token: who.token, user: { id: who.id }, expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  });
  await page.context().addInitScript(([key, value, lang]) => {
    sessionStorage.setItem(key, value);
    localStorage.setItem("order-tracker.lang", lang);
  }, [SESSION_KEY, session, "en"]);
  await page.goto(path);
  return page;
}

/** A new customer over the API: {email, password, id, token}. */
export async function customerByApi(ctx, name = "Sari Wulandari") {
  const who = { email: `customer-${ctx.unique()}@example.com`, password: "journey-secret-1" };
  let answer = await ctx.api("POST", "/api/register", null, { ...who, name });
  ctx.assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await ctx.api("POST", "/api/login", null, who);
  ctx.assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return { ...who, id: answer.body.data.user.id, token: answer.body.data.token };
}

/** An order of `customer`'s, made over the API. */
export async function orderByApi(ctx, customer, extra = {}) {
  const answer = await ctx.api("POST", "/api/orders", customer.token, {
    items: `Nasi Goreng ${ctx.unique()}`, delivery_location: "Jl. Sudirman 1, Jakarta", ...extra,
  });
  ctx.assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.data;
}

/** Changes an order over the API as `who` and checks it was accepted. */
export async function expectOk(ctx, method, route, who, body) {
  const answer = await ctx.api(method, route, who.token, body);
  ctx.assert.ok(answer.status >= 200 && answer.status < 300, `${method} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body?.data;
}

export async function live(page, selector = "#live-state") {
  await page.locator(`${selector}[data-state="live"]`).waitFor({ timeout: WAIT });
}

/** Usable at this width: nothing scrolls sideways. */
export async function fits(ctx, page, what) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  ctx.assert.ok(overflow <= 0, `${what || page.url()} is ${overflow}px wider than the window`);
}

export async function screenshot(ctx, page, name) {
  await page.screenshot({ path: `${ctx.screenshots}/${name}.png`, fullPage: true });
}

const card = (id) => `.order-card[data-order-id="${id}"]`;

async function cardIn(page, status, id) {
  await page.locator(`[data-cards="${status}"] ${card(id)}`).waitFor({ timeout: WAIT });
}

/** Journey 7: the board follows changes made anywhere; a card offers only the legal moves; an
 * admin assigns a driver and moves a card from the board; filters; a driver claims an order. */
export async function boardFollowsChanges(ctx) {
  const { assert } = ctx;
  const board = await openAs(ctx, ctx.admin, "/staff");
  await live(board);
  const customer = await customerByApi(ctx, "Dewi Lestari");
  const order = await orderByApi(ctx, customer);
  const other = await orderByApi(ctx, customer);

  // Created elsewhere: the cards appear in the pending column.
  await cardIn(board, "pending", order.id);
  await cardIn(board, "pending", other.id);
  assert.equal((await board.textContent(`${card(order.id)} .customer`)).trim(), "Dewi Lestari");

  // Moved elsewhere (the REST API, as a driver): the card moves to its new column.
  await expectOk(ctx, "PUT", `/api/orders/${order.id}/status`, ctx.driver, { status: "confirmed" });
  await cardIn(board, "confirmed", order.id);
  assert.equal(await board.locator(`[data-cards="pending"] ${card(order.id)}`).count(), 0);

  // Only the moves the status machine allows: forward, and cancel until shipped.
  const offered = await board.$$eval(`${card(order.id)} select.move-to option`, (options) => options.map((o) => o.value));
  assert.deepEqual(offered, ["preparing", "ready", "shipped", "delivered", "cancelled"]);

  // The admin assigns Budi, then moves the card from the board itself.
  await board.selectOption(`${card(order.id)} select.assign-driver`, String(ctx.driver.id));
  await board.locator(`${card(order.id)}[data-driver-id="${ctx.driver.id}"]`).waitFor({ timeout: WAIT });
  assert.match(await board.textContent(`${card(order.id)} .driver`), /Budi Santoso/);
  await board.selectOption(`${card(order.id)} select.move-to`, "preparing");
  await board.click(`${card(order.id)} button.move`);
  await cardIn(board, "preparing", order.id);

  // Filters: by text (the order number) and by driver.
  await board.fill("#filter-text", order.order_number);
  await board.waitForFunction((id) => {
    const shown = [...document.querySelectorAll(".order-card:not(.hidden)")];
    return shown.length === 1 && shown[0].dataset.orderId === String(id);
  }, order.id, { timeout: WAIT });
  await board.fill("#filter-text", "");
  await board.selectOption("#filter-driver", "none");
  await board.locator(card(order.id)).waitFor({ state: "hidden", timeout: WAIT });
  assert.ok(await board.locator(card(other.id)).isVisible(), "an unassigned order shows under 'Unassigned'");
  await board.selectOption("#filter-driver", String(ctx.driver.id));
  await board.locator(card(other.id)).waitFor({ state: "hidden", timeout: WAIT });
  assert.ok(await board.locator(card(order.id)).isVisible(), "Budi's order shows under Budi");
  await board.selectOption("#filter-driver", "all");

  // A driver's board: an unassigned card can be claimed; afterwards it is his.
  const driverBoard = await openAs(ctx, ctx.driver, "/staff");
  await live(driverBoard);
  const claim = driverBoard.locator(`${card(other.id)} button.claim`);
  await claim.click();
  await driverBoard.locator(`${card(other.id)}[data-driver-id="${ctx.driver.id}"]`).waitFor({ timeout: WAIT });
  await board.locator(`${card(other.id)}[data-driver-id="${ctx.driver.id}"]`).waitFor({ timeout: WAIT });
  assert.equal(await driverBoard.locator(`${card(other.id)} button.claim`).count(), 0);
  assert.equal(await driverBoard.locator(`${card(order.id)} select.assign-driver`).count(), 0, "drivers do not assign");

  // Cancelled and delivered orders leave the board.
  await expectOk(ctx, "PUT", `/api/orders/${other.id}/status`, ctx.admin, { status: "cancelled" });
  await board.locator(card(other.id)).waitFor({ state: "detached", timeout: WAIT });
  await driverBoard.locator(card(other.id)).waitFor({ state: "detached", timeout: WAIT });
  await screenshot(ctx, board, "staff-board-1280x900");
  for (const page of [board, driverBoard]) await page.context().close();
}

/** Journey 9: the analytics page draws its charts, in both languages, without errors. */
export async function analyticsCharts(ctx) {
  const { assert } = ctx;
  // At least one order today, so the charts have something to draw.
  const customer = await customerByApi(ctx);
  const order = await orderByApi(ctx, customer);
  await expectOk(ctx, "PUT", `/api/orders/${order.id}/status`, ctx.admin, { status: "confirmed" });
  const page = await openAs(ctx, ctx.admin, "/analytics");
  const charts = page.locator("canvas[data-testid=chart]");
  await page.waitForFunction(() => {
    const all = [...document.querySelectorAll("canvas[data-testid=chart]")];
    return all.length > 0 && all.every((c) => c.dataset.rendered === "true");
  }, null, { timeout: WAIT });
  assert.equal(await charts.count(), 6);
  const orders = Number(await page.textContent("#kpi-orders"));
  assert.ok(orders >= 1, `the period counts today's orders (${orders})`);
  assert.equal(await page.getAttribute("#chart-per-day", "data-points"), "7");
  assert.equal(await page.getAttribute("#chart-hours", "data-points"), "24");
  // Drawn, not blank: the per-day chart has coloured pixels.
  const inked = await page.$eval("#chart-per-day", (canvas) => {
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count += 1;
    return count;
  });
  assert.ok(inked > 100, "the chart drew something");
  await screenshot(ctx, page, "analytics-1280x900");

  await page.selectOption("#range-days", "14");
  await page.waitForFunction(() => document.querySelector("#chart-per-day").dataset.points === "14", null, { timeout: WAIT });
  await page.click("#lang-id");
  await page.locator("figcaption", { hasText: "Pesanan per hari" }).waitFor({ timeout: WAIT });
  await page.context().close();
}

/** Journey 10: every staff page at 360 px without sideways scroll; a customer who signs in on a
 * staff page, and a driver on the admins' page, are told they have no access. */
export async function narrowPagesAndAccess(ctx) {
  const { assert } = ctx;
  const customer = await customerByApi(ctx);
  await orderByApi(ctx, customer);
  for (const [who, path, name, ready] of [
    [ctx.admin, "/staff", "staff-admin", "#board .column"],
    [ctx.driver, "/staff", "staff-driver", "#board .column"],
    [ctx.driver, "/driver", "driver", "#deliveries"],
    [ctx.admin, "/analytics", "analytics", 'canvas[data-rendered="true"]'],
  ]) {
    const page = await openAs(ctx, who, path, PHONE);
    await page.locator("#page").waitFor({ timeout: WAIT });
    await page.locator(ready).first().waitFor({ state: "attached", timeout: WAIT });
    await page.locator("#loading").waitFor({ state: "hidden", timeout: WAIT });
    const problem = await page.locator("#notice.error:not(.hidden)").count() ? await page.textContent("#notice") : "";
    assert.equal(problem, "", `${path} (${name}) shows no error`);
    await fits(ctx, page, `${path} (${name})`);
    await screenshot(ctx, page, `${name}-360x740`);
    await page.context().close();
  }

  // Signing in on a staff page with a customer's account: the page says it is not for them.
  const page = await ctx.newPage({ viewport: PHONE });
  await page.goto("/driver");
  await page.click("#lang-en");
  await page.locator("#signin").waitFor({ timeout: WAIT });
  await page.fill("#signin-email", customer.email);
  await page.fill("#signin-password", customer.password);
  await page.click("#signin-submit");
  await page.locator("#no-access").waitFor({ timeout: WAIT });
  assert.match(await page.textContent("#no-access-text"), /for drivers/);
  assert.ok(await page.locator("#page").isHidden());
  await fits(ctx, page, "/driver (no access)");
  await page.context().close();

  const driverOnAnalytics = await openAs(ctx, ctx.driver, "/analytics", PHONE);
  await driverOnAnalytics.locator("#no-access").waitFor({ timeout: WAIT });
  assert.match(await driverOnAnalytics.textContent("#no-access-text"), /for admins/);
  await driverOnAnalytics.context().close();
}
