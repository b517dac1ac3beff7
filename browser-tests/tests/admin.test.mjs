// The operator console in a real browser: the key and signing out, the queue gate with its
// admission rate and time to clear the line, sales per date and their trend, a new concert, and
// the console on a phone in Korean with figures that never break.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ADMIN_KEY, DESKTOP, PHONE, accessibilityViolations, apiFan, call, englishDate, englishPage, launch, pageFor,
  screenshot, sidewaysScroll, startDemo, waitForText,
} from "./support.mjs";

/** The largest single charge and price the server allows by default. */
const CHARGE_MAX = 1_000_000_000;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

/** Opens the console with the admin key, by id: the page may be in either language. */
async function openConsole(page, base) {
  await page.goto(`${base}/admin`);
  await page.locator("#key").fill(ADMIN_KEY);
  await page.locator("#key-button").click();
  await page.locator("#dates tbody tr").first().waitFor();
}

/** The fan `buyer` buys `seatNumber` of the concert's date through the API. */
async function buySeat(base, buyer, concertId, date, seatNumber) {
  const body = { concertId, date, seatNumber };
  const held = await call(base, "POST", "/api/v1/reservations", { token: buyer.token, body });
  assert.equal(held.status, 201, JSON.stringify(held.body));
  await call(base, "POST", "/api/v1/wallet/charges", { token: buyer.token, body: { amount: held.body.price } });
  const paid = await call(base, "POST", "/api/v1/payments", {
    token: buyer.token, body: { reservationId: held.body.reservationId },
  });
  assert.equal(paid.status, 201, JSON.stringify(paid.body));
  return held.body;
}

/** Figures as long as the server allows: a seat sold at the highest price, and a fan holding the
 * most a wallet may hold, so revenue and balances run to ten and eleven digits. */
async function bigMoney(base) {
  const concert = await call(base, "POST", "/api/v1/admin/concerts", {
    admin: true, body: { title: "Gala", dates: [{ date: "2027-03-01", seatCount: 10, price: CHARGE_MAX }] },
  });
  await buySeat(base, await apiFan(base, "Patron"), concert.body.concertId, "2027-03-01", 1);
  const saver = await apiFan(base, "Saver");
  for (let charge = 0; charge < 10; charge += 1) {
    await call(base, "POST", "/api/v1/wallet/charges", { token: saver.token, body: { amount: CHARGE_MAX } });
  }
}

/** The figures whose number takes more than one line, or sticks out of its box. */
function brokenFigures(page) {
  return page.evaluate(() => [...document.querySelectorAll(".figure b")].filter((figure) => {
    const text = document.createRange();
    text.selectNodeContents(figure);
    const lines = new Set([...text.getClientRects()].map((line) => Math.round(line.top))).size;
    return lines !== 1 || figure.scrollWidth > figure.clientWidth;
  }).map((figure) => `${figure.id}: ${figure.textContent}`));
}

/** The admissions per minute the console shows, as a number (NaN for "—"). */
async function shownRate(page) {
  return Number.parseFloat((await page.locator("#rate").textContent()).replace(/[^\d.]/g, ""));
}

test("the operator raises activeMax and sees the admission rate and the time to clear the line", async () => {
  const demo = await startDemo(["--active-max", "1"]);
  try {
    const fans = [];
    for (const name of ["One", "Two", "Three", "Four"]) fans.push(await apiFan(demo.base, name));
    assert.deepEqual(fans.map((fan) => fan.status), ["ACTIVE", "WAITING", "WAITING", "WAITING"]);

    const page = await pageFor(browser, { locale: "en-US", screen: DESKTOP });
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill("wrong");
    await page.getByRole("button", { name: "Open" }).click();
    await waitForText(page, "#error", "admin key");
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    await waitForText(page, "#waiting", "3");
    await waitForText(page, "#active", "1");
    // Refreshes that let nobody in: a rate of nothing, and no time to clear.
    await waitForText(page, "#rate", "0");
    assert.equal(await page.locator("#clear-time").textContent(), "—");

    await page.getByLabel("Let this many be active at once").fill("2");
    await page.getByRole("button", { name: "Set" }).click();
    await waitForText(page, "#waiting", "2");
    await page.waitForFunction(() => Number.parseFloat(document.querySelector("#rate").textContent) > 0);
    assert.ok((await shownRate(page)) > 0, "a positive rate once a fan is let in");
    const clearTime = await page.locator("#clear-time").textContent();
    assert.match(clearTime, /^(about \d+ (h|min)|about \d+ h \d+ min|under a minute)$/, clearTime);
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, "operator", "1-desktop-en-rate");

    await page.getByLabel("Let this many be active at once").fill("5");
    await page.getByRole("button", { name: "Set" }).click();
    await waitForText(page, "#waiting", "0");
    await waitForText(page, "#active", "4");
    await waitForText(page, "#active-max", "5");
    await waitForText(page, "#clear-time", "no one waiting");
    const gate = await call(demo.base, "GET", "/api/v1/admin/queue", { admin: true });
    assert.equal(gate.body.activeMax, 5);
  } finally {
    await demo.stop();
  }
});

