// The operator page in a real browser: the key, the queue figures, opening the gate wider, sales
// per date and a new concert.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ADMIN_KEY, apiFan, call, launch, screenshot, startDemo, waitForText } from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test("the operator raises activeMax and watches the queue drain", async () => {
  const demo = await startDemo(["--active-max", "1"]);
  try {
    const fans = [];
    for (const name of ["One", "Two", "Three"]) fans.push(await apiFan(demo.base, name));
    assert.deepEqual(fans.map((fan) => fan.status), ["ACTIVE", "WAITING", "WAITING"]);

    const page = await browser.newPage();
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill("wrong");
    await page.getByRole("button", { name: "Open" }).click();
    await waitForText(page, "#error", "admin key");
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    await waitForText(page, "#waiting", "2");
    await waitForText(page, "#active", "1");
    await screenshot(page, "operator", "1-queue");

    await page.getByLabel("Let this many be active at once").fill("5");
    await page.getByRole("button", { name: "Set" }).click();
    await waitForText(page, "#waiting", "0");
    await waitForText(page, "#active", "3");
    await waitForText(page, "#active-max", "5");
    await screenshot(page, "operator", "2-drained");
    const gate = await call(demo.base, "GET", "/api/v1/admin/queue", { admin: true });
    assert.equal(gate.body.activeMax, 5);
  } finally {
    await demo.stop();
  }
});

test("the operator sees sales per date and creates a concert", async () => {
  const demo = await startDemo();
  try {
    const page = await browser.newPage();
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#dates tr").first().waitFor();
    assert.equal(await page.locator("#dates tr").count(), 9, "three seeded concerts of three dates");

    await page.getByLabel("Title").fill("Browser Test Live");
    await page.getByRole("button", { name: "Create the concert" }).click();
    await waitForText(page, "#notice", "Created");
    await waitForText(page, "#dates", "Browser Test Live");
    await screenshot(page, "operator", "3-created");
    const concerts = await call(demo.base, "GET", "/api/v1/concerts");
    assert.ok(concerts.body.some((concert) => concert.title === "Browser Test Live"));
  } finally {
    await demo.stop();
  }
});
