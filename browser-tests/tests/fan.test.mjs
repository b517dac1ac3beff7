// The fan page in a real browser: the whole journey to a ticket, waiting in line, a seat taken
// by someone else while the page shows it, and a hold that lapses.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  apiFan, call, englishDate, englishPage, firstDate, launch, openFirstDate, screenshot, seat, signInAndJoin,
  startDemo, waitForSeat, waitForText,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

test("a fan goes from the queue to a confirmed ticket", async () => {
  const demo = await startDemo();
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Ada");
    await page.locator("#queue-active").waitFor();
    await screenshot(page, "journey", "1-active");
    const { concert, date } = await openFirstDate(page, demo.base);
    await screenshot(page, "journey", "2-seat-map");

    // From the keyboard: the focus stays on its seat while the map refreshes, and Enter holds it.
    await seat(page, 10).focus();
    await page.waitForTimeout(2000);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.seat), "10", "focus kept");
    await page.keyboard.press("Enter");
    await page.locator("#hold").waitFor();
    await waitForSeat(page, 10, "MINE");
    // The hold bar: in view at the bottom of the screen, the focus on its Pay.
    assert.equal(await page.evaluate(() => document.activeElement.id), "pay", "the focus moved to Pay");
    const bar = await page.locator("#hold").boundingBox();
    const viewport = page.viewportSize();
    assert.ok(bar.y >= 0 && bar.y + bar.height <= viewport.height + 1, `the hold bar is in view: ${JSON.stringify(bar)}`);
    await waitForText(page, "#hold-what", `${concert.title}, ${englishDate(date)}, seat 10`);
    const countdown = await page.locator("#hold-left").textContent();
    assert.match(countdown, /^[45]:\d\d$/, "a five-minute countdown");
    await screenshot(page, "journey", "3-held");

    // Paying with an empty wallet is refused beside Pay, saying by how much, and the hold
    // stays; the bar offers to top up exactly that, and hands the focus back to Pay.
    await page.getByRole("button", { name: "Pay now" }).click();
    await waitForText(page, "#hold-error", "won short");
    const price = await page.locator("#hold-price").textContent();
    const topUp = page.locator("#top-up-short");
    await topUp.waitFor();
    assert.equal(await topUp.textContent(), `Top up ${price}`);
    await screenshot(page, "journey", "4-balance-short");
    await topUp.click();
    await waitForText(page, "#balance", price);
    assert.equal(await page.evaluate(() => document.activeElement.id), "pay", "the focus is back on Pay");
    assert.equal(await page.locator("#hold-error").isHidden(), true);
    await page.getByRole("button", { name: "Pay now" }).click();
    await page.locator("#tickets").waitFor();
    const ticket = page.locator("#ticket .ticket");
    const bought = await ticketLines(ticket);
    assert.deepEqual({ Date: bought.Date, Seat: bought.Seat }, { Date: englishDate(date), Seat: "10" }, "the ticket bought");
    assert.match(bought.Price, /^₩\d{1,3}(,\d{3})+$/);
    const code = await ticket.getAttribute("data-ticket-code");
    assert.match(code, /^[A-Za-z0-9_-]{22}$/, "a ticket code");
    assert.ok(await ticket.locator("svg.qr path").count(), "a QR code");
    await screenshot(page, "journey", "5-ticket");

    // The ticket stays: after a reload (the token long dead) it is under My tickets, read by its
    // code alone, with its QR code.
    await page.reload();
    const kept = page.locator(`#my-ticket-list .ticket[data-ticket-code="${code}"]`);
    await kept.waitFor();
    assert.deepEqual(await ticketLines(kept), bought, "the ticket kept");
    assert.equal(await kept.locator("h3").textContent(), concert.title);
    assert.ok(await kept.locator("svg.qr path").count(), "its QR code");
    const shown = await call(demo.base, "GET", `/api/v1/tickets/${code}`);
    assert.equal(shown.body.seatNumber, 10, "the server shows the ticket to its code's holder");

    const map = await call(demo.base, "GET", "/api/v1/admin/concerts", { admin: true });
    assert.equal(map.body[0].dates[0].seatsSold, 1, "the server sold the seat");
  } finally {
    await demo.stop();
  }
});