test("the operator sees sales per date, their trend across a reload, and creates a concert", async () => {
  const demo = await startDemo();
  try {
    const concerts = await call(demo.base, "GET", "/api/v1/concerts");
    const { concertId } = concerts.body[0];
    const dates = await call(demo.base, "GET", `/api/v1/concerts/${concertId}/dates`);
    const date = dates.body[0].date;

    const page = await englishPage(browser);
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    const dateRows = page.locator("#dates tbody tr:has(th.date)");
    await dateRows.first().waitFor();
    assert.equal(await dateRows.count(), 9, "three seeded concerts of three dates");
    assert.equal(await page.locator("#dates th.concert").first().textContent(), concerts.body[0].title);
    // The chart: a line per date, each with the one point it started at.
    const series = page.locator("#trend-series g");
    assert.equal(await series.count(), 9, "a line per date");
    const soldDate = page.locator(`#trend-series g[data-concert="${concertId}"][data-date="${date}"] circle`);
    assert.equal(await soldDate.count(), 1);
    assert.match(await page.getByRole("img").getAttribute("aria-labelledby"), /trend-chart-title/);
    assert.match(await page.locator("#trend-chart-title").textContent(), /Seats sold per date since .*: 9 dates/);

    // One seat sold on the first concert's first date while the console watches.
    const held = await buySeat(demo.base, await apiFan(demo.base, "Buyer"), concertId, date, 1);
    const soldDots = `#trend-series g[data-concert="${concertId}"][data-date="${date}"] circle`;
    await page.waitForFunction((selector) => document.querySelectorAll(selector).length === 2, soldDots);
    assert.deepEqual(await soldDate.evaluateAll((dots) => dots.map((dot) => dot.dataset.sold)), ["0", "1"]);
    await waitForText(page, "#trend-legend", `${concerts.body[0].title} · ${englishDate(date)}`);
    await waitForText(page, "#trend-legend", "No seat sold yet: 8 dates");
    await waitForText(page, "#sold", "1 / 450");
    const firstRow = await dateRows.first().locator("th, td").allTextContents();
    assert.deepEqual(firstRow.slice(0, 4), [englishDate(date), "50", "0", "1"], "date, seats, held, sold");
    assert.equal(firstRow[4].replace(/\D/g, ""), String(held.price), "the date's revenue");

    // A reload keeps the key and the trend watched so far.
    await page.reload();
    await dateRows.first().waitFor();
    assert.equal(await soldDate.count(), 2, "the trend survives a reload");

    await page.getByLabel("Title").fill("Browser Test Live");
    await page.getByRole("button", { name: "Create the concert" }).click();
    await waitForText(page, "#notice", "Created");
    await waitForText(page, "#dates", "Browser Test Live");
    await page.waitForFunction(() => document.querySelectorAll("#trend-series g").length === 10);
    await screenshot(page, "operator", "2-created");
    const after = await call(demo.base, "GET", "/api/v1/concerts");
    assert.ok(after.body.some((concert) => concert.title === "Browser Test Live"));
  } finally {
    await demo.stop();
  }
});

