// An order of several seats in a real browser: a fan holds seats on two dates, sees them on one
// hold bar with the total, gives one back, and pays for the rest in one payment, a ticket each.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  accessibilityViolations, ADMIN_KEY, call, englishDate, englishPage, launch, openFirstDate, screenshot, seat, signInAndJoin,
  startDemo, waitForSeat, waitForText,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test("a fan holds seats on two dates, gives one back, and pays for two in one payment", async () => {
  const demo = await startDemo();
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Ada");
    await page.locator("#queue-active").waitFor();
    const { concert, date } = await openFirstDate(page, demo.base);

    await seat(page, 5).click();
    await waitForSeat(page, 5, "MINE");
    await waitForText(page, "#hold-more", "You may add seats, up to 4");
    await seat(page, 6).click();
    await waitForSeat(page, 6, "MINE");
    const dates = await call(demo.base, "GET", `/api/v1/concerts/${concert.concertId}/dates`);
    const other = dates.body.map((each) => each.date).find((each) => each !== date);
    await page.locator(`#dates button[data-date="${other}"]`).click();
    await seat(page, 7).click();
    await waitForSeat(page, 7, "MINE");
    await waitForText(page, "#hold-title", "Your seats (3)");
    assert.equal(await page.locator("#hold-list li").count(), 3, "a line per seat");
    assert.equal(await page.locator("#pay").textContent(), "Pay for 3 seats");
    assert.deepEqual(await accessibilityViolations(page), [], "the hold bar of several seats is accessible");
    await screenshot(page, "order", "1-three-held");

    // One seat given back from its own line; the other two stay on the bar.
    await page.getByRole("button", { name: "Give back seat 6" }).click();
    await waitForText(page, "#hold-title", "Your seats (2)");
    assert.equal(await page.locator("#hold-what").textContent(), `${concert.title}: 2 seats`);
    const lines = await page.locator("#hold-list li").allTextContents();
    assert.match(lines[0], new RegExp(`^${englishDate(date)}, seat 5, ₩[\\d,]+ · [45]:\\d\\d Give back seat 5$`));
    assert.match(lines[1], new RegExp(`^${englishDate(other)}, seat 7, ₩[\\d,]+ · [45]:\\d\\d Give back seat 7$`));
    const total = await page.locator("#hold-price").textContent();

    // A short balance is topped up by exactly the total's shortfall, then one Pay for both.
    await page.getByRole("button", { name: "Pay for 2 seats" }).click();
    await page.locator("#top-up-short").waitFor();
    assert.equal(await page.locator("#top-up-short").textContent(), `Top up ${total}`);
    await page.locator("#top-up-short").click();
    await waitForText(page, "#balance", total);
    await page.getByRole("button", { name: "Pay for 2 seats" }).click();
    await page.locator("#tickets").waitFor();
    const cards = page.locator("#ticket .ticket");
    assert.equal(await cards.count(), 2, "a ticket per seat");
    await screenshot(page, "order", "2-two-tickets");

    const codes = await cards.evaluateAll((all) => all.map((card) => card.dataset.ticketCode));
    const seats = [];
    for (const code of codes) {
      const ticket = await call(demo.base, "GET", `/api/v1/tickets/${code}`);
      seats.push([ticket.body.date, ticket.body.seatNumber, ticket.body.status]);
    }
    assert.deepEqual(seats, [[date, 5, "VALID"], [other, 7, "VALID"]]);
    await page.locator("#my-ticket-list .ticket").nth(1).waitFor();
    assert.equal(await page.locator("#my-ticket-list .ticket").count(), 2, "both kept under My tickets");
    // The operator counts one order of two seats.
    const operator = await englishPage(browser);
    await operator.goto(`${demo.base}/admin`);
    await operator.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await operator.getByRole("button", { name: "Open" }).click();
    await waitForText(operator, "#orders", "1");
    await waitForText(operator, "#sold", "2 / ");
    const map = await call(demo.base, "GET", `/api/v1/concerts/${concert.concertId}/dates`);
    const left = Object.fromEntries(map.body.map((each) => [each.date, each.availableSeats]));
    assert.deepEqual([left[date], left[other]], [49, 49], "one seat sold on each date, seat 6 free again");
  } finally {
    await demo.stop();
  }
});

test("one of several holds lapses: it leaves the hold bar, the other stays and is paid", async () => {
  const demo = await startDemo(["--hold-ttl", "10s"]);
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Grace");
    await page.locator("#queue-active").waitFor();
    const { date } = await openFirstDate(page, demo.base);
    await page.getByLabel("Top up (won)").fill("500000");
    await page.getByRole("button", { name: "Charge", exact: true }).click();
    await waitForText(page, "#balance", "₩500,000");

    await seat(page, 3).click();
    await waitForSeat(page, 3, "MINE");
    // Seat 4 held five seconds later lapses five seconds after seat 3.
    await page.waitForTimeout(5_000);
    await seat(page, 4).click();
    await waitForSeat(page, 4, "MINE");
    await waitForText(page, "#hold-title", "Your seats (2)");

    await waitForText(
      page, "#notice", `Your hold on seat 3 (${englishDate(date)}) has lapsed; your other seats are still held.`, 15_000,
    );
    // Seat 4 has about five seconds left (more by the click's time, rounded up): anything but 0.
    assert.match(await page.locator("#hold-left").textContent(), /^([1-9]|10) s$/, "counting down to seat 4's time at once");
    await waitForSeat(page, 3, "AVAILABLE");
    await waitForSeat(page, 4, "MINE");
    assert.equal(await page.locator("#hold-list").isHidden(), true, "one seat left: no list of lines");
    assert.match(await page.locator("#hold-what").textContent(), /seat 4$/);
    assert.equal(await page.locator("#pay").textContent(), "Pay now");
    await screenshot(page, "order", "3-one-lapsed");

    await page.locator("#pay").click();
    await page.locator("#tickets").waitFor();
    const cards = page.locator("#ticket .ticket");
    assert.equal(await cards.count(), 1, "a ticket for the seat still held, none for the lapsed one");
    const code = await cards.first().evaluate((card) => card.dataset.ticketCode);
    const ticket = await call(demo.base, "GET", `/api/v1/tickets/${code}`);
    assert.deepEqual([ticket.body.date, ticket.body.seatNumber], [date, 4]);
  } finally {
    await demo.stop();
  }
});
