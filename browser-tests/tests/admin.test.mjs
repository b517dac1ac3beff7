// The operator page in a real browser: the key, the queue figures, opening the gate wider, sales
// per date and a new concert.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ADMIN_KEY, apiFan, call, englishPage, launch, screenshot, startDemo, waitForText } from "./support.mjs";

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

    const page = await englishPage(browser);
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
    // One seat sold on the first concert's first date, through the API.
    const buyer = await apiFan(demo.base, "Buyer");
    const concerts = await call(demo.base, "GET", "/api/v1/concerts");
    const { concertId } = concerts.body[0];
    const dates = await call(demo.base, "GET", `/api/v1/concerts/${concertId}/dates`);
    const body = { concertId, date: dates.body[0].date, seatNumber: 1 };
    const held = await call(demo.base, "POST", "/api/v1/reservations", { token: buyer.token, body });
    await call(demo.base, "POST", "/api/v1/wallet/charges", { token: buyer.token, body: { amount: held.body.price } });
    const paid = await call(demo.base, "POST", "/api/v1/payments", {
      token: buyer.token, body: { reservationId: held.body.reservationId },
    });
    assert.equal(paid.status, 201);

    const page = await englishPage(browser);
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    await page.locator("#dates tr").first().waitFor();
    assert.equal(await page.locator("#dates tr").count(), 9, "three seeded concerts of three dates");
    const firstRow = await page.locator("#dates tr").first().locator("td").allTextContents();
    assert.deepEqual(firstRow.slice(1, 5), [body.date, "50", "0", "1"], "seats, held, sold");
    assert.equal(firstRow[5].replace(/\D/g, ""), String(held.body.price), "the date's revenue");
    await waitForText(page, "#sold", "1 / 450");

    await page.getByLabel("Title").fill("Browser Test Live");
    await page.getByRole("button", { name: "Create the concert" }).click();
    await waitForText(page, "#notice", "Created");
    await waitForText(page, "#dates", "Browser Test Live");
    await screenshot(page, "operator", "3-created");
    const after = await call(demo.base, "GET", "/api/v1/concerts");
    assert.ok(after.body.some((concert) => concert.title === "Browser Test Live"));
  } finally {
    await demo.stop();
  }
});