test("on a phone in Korean the console fits the screen and the date table scrolls by itself", async () => {
  const demo = await startDemo();
  try {
    await bigMoney(demo.base);
    const page = await pageFor(browser, { locale: "ko-KR", screen: PHONE });
    await openConsole(page, demo.base);
    assert.equal(await page.evaluate(() => document.documentElement.lang), "ko");
    for (const heading of ["매표소 운영 콘솔", "대기열 관리", "판매 현황", "판매 추이", "날짜별 현황", "새 공연 등록"]) {
      assert.ok(await page.getByRole("heading", { name: heading }).isVisible(), heading);
    }
    for (const label of ["대기 인원", "분당 입장", "대기열 해소 예상 시간", "동시 입장 최대", "누적 입장"]) {
      assert.ok(await page.getByText(label, { exact: true }).isVisible(), label);
    }
    assert.ok(await page.getByRole("button", { name: "로그아웃" }).isVisible());
    await waitForText(page, "#revenue", "1,000,000,000원");
    assert.equal(await sidewaysScroll(page), 0, "no sideways scroll on a phone");
    assert.deepEqual(await brokenFigures(page), [], "every figure on one line, inside its box");
    await screenshot(page, "operator", "3-phone-ko");

    // The table is wider than the phone: it scrolls in its own region, which the keyboard reaches.
    const region = page.getByRole("region", { name: "날짜별 현황" });
    assert.equal(await region.getAttribute("tabindex"), "0");
    assert.ok(await region.evaluate((box) => box.scrollWidth > box.clientWidth), "the table scrolls inside");
    await region.focus();
    await page.keyboard.press("ArrowRight");
    await page.waitForFunction(() => document.querySelector(".table-scroll").scrollLeft > 0);
    assert.equal(await sidewaysScroll(page), 0);

    assert.deepEqual(await accessibilityViolations(page), []);
  } finally {
    await demo.stop();
  }
});

test("on a desktop in English the money figures stay on one line", async () => {
  const demo = await startDemo();
  try {
    await bigMoney(demo.base);
    const page = await pageFor(browser, { locale: "en-US", screen: DESKTOP });
    await openConsole(page, demo.base);
    await waitForText(page, "#revenue", "₩1,000,000,000");
    await waitForText(page, "#balances", "₩10,");
    assert.deepEqual(await brokenFigures(page), [], "every figure on one line, inside its box");
    assert.equal(await sidewaysScroll(page), 0);
    assert.deepEqual(await accessibilityViolations(page), []);
    await screenshot(page, "operator", "4-desktop-en");
  } finally {
    await demo.stop();
  }
});

test("the operator switches language, the trend stays bounded, and signing out forgets the key across a reload", async () => {
  const demo = await startDemo();
  try {
    const page = await englishPage(browser);
    await openConsole(page, demo.base);
    await page.getByRole("button", { name: "한국어" }).click();
    assert.ok(await page.getByRole("heading", { name: "판매 현황" }).isVisible());
    await waitForText(page, "#dates", "년");
    await page.getByRole("button", { name: "English" }).click();
    assert.ok(await page.getByRole("heading", { name: "Sales", exact: true }).isVisible());

    // However long the console watches, the trend kept for a date stays bounded and still starts
    // where watching began.
    const kept = await page.evaluate(() => {
      const concert = { concertId: "bounded", title: "Bounded", dates: [{ date: "2027-01-01", seatsSold: 0 }] };
      for (let sold = 0; sold < 1000; sold += 1) {
        concert.dates[0].seatsSold = sold;
        recordSales([concert], 1_000_000 + sold);
      }
      const points = JSON.parse(sessionStorage.getItem("salesTrend")).series["bounded 2027-01-01"];
      return { count: points.length, first: points[0], last: points[points.length - 1] };
    });
    assert.ok(kept.count <= 120, `${kept.count} points kept`);
    assert.deepEqual([kept.first, kept.last], [[1_000_000, 0], [1_000_999, 999]]);

    await page.getByRole("button", { name: "Sign out" }).click();
    await waitForText(page, "#notice", "Signed out");
    assert.ok(await page.getByLabel("The key the server was started with").isVisible());
    assert.ok(await page.locator("#gate").isHidden());
    assert.ok(await page.getByRole("button", { name: "Sign out" }).isHidden());
    assert.equal(await page.evaluate(() => sessionStorage.getItem("adminKey")), null);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("salesTrend")), null, "the trend is forgotten too");
    await page.reload();
    assert.ok(await page.getByLabel("The key the server was started with").isVisible(), "still signed out");
    assert.ok(await page.locator("#sales").isHidden());
  } finally {
    await demo.stop();
  }
});
