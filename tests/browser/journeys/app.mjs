// Journeys through the customer app (`/`), driven by tests/browser/run.mjs with its `ctx`.
// Every wait is bounded (WAIT) so a broken page fails fast instead of hanging the run.

const WAIT = 10_000;
const SESSION_KEY = "order-tracker.session";

const PHONE = { width: 360, height: 740 };

/** Opens the app in English, so status names and texts can be compared. */
async function openApp(ctx, options) {
  const page = await ctx.newPage(options);
  await page.goto(`${ctx.base}/`);
  await page.click("#lang-en");
  return page;
}

async function visible(page, selector) {
  await page.locator(selector).waitFor({ state: "visible", timeout: WAIT });
}

async function textIs(page, selector, text) {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.textContent.trim() === want,
    [selector, text], { timeout: WAIT },
  );
}

async function fillLogin(page, who) {
  await visible(page, "#login-form");
  await page.fill("#login-email", who.email);
  await page.fill("#login-password", who.password);
  await page.click("#login-submit");
}

async function signIn(page, who) {
  await fillLogin(page, who);
  await visible(page, "#orders-view");
}

/** Both sockets (orders and inbox) are up, so what happens next arrives live. */
async function live(page) {
  await page.locator('#live-state[data-state="live"]').waitFor({ timeout: WAIT });
}

async function registerByApi(ctx) {
  const who = { email: `customer-${ctx.unique()}@example.com`, password: "journey-secret-1" };
  const { status, body } = await ctx.api("POST", "/api/register", null, who);
  ctx.assert.equal(status, 201, JSON.stringify(body));
  return { ...who, id: body.data.id };
}

/** Usable at this width: nothing scrolls sideways. */
async function fits(ctx, page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  ctx.assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
}

async function screenshot(ctx, page, name) {
  if (ctx.screenshots) await page.screenshot({ path: `${ctx.screenshots}/${name}.png`, fullPage: true });
}

const sessionToken = (page) =>
  page.evaluate((key) => JSON.parse(sessionStorage.getItem(key))?.token, SESSION_KEY);

/** Journey 1, first half: a new customer registers, orders, opens the order and shares it. */
export async function customerSharesOrder(ctx) {
  const { assert } = ctx;
  const page = await openApp(ctx, { viewport: PHONE });
  const customer = { email: `customer-${ctx.unique()}@example.com`, password: "journey-secret-1" };
  await page.click("#to-register");
  await visible(page, "#register-form");
  await page.fill("#register-email", customer.email);
  await page.fill("#register-password", customer.password);
  await page.click("#register-submit");
  await visible(page, "#orders-view");

  const items = `Nasi Goreng, Es Teh ${ctx.unique()}`;
  await page.fill("#order-items", items);
  await page.click("#create-order-submit");
  const row = page.locator("#orders [data-order-id]", { hasText: items });
  await row.waitFor({ timeout: WAIT });
  const orderId = Number(await row.getAttribute("data-order-id"));
  assert.ok(orderId > 0, "the listed order carries its id");
  const status = row.locator(".status");
  assert.equal(await status.getAttribute("data-status"), "pending");
  assert.equal((await status.textContent()).trim(), "Pending");

  await row.locator("a").click();
  await visible(page, "#order-detail");
  await page.locator("#timeline li").first().waitFor({ timeout: WAIT });
  assert.equal(await page.locator("#detail-items").textContent(), items);
  await page.click("#share-button");
  await page.waitForFunction(() => document.querySelector("#share-url").value !== "", null, { timeout: WAIT });
  const url = await page.inputValue("#share-url");
  assert.match(url, /^https?:\/\/[^/]+\/track\/[0-9a-f]{64}$/, "an absolute tracking URL");
  await fits(ctx, page);
  await screenshot(ctx, page, "app-order-360x740");

  customer.token = await sessionToken(page);
  customer.id = await page.evaluate((key) => JSON.parse(sessionStorage.getItem(key))?.user.id, SESSION_KEY);
  return { page, customer, orderId, url };
}

