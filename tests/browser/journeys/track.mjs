// Journeys through the public tracking page (/track/{token}): a shared order watched live from
// an anonymous browser, across a network cut; a revoked link; the screenshots README shows.

/** Moves an order as the driver would, over the API. */
async function move(ctx, orderId, status, extra = {}) {
  const answer = await ctx.api("PUT", `/api/orders/${orderId}/status`, ctx.driver.token, { status, ...extra });
  ctx.assert.equal(answer.status, 200, JSON.stringify(answer.body));
}

async function statusesShown(page) {
  return page.$$eval("#timeline li", (items) => items.map((li) => li.dataset.status));
}

async function timelineLength(page, length) {
  await page.waitForFunction((n) => document.querySelectorAll("#timeline li").length === n, length);
}

/** A customer made over the API, an order of theirs and a link to it. */
async function sharedOrderByApi(ctx, items) {
  const email = `viewer-${ctx.unique()}@example.com`;
  const password = "secret-password";
  let answer = await ctx.api("POST", "/api/register", null, { name: "Sari", email, password });
  ctx.assert.equal(answer.status, 201, JSON.stringify(answer.body));
  answer = await ctx.api("POST", "/api/login", null, { email, password });
  const token = answer.body.data.token;
  answer = await ctx.api("POST", "/api/orders", token, { items });
  const orderId = answer.body.data.id;
  answer = await ctx.api("POST", `/api/orders/${orderId}/share-links`, token);
  ctx.assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return { token, orderId, link: answer.body.data };
}

/** Journey 1: shared from the app, watched anonymously; changes arrive without reload, and
 * after a cut both changes made meanwhile appear once, in order. */
export async function watchSharedOrderLive(ctx, app) {
  const { orderId, url } = await app.customerSharesOrder(ctx);
  const viewer = await ctx.newPage({ through: ctx.relay.base });
  await viewer.goto(new URL(url, ctx.base).pathname);
  await viewer.locator("#status", { hasText: "Pending" }).waitFor();
  await viewer.locator('#live[data-state="live"]').waitFor();

  // Notes are shown as text, never as markup.
  const notes = "Rider picks up at 12:30 <img src=x onerror=alert(1)>";
  await move(ctx, orderId, "confirmed", { notes });
  await viewer.locator("#status", { hasText: "Confirmed" }).waitFor();
  await timelineLength(viewer, 2);
  await viewer.locator("#driver-name", { hasText: "Budi" }).waitFor();
  ctx.assert.equal(await viewer.locator("#timeline li .notes").last().innerText(), notes);
  ctx.assert.equal(await viewer.locator("#timeline img").count(), 0);

  ctx.setOutage(true);
  ctx.relay.cut();
  await viewer.locator('#live[data-state="reconnecting"]').waitFor();
  await move(ctx, orderId, "preparing");
  await move(ctx, orderId, "ready");
  ctx.relay.restore();
  await viewer.locator('#live[data-state="live"]').waitFor({ timeout: 30_000 });
  ctx.setOutage(false);
  await viewer.locator("#status", { hasText: "Ready" }).waitFor();
  await timelineLength(viewer, 4);
  // Nothing arrives twice, even a moment later.
  await viewer.waitForTimeout(500);
  ctx.assert.deepEqual(await statusesShown(viewer), ["pending", "confirmed", "preparing", "ready"]);
  await viewer.context().close();
}

/** Journey 2: the open page says the link is no longer valid; reopening it says the same. */
export async function revokedLinkSaysSo(ctx) {
  const { token, orderId, link } = await sharedOrderByApi(ctx, "Es Teh");
  const page = await ctx.newPage();
  await page.goto(link.url);
  await page.locator('#live[data-state="live"]').waitFor();
  const revoked = await ctx.api("DELETE", `/api/orders/${orderId}/share-links/${link.id}`, token);
  ctx.assert.equal(revoked.status, 200);
  await page.locator("#ended").waitFor();
  ctx.assert.ok(await page.locator("#order").isHidden());
  await page.reload();
  await page.locator("#ended").waitFor();
  ctx.assert.match(await page.locator("#ended h1").innerText(), /no longer valid/);
  await page.context().close();
}

/** Journey 6: the tracking page of an order on its way, narrow and wide. */
export async function screenshots(ctx) {
  const { orderId, link } = await sharedOrderByApi(ctx, "Nasi Goreng, Es Teh");
  await move(ctx, orderId, "confirmed");
  await move(ctx, orderId, "preparing");
  const eta = new Date(Date.now() + 25 * 60_000).toISOString();
  await move(ctx, orderId, "shipped", { estimated_time: eta, notes: "Budi is on his way" });
  for (const [width, height] of [[360, 740], [1280, 800]]) {
    const page = await ctx.newPage({ viewport: { width, height } });
    await page.goto(link.url);
    await page.locator('#live[data-state="live"]').waitFor();
    await timelineLength(page, 4);
    // Usable at this width: nothing scrolls sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    ctx.assert.ok(overflow <= 0, `the page is ${overflow}px wider than ${width}px`);
    await page.screenshot({ path: `${ctx.screenshots}/track-${width}x${height}.png`, fullPage: true });
    await page.context().close();
  }
}
