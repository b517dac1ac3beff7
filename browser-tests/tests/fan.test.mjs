// The fan page in a real browser: the whole journey to a ticket, waiting in line, a seat taken
// by someone else while the page shows it, and a hold that lapses.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  accessibilityViolations, apiFan, call, DESKTOP, englishDate, englishPage, firstDate, launch, openFirstDate,
  pageFor, PHONE, screenshot, seat, sidewaysScroll, signInAndJoin, startDemo, waitForSeat, waitForText,
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
    assert.deepEqual(await accessibilityViolations(page), [], "the seat map and the hold bar are accessible");
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
    assert.deepEqual(await accessibilityViolations(page), [], "the ticket is accessible");
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
    assert.match(await seat(page, 3).getAttribute("aria-label"), /^1열 좌석 3, 선택 가능, [\d,]+원$/);
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
    assert.deepEqual(await accessibilityViolations(page), [], "the Korean page on a phone is accessible");
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

test("a Korean fan on a phone goes all the way to a ticket, the hold bar and the exact top-up in view", async () => {
  const demo = await startDemo();
  try {
    const page = await pageFor(browser, { locale: "ko-KR", screen: PHONE });
    await signInAndJoin(page, demo.base, "이서연");
    await page.locator("#queue-active").waitFor();
    const { date } = await openFirstDate(page, demo.base);
    await seat(page, 7).click();
    await page.locator("#hold").waitFor();
    await page.getByRole("button", { name: "결제하기" }).click();
    const price = await page.locator("#hold-price").textContent();
    const topUp = page.getByRole("button", { name: `${price} 충전하기` });
    await topUp.waitFor();
    for (const shown of [page.locator("#hold"), topUp, page.locator("#hold-error")]) {
      const box = await shown.boundingBox();
      assert.ok(box.y >= 0 && box.y + box.height <= PHONE.height + 1, `in view on a phone: ${JSON.stringify(box)}`);
    }
    await topUp.click();
    await waitForText(page, "#balance", price);
    await page.getByRole("button", { name: "결제하기" }).click();
    await page.locator("#tickets").waitFor();
    assert.equal(await page.locator("#tickets-title").textContent(), "예매한 티켓");
    const card = page.locator("#ticket .ticket");
    const lines = await ticketLines(card);
    assert.match(lines.Date, /^\d{4}년 \d{1,2}월 \d{1,2}일 \([일월화수목금토]\)$/);
    assert.equal(lines.Seat, "7");
    assert.equal(lines.Price, price);
    assert.equal(await sidewaysScroll(page), 0, "no sideways scroll");
    assert.deepEqual(await accessibilityViolations(page), [], "the Korean ticket is accessible");
    await screenshot(page, "korean", "2-ticket");

    // After a reload, under 내 티켓, read by its code alone.
    await page.reload();
    await page.locator("#my-ticket-list .ticket").first().waitFor();
    assert.equal(await page.locator("#my-tickets-title").textContent(), "내 티켓");
    assert.deepEqual(await ticketLines(page.locator("#my-ticket-list .ticket").first()), lines);
    const sold = await call(demo.base, "GET", "/api/v1/admin/concerts", { admin: true });
    assert.equal(sold.body[0].dates.find((each) => each.date === date).seatsSold, 1);
    await screenshot(page, "korean", "3-my-tickets");
  } finally {
    await demo.stop();
  }
});