/** Journey 3: the unread badge follows sends and reads live, in two signed-in pages. */
export async function inboxBadgeFollowsOtherTabs(ctx) {
  const { assert } = ctx;
  const customer = await registerByApi(ctx);
  const first = await openApp(ctx, { viewport: PHONE });
  const second = await openApp(ctx);
  for (const page of [first, second]) {
    await signIn(page, customer);
    await live(page);
    await textIs(page, "#inbox-badge", "0");
  }

  const sent = [];
  for (const n of [1, 2]) {
    // The second one's `data` is hostile: the inbox must still show it (any JSON object is
    // allowed there, and the app takes only a whole number as an order id).
    const data = n === 2 ? { order_id: { toString: 1 } } : { order_id: 1 };
    const { status, body } = await ctx.api("POST", "/api/notifications/send", ctx.admin.token, {
      user_id: customer.id, title: `Hello ${n}`, message: `Journey message ${n}`, data,
    });
    assert.equal(status, 201, JSON.stringify(body));
    sent.push(body.data.id);
    for (const page of [first, second]) await textIs(page, "#inbox-badge", String(n));
  }

  await second.click("#nav-inbox");
  const item = second.locator(`#inbox [data-notification-id="${sent[0]}"]`);
  await item.waitFor({ timeout: WAIT });
  await item.locator(".mark-read").click();
  await item.locator(".mark-read").waitFor({ state: "detached", timeout: WAIT });
  assert.equal(await item.getAttribute("data-read"), "true");
  await textIs(second, "#inbox-badge", "1");
  await textIs(first, "#inbox-badge", "1");

  // The other unread one, marked in the first page, empties both badges.
  await first.click("#nav-inbox");
  await first.locator(`#inbox [data-notification-id="${sent[1]}"] .mark-read`).click();
  for (const page of [first, second]) {
    await textIs(page, "#inbox-badge", "0");
    await page.locator("#inbox-badge").waitFor({ state: "hidden", timeout: WAIT });
  }
  await second.locator(`#inbox [data-notification-id="${sent[1]}"][data-read="true"]`).waitFor({ timeout: WAIT });
  await fits(ctx, first);
  for (const page of [first, second]) await page.context().close();
  return { customer, notificationIds: sent };
}

/** Journey 4: two-factor setup from the QR code, then a login that asks for the code. */
export async function twoFactorSetup(ctx) {
  const { assert } = ctx;
  const customer = await registerByApi(ctx);
  const page = await openApp(ctx, { viewport: PHONE });
  await signIn(page, customer);
  await page.click("#nav-account");
  await visible(page, "#totp-start");
  await textIs(page, "#totp-status", "Two-factor login is off.");
  await page.click("#totp-start");
  await visible(page, "#totp-qr");

  const src = await page.getAttribute("#totp-qr", "src");
  assert.match(src, /^data:image\/png;base64,/);
  const uri = await ctx.decodeQr(Buffer.from(src.slice(src.indexOf(",") + 1), "base64"));
  assert.match(uri, /^otpauth:\/\/totp\//);
  const secret = new URL(uri).searchParams.get("secret");
  assert.ok(secret, "the QR code's URI carries the secret");
  assert.equal((await page.textContent("#totp-secret")).trim(), secret);
  await fits(ctx, page);

  await page.fill("#totp-code", ctx.totpCode(secret));
  await page.fill("#totp-password", customer.password);
  await page.click("#totp-verify");
  await page.locator('#totp-status[data-enabled="true"]').waitFor({ timeout: WAIT });
  await textIs(page, "#totp-status", "Two-factor login is on.");
  // Turning it on ended the old token; the page goes on with the fresh one, sockets included.
  await live(page);
  const token = await sessionToken(page);
  assert.equal((await ctx.api("GET", "/api/me", token)).status, 200);

  await page.click("#logout");
  await fillLogin(page, customer);
  await visible(page, "#totp-field");
  assert.ok(await page.locator("#orders-view").isHidden(), "not signed in without the code");

  // Each 30 s step's code is accepted once and verify used this step's; the server allows one
  // step of clock drift, so the next step's code (a phone running a little fast) is fresh.
  await page.fill("#login-totp", ctx.totpCode(secret, 1));
  await page.click("#login-submit");
  await visible(page, "#orders-view");
  await live(page);
  const signedIn = { ...customer, secret, token: await sessionToken(page) };
  await page.context().close();
  return { customer: signedIn };
}