/** A ticket card's date, seat and price, as the page shows them. */
async function ticketLines(card) {
  const terms = await card.locator("dt").evaluateAll((terms) => terms.map((term) => term.dataset.line));
  const values = await card.locator("dd").allTextContents();
  const lines = Object.fromEntries(terms.map((term, index) => [term, values[index]]));
  return { Date: lines.ticketDate, Seat: lines.ticketSeat, Price: lines.ticketPrice };
}

test("a Korean fan's page is in Korean, dates and money as Koreans write them, and switches to English", async () => {
  const demo = await startDemo();
  try {
    // On a phone.
    const page = await browser.newPage({ locale: "ko-KR", viewport: { width: 390, height: 844 } });
    await page.goto(demo.base);
    assert.equal(await page.evaluate(() => document.documentElement.lang), "ko");
    assert.equal(await page.locator("h1").textContent(), "콘서트 예매");
    await page.getByLabel("이름", { exact: true }).fill("김하늘");
    await page.getByRole("button", { name: "계속" }).click();
    await page.getByRole("button", { name: "대기열 들어가기" }).click();
    await page.locator("#queue-active").waitFor();
    await waitForText(page, "#balance", "0원");
    const { concert, date } = await openFirstDate(page, demo.base);
    const dateButton = await page.locator(`#dates button[data-date="${date}"]`).textContent();
    assert.match(dateButton, /^\d{4}년 \d{1,2}월 \d{1,2}일 \([일월화수목금토]\) · \d+석 남음$/, dateButton);
    assert.match(await seat(page, 3).getAttribute("aria-label"), /^3번 좌석, 선택 가능, [\d,]+원$/);
    await seat(page, 3).click();
    await page.locator("#hold").waitFor();
    await waitForText(page, "#hold-what", "3번 좌석");
    const bar = await page.locator("#hold").boundingBox();
    assert.ok(bar.y >= 0 && bar.y + bar.height <= 844 + 1, `the hold bar is in view on a phone: ${JSON.stringify(bar)}`);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= 390), true, "no sideways scroll");
    assert.match(await page.locator("#hold-price").textContent(), /^[\d,]+원$/);
    await page.getByRole("button", { name: "결제하기" }).click();
    await waitForText(page, "#hold-error", "잔액이 부족합니다: 잔액이 ");
    assert.match(await page.locator("#hold-error").textContent(), /원 부족합니다 \(잔액 0원, 좌석 가격 [\d,]+원\)\.$/);
    const price = await page.locator("#hold-price").textContent();
    await waitForText(page, "#top-up-short", `${price} 충전하기`);
    await screenshot(page, "korean", "1-balance-short");

    // The switch: English at once, what the page drew itself included, and kept after a reload.
    await page.getByRole("button", { name: "View in English" }).click();
    assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
    await waitForText(page, "#hold-what", `${concert.title}, ${englishDate(date)}, seat 3`);
    await waitForText(page, "#balance", "₩0");
    assert.equal(await page.getByRole("button", { name: "Pay now" }).count(), 1);

    // Leaving with a seat held asks first; declined, nothing changes.
    const asked = [];
    page.once("dialog", (dialog) => {
      asked.push(dialog.message());
      dialog.dismiss();
    });
    await page.getByRole("button", { name: "Leave the queue" }).click();
    assert.match(asked[0] ?? "", /gives seat 3 back/);
    assert.equal(await page.locator("#hold").isVisible(), true, "still holding");
    await page.reload();
    assert.equal(await page.locator("h1").textContent(), "Concert tickets");
    assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
  } finally {
    await demo.stop();
  }
});

test("a waiting fan sees a live position and is admitted when a slot frees", async () => {
  const demo = await startDemo(["--active-max", "1"]);
  try {
    const ahead = await apiFan(demo.base, "Ahead");
    assert.equal(ahead.status, "ACTIVE");
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Grace");
    await page.locator("#queue-waiting").waitFor();
    await waitForText(page, "#position", "1");
    await screenshot(page, "queue", "1-waiting");

    const left = await call(demo.base, "DELETE", "/api/v1/queue/tokens/me", { token: ahead.token });
    assert.equal(left.status, 204);
    await page.locator("#queue-active").waitFor({ timeout: 10_000 });
    await page.locator("#shop").waitFor();
    await screenshot(page, "queue", "2-admitted");
  } finally {
    await demo.stop();
  }
});

