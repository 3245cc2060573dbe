// Journey 11: the API reference page renders the server's own OpenAPI document, every
// operation of it, from this server alone (run.mjs fails any request to another host and any
// CSP violation); its heading follows the chosen language, and it fits a 360 px screen.

const WAIT = 10_000;
const METHODS = ["get", "put", "post", "patch", "delete"];

export async function apiReference(ctx) {
  const { assert } = ctx;
  const doc = await (await fetch(`${ctx.base}/api/openapi.json`)).json();
  const operations = Object.values(doc.paths)
    .flatMap((item) => METHODS.filter((method) => item[method]))
    .length;

  const page = await ctx.newPage();
  await page.goto("/api-docs");
  await page.locator(".opblock").first().waitFor({ timeout: WAIT });
  assert.equal(await page.locator(".opblock").count(), operations, "one block per operation");
  assert.equal(await page.textContent("h1"), "API reference");
  await page.screenshot({ path: `${ctx.screenshots}/api-docs.png` });
  // An operation opens to its parameters and answers.
  const detail = page.locator("#operations-Orders-get_orders_id");
  await detail.locator(".opblock-summary").click();
  await detail.locator(".responses-table").waitFor({ timeout: WAIT });
  assert.match(await detail.textContent(), /404/, "the shared error answers are listed");
  await detail.screenshot({ path: `${ctx.screenshots}/api-docs-operation.png` });

  // On a phone, in Indonesian: nothing wider than the screen.
  const indonesian = await ctx.newPage({ viewport: { width: 360, height: 740 } });
  await indonesian.addInitScript(() => localStorage.setItem("order-tracker.lang", "id"));
  await indonesian.goto("/api-docs");
  await indonesian.locator(".opblock").first().waitFor({ timeout: WAIT });
  assert.equal(await indonesian.textContent("h1"), "Referensi API");
  const width = await indonesian.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `the page is ${width} px wide at 360`);
  await indonesian.screenshot({ path: `${ctx.screenshots}/api-docs-360x740.png` });
}