for (const { locale, screen, words } of [
  { locale: "en-US", screen: DESKTOP, words: { ahead: "1", wait: /^(under a minute|about \d+ min)$/, moved: "0 places closer since you joined (0%)", once: "you have 10 minutes to choose your seat and pay; the seat you choose is kept for you for 5 minutes" } },
  { locale: "ko-KR", screen: PHONE, words: { ahead: "1명", wait: /^(1분 미만|약 \d+분)$/, moved: "들어온 뒤 0명 앞으로 이동 (0%)", once: "10분 동안 좌석을 고르고 결제할 수 있으며, 고른 좌석은 5분 동안" } },
]) {
  test(`a waiting fan sees where they are, how long is left in words and what comes next, and is admitted when a slot frees (${locale}, ${screen.width} px)`, async () => {
    const demo = await startDemo(["--active-max", "1"]);
    try {
      const first = await apiFan(demo.base, "Ahead");
      assert.equal(first.status, "ACTIVE");
      const second = await apiFan(demo.base, "Second");
      assert.equal(second.status, "WAITING");
      const page = await pageFor(browser, { locale, screen });
      await signInAndJoin(page, demo.base, "Grace");
      await page.locator("#queue-waiting").waitFor();
      await waitForText(page, "#ahead", words.ahead);
      assert.match(await page.locator("#wait").textContent(), words.wait, "the wait in words, not a clock time");
      await waitForText(page, "#moved-up", words.moved);
      await waitForText(page, "#once-admitted", words.once);
      // The time since the server last spoke grows between its updates.
      await page.waitForTimeout(2500);
      const updated = await page.locator("#updated").textContent();
      assert.ok(Number((updated.match(/\d+/) ?? ["0"])[0]) >= 2, updated);
      assert.deepEqual(await accessibilityViolations(page), [], "the waiting room is accessible");
      assert.equal(await sidewaysScroll(page), 0, "no sideways scroll");
      await screenshot(page, `queue-${locale}`, "1-waiting");

      // The fan ahead leaves: one place closer, halfway to the front.
      await call(demo.base, "DELETE", "/api/v1/queue/tokens/me", { token: second.token });
      await waitForText(page, "#moved-up", locale === "ko-KR" ? "1명 앞으로 이동 (100%)" : "1 place closer since you joined (100%)");
      assert.equal(await page.locator("#line-progress").evaluate((bar) => bar.value), 1);
      await screenshot(page, `queue-${locale}`, "2-at-the-front");

      const left = await call(demo.base, "DELETE", "/api/v1/queue/tokens/me", { token: first.token });
      assert.equal(left.status, 204);
      await page.locator("#queue-active").waitFor({ timeout: 10_000 });
      await page.locator("#shop").waitFor();
      await screenshot(page, `queue-${locale}`, "3-admitted");
    } finally {
      await demo.stop();
    }
  });
}

test("a 1,000-seat date on a Korean phone: sections, rows, the stage and the price, no number cut off", async () => {
  const demo = await startDemo();
  try {
    const made = await call(demo.base, "POST", "/api/v1/admin/concerts", {
      admin: true,
      body: { title: "Arena", dates: [{ date: "2027-03-06", seatCount: 1000, price: 132000 }, { date: "2027-03-07", seatCount: 1000, price: 132000 }] },
    });
    assert.equal(made.status, 201);
    const { concertId } = made.body;
    const page = await pageFor(browser, { locale: "ko-KR", screen: PHONE });
    await signInAndJoin(page, demo.base, "박지민");
    await page.locator("#queue-active").waitFor();
    await page.getByRole("button", { name: "Arena" }).click();
    await page.locator('#dates button[data-date="2027-03-06"]').click();
    await seat(page, 1).waitFor();

    // Five sections of ten rows of twenty, the first on screen; the stage and the price on the map.
    const sections = page.locator("#sections button");
    assert.equal(await sections.count(), 5);
    assert.deepEqual(await sections.first().locator("span").allTextContents(), ["A구역", "1–200번", "200석 남음"]);
    assert.equal(await sections.first().getAttribute("aria-pressed"), "true");
    assert.equal(await page.locator("#seat-map .stage").textContent(), "무대");
    assert.equal(await page.locator("#seat-prices").textContent(), "전석 132,000원");
    assert.equal(await page.locator("#seats .row-label").first().textContent(), "1열");
    assert.equal(await page.locator("#seats button").count(), 200, "one section on screen, not a thousand seats");
    assert.match(await seat(page, 45).getAttribute("aria-label"), /^3열 좌석 45, 선택 가능, 132,000원$/);

    // The last section: four-digit numbers whole, the map scrolling within itself, not the page.
    await sections.nth(4).click();
    await seat(page, 1000).waitFor();
    assert.deepEqual(await cutOffSeats(page), [], "no seat number cut off");
    assert.equal(await sidewaysScroll(page), 0, "the page does not scroll sideways");
    assert.equal(await page.locator("#seats .row-label").last().textContent(), "50열");

    // Someone else takes seat 999, and a seat on the other date: the section and that date's count follow.
    const rival = await apiFan(demo.base, "Rival");
    for (const [date, seatNumber] of [["2027-03-06", 999], ["2027-03-07", 1]]) {
      const held = await call(demo.base, "POST", "/api/v1/reservations", { token: rival.token, body: { concertId, date, seatNumber } });
      assert.equal(held.status, 201);
    }
    await waitForSeat(page, 999, "HELD");
    await waitForText(page, "#sections button:nth-child(5)", "199석 남음");
    await waitForText(page, '#dates button[data-date="2027-03-07"]', "999석 남음", 15_000);

    await seat(page, 1000).scrollIntoViewIfNeeded();
    await seat(page, 1000).click();
    await page.locator("#hold").waitFor();
    await waitForText(page, "#hold-what", "1000번 좌석");
    const bar = await page.locator("#hold").boundingBox();
    assert.ok(bar.y >= 0 && bar.y + bar.height <= PHONE.height + 1, `the hold bar is in view: ${JSON.stringify(bar)}`);
    assert.deepEqual(await accessibilityViolations(page), [], "the seat map is accessible");
    await screenshot(page, "arena", "1-phone-last-section");
    // Away to the other date and back: the map opens on the section of the fan's hold.
    await page.locator('#dates button[data-date="2027-03-07"]').click();
    await waitForText(page, "#seat-summary", "3월 7일");
    await page.locator('#dates button[data-date="2027-03-06"]').click();
    await waitForSeat(page, 1000, "MINE");
    assert.equal(await sections.nth(4).getAttribute("aria-pressed"), "true", "the hold's section");

    // On a laptop, in English: a whole section of twenty-seat rows fits without scrolling.
    const laptop = await pageFor(browser, { locale: "en-US", screen: DESKTOP });
    await signInAndJoin(laptop, demo.base, "Laptop");
    await laptop.locator("#queue-active").waitFor();
    await laptop.getByRole("button", { name: "Arena" }).click();
    await laptop.locator('#dates button[data-date="2027-03-06"]').click();
    await laptop.locator("#sections button").nth(4).click();
    await waitForSeat(laptop, 1000, "HELD");
    const lastSection = laptop.locator("#sections button").nth(4).locator("span");
    assert.deepEqual(await lastSection.allTextContents(), ["Section E", "seats 801–1000", "198 left"]);
    assert.equal(await laptop.locator("#seat-prices").textContent(), "Every seat ₩132,000");
    assert.deepEqual(await cutOffSeats(laptop), [], "no seat number cut off");
    const map = await laptop.locator("#seat-map").evaluate((map) => map.scrollWidth - map.clientWidth);
    assert.equal(map, 0, "the section fits a laptop's screen");
    assert.deepEqual(await accessibilityViolations(laptop), [], "the seat map is accessible in English");
    await screenshot(laptop, "arena", "2-laptop-last-section");
  } finally {
    await demo.stop();
  }
});