test("a seat taken by someone else while the page shows it: the fan sees why and the map updates", async () => {
  const demo = await startDemo();
  try {
    // Korean preferred: the server's titles come in Korean.
    const context = await browser.newContext({ locale: "ko-KR" });
    const page = await context.newPage();
    await page.clock.install();
    await signInAndJoin(page, demo.base, "Linus");
    await page.locator("#queue-active").waitFor();
    const { concert, date } = await openFirstDate(page, demo.base);
    await waitForSeat(page, 5, "AVAILABLE");
    // The page's timers stop here, so the map on screen stays the one read before the other hold;
    // a reading already under way lands first.
    await page.clock.pauseAt(Date.now() + 50);
    await page.waitForTimeout(500);
    await waitForSeat(page, 5, "AVAILABLE");

    const rival = await apiFan(demo.base, "Rival");
    const body = { concertId: concert.concertId, date, seatNumber: 5 };
    const taken = await call(demo.base, "POST", "/api/v1/reservations", { token: rival.token, body });
    assert.equal(taken.status, 201);
    await screenshot(page, "taken", "1-still-shown-available");

    await seat(page, 5).click();
    await waitForText(page, "#error", "해당 좌석은 이미 예약되었습니다");
    await waitForSeat(page, 5, "HELD");
    assert.equal(await seat(page, 5).isDisabled(), true);
    assert.match(await seat(page, 5).getAttribute("aria-label"), /^5번 좌석, 선점됨, /);
    // The date's count follows the map.
    await waitForText(page, `#dates button[data-date="${date}"]`, "· 49석 남음");
    await screenshot(page, "taken", "2-refused-and-updated");
    await context.close();
  } finally {
    await demo.stop();
  }
});

test("a hold that lapses frees the seat on the page", async () => {
  const demo = await startDemo(["--hold-ttl", "3s"]);
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Hedy");
    await page.locator("#queue-active").waitFor();
    await openFirstDate(page, demo.base);
    await seat(page, 3).click();
    await waitForSeat(page, 3, "MINE");
    await screenshot(page, "lapse", "1-held");

    await waitForText(page, "#notice", "Your hold has lapsed", 10_000);
    assert.equal(await page.locator("#hold").isHidden(), true);
    await waitForSeat(page, 3, "AVAILABLE");
    await screenshot(page, "lapse", "2-lapsed");
    const { concert, date } = await firstDate(demo.base);
    const other = await apiFan(demo.base, "Next");
    const body = { concertId: concert.concertId, date, seatNumber: 3 };
    const held = await call(demo.base, "POST", "/api/v1/reservations", { token: other.token, body });
    assert.equal(held.status, 201, "the server let the seat go too");
  } finally {
    await demo.stop();
  }
});

test("a fan buys a ticket while a simulated crowd competes for the same seats", async () => {
  const demo = await startDemo(["--crowd", "40", "--think-time", "150ms", "--active-max", "20"]);
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Barbara");
    await page.locator("#shop").waitFor({ timeout: 60_000 });
    await openFirstDate(page, demo.base);
    await page.getByLabel("Top up (won)").fill("500000");
    await page.getByRole("button", { name: "Charge" }).click();
    await waitForText(page, "#balance", "500,000");
    // The crowd may take the seat the page still shows free: then the fan tries another.
    for (let attempt = 0; attempt < 10 && (await page.locator("#hold").isHidden()); attempt += 1) {
      const free = page.locator('#seats button[data-status="AVAILABLE"]');
      await free.nth(attempt % Math.max(1, await free.count())).click({ timeout: 5_000 }).catch(() => {});
      await page.waitForTimeout(300);
    }
    assert.equal(await page.locator("#hold").isVisible(), true, "the fan held a seat within ten tries");
    await screenshot(page, "crowd", "1-held");
    await page.getByRole("button", { name: "Pay now" }).click();
    await page.locator("#tickets").waitFor();
    await screenshot(page, "crowd", "2-ticket");
    const stats = await call(demo.base, "GET", "/api/v1/admin/stats", { admin: true });
    assert.ok(stats.body.seatsSold >= 1);
    assert.equal(stats.body.chargedTotal, stats.body.balancesTotal + stats.body.revenueTotal);
    assert.ok(stats.body.users > 10, "the crowd came");
  } finally {
    await demo.stop();
  }
});