/** The seats on screen whose number does not fit its button. */
function cutOffSeats(page) {
  return page.locator("#seats button").evaluateAll((buttons) =>
    buttons.filter((button) => button.scrollWidth > button.clientWidth).map((button) => button.dataset.seat));
}

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
    assert.match(await seat(page, 5).getAttribute("aria-label"), /^1열 좌석 5, 선점됨, /);
    // The date's count follows the map.
    await waitForText(page, `#dates button[data-date="${date}"]`, "· 49석 남음");
    await screenshot(page, "taken", "2-refused-and-updated");
    await context.close();
  } finally {
    await demo.stop();
  }
});

test("a hold that lapses frees the seat on the page", async () => {
  // Long enough that the page shows the hold before it lapses, on a slow machine too.
  const demo = await startDemo(["--hold-ttl", "8s"]);
  try {
    const page = await englishPage(browser);
    await signInAndJoin(page, demo.base, "Hedy");
    await page.locator("#queue-active").waitFor();
    await openFirstDate(page, demo.base);
    await seat(page, 3).click();
    await waitForSeat(page, 3, "MINE");
    await screenshot(page, "lapse", "1-held");

    await waitForText(page, "#notice", "Your hold has lapsed", 20_000);
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
    // In Korean on a laptop: its screenshot is the README's.
    const page = await pageFor(browser, { locale: "ko-KR", screen: DESKTOP });
    await signInAndJoin(page, demo.base, "Barbara");
    await page.locator("#shop").waitFor({ timeout: 60_000 });
    await openFirstDate(page, demo.base);
    await page.getByLabel("충전 금액 (원)").fill("500000");
    await page.getByRole("button", { name: "충전", exact: true }).click();
    await waitForText(page, "#balance", "500,000원");
    // The crowd may take the seat the page still shows free: then the fan tries another.
    for (let attempt = 0; attempt < 10 && (await page.locator("#hold").isHidden()); attempt += 1) {
      const free = page.locator('#seats button[data-status="AVAILABLE"]');
      await free.nth(attempt % Math.max(1, await free.count())).click({ timeout: 5_000 }).catch(() => {});
      // The hold's answer or the refusal, however long a crowded machine takes to give it.
      await page.waitForTimeout(300);
      const answered = () => !document.querySelector("#hold").hidden || !document.querySelector("#error").hidden;
      await page.waitForFunction(answered, null, { timeout: 5_000 }).catch(() => {});
    }
    await page.locator("#hold").waitFor({ timeout: 10_000 });
    await screenshot(page, "crowd", "1-held");
    await page.getByRole("button", { name: "결제하기" }).click();
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
