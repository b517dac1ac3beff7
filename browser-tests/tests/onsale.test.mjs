// A concert's own sale in a real browser: the fan's countdown, pre-queue, draw and admission to a
// ticket and its refund; a sold-out date's waiting list and the seat it offers; the operator
// scheduling a sale, watching its pre-queue fill and its draw, and raising its limits live.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import {
  accessibilityViolations, ADMIN_KEY, call, DESKTOP, englishPage, launch, pageFor, PHONE, screenshot, seat,
  sidewaysScroll, startDemo, waitForSeat, waitForText,
} from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

const DAY_MS = 86_400_000;

/** A date `days` from now, as YYYY-MM-DD. */
function daysAhead(days) {
  return new Date(Date.now() + days * DAY_MS).toISOString().slice(0, 10);
}

/** A concert of one date made through the API; resolves to its id. */
async function concertOf(base, title, date, seatCount, price) {
  const created = await call(base, "POST", "/api/v1/admin/concerts", {
    admin: true, body: { title, dates: [{ date, seatCount, price }] },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.concertId;
}

/** Gives `concertId` a sale whose pre-queue is open now and which opens in `opensInMs`. */
async function scheduleSale(base, concertId, opensInMs, refundPolicy) {
  const now = new Date();
  const body = {
    prequeueOpensAt: now.toISOString(), opensAt: new Date(now.getTime() + opensInMs).toISOString(),
    activeMax: 10, admissionsPerMinute: null, refundPolicy,
  };
  const set = await call(base, "PUT", `/api/v1/admin/concerts/${concertId}/sale`, { admin: true, body });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  return set.body;
}

/** A fan made through the API, holding a token of the concert's sale. */
async function saleFan(base, concertId, name) {
  const user = await call(base, "POST", "/api/v1/users", { body: { name } });
  const issued = await call(base, "POST", `/api/v1/concerts/${concertId}/queue/tokens`, { body: { userId: user.body.userId } });
  assert.equal(issued.status, 201, JSON.stringify(issued.body));
  return { userId: user.body.userId, token: issued.body.token, status: issued.body };
}

/** On the fan page: sign in as `name`, which shows the waiting room's first screen. */
async function signIn(page, base, name) {
  await page.goto(`${base}/`);
  await page.locator("#name").fill(name);
  await page.locator("#signin-button").click();
  await page.locator("#queue-idle").waitFor();
}

test("a fan waits in the pre-queue, is let in at the draw, buys a ticket and cancels it for a refund", async () => {
  const demo = await startDemo();
  try {
    const date = daysAhead(40);
    const concert = await concertOf(demo.base, "Opening Night", date, 20, 50_000);
    // Forty days before the date: the first step's fee of 10 %. The opening is 40 s away: time
    // for the page, its checks and the join before the draw, on a slow machine too.
    const sale = await scheduleSale(demo.base, concert, 40_000, [{ untilDaysBefore: 30, feePercent: 10 }]);
    assert.equal(sale.state, "PREQUEUE");
    assert.match(sale.drawCommitment, /^[0-9a-f]{64}$/);

    const page = await englishPage(browser);
    page.on("dialog", (dialog) => dialog.accept());
    await signIn(page, demo.base, "Mina");
    // The sale's card: its countdown to the opening and its way in.
    const card = page.locator(`.onsale[data-concert="${concert}"]`);
    await card.waitFor();
    await page.waitForFunction((id) => /in 0:\d\d/.test(document.querySelector(`.onsale[data-concert="${id}"] .countdown`)?.textContent), concert);
    assert.equal(await card.locator(".draw-record code").textContent(), sale.drawCommitment, "the commitment is shown before the draw");
    assert.deepEqual(await accessibilityViolations(page), [], "the sale's card is accessible");
    await screenshot(page, "onsale", "1-countdown");

    await page.getByRole("button", { name: "Join the pre-queue: Opening Night" }).click();
    await page.locator("#queue-prequeued").waitFor();
    await waitForText(page, "#prequeued-for", "You are in the pre-queue for Opening Night.");
    const drawnAt = new Intl.DateTimeFormat("en-GB", { timeStyle: "short" }).format(new Date(sale.opensAt));
    await waitForText(page, "#drawn-at", `The order is drawn at ${drawnAt}`);
    assert.match(await page.locator("#opens-in").textContent(), /^0:\d\d$/, "the opening counts down");
    assert.equal(await page.locator("#prequeue-commitment code").textContent(), sale.drawCommitment);
    const status = await page.evaluate(() => api("GET", "/api/v1/queue/tokens/me", { token: localStorage.getItem("token") }));
    assert.deepEqual([status.status, status.position, status.concertId], ["PREQUEUED", null, concert]);
    assert.deepEqual(await accessibilityViolations(page), [], "the pre-queue is accessible");
    await screenshot(page, "onsale", "2-prequeue");

    // The opening: the draw places the fan, who is let in at once (nobody is ahead).
    await page.locator("#queue-active").waitFor({ timeout: 90_000 });
    await waitForText(page, "#only-this-sale", "Your place in line is for Opening Night");
    const drawn = await call(demo.base, "GET", `/api/v1/concerts/${concert}/sale`);
    assert.equal(createHash("sha256").update(Buffer.from(drawn.body.drawSeed, "hex")).digest("hex"), sale.drawCommitment,
      "the seed published at the opening is the one committed to");
    // The sale's concert is chosen for the fan: its date is there to pick.
    await page.locator(`#dates button[data-date="${date}"]`).click();
    await seat(page, 3).click();
    await page.locator("#hold").waitFor();
    await waitForSeat(page, 3, "MINE");
    await page.locator("#top-up-short").waitFor({ state: "hidden" });
    await page.getByRole("button", { name: "Pay now" }).click();
    await page.locator("#top-up-short").click();
    await page.getByRole("button", { name: "Pay now" }).click();
    await page.locator("#tickets").waitFor();
    await screenshot(page, "onsale", "3-ticket");

    // In "My tickets", the ticket is valid and can be cancelled; the refund keeps the fee.
    const kept = page.locator("#my-ticket-list article.ticket");
    await kept.locator(".cancel-ticket").waitFor();
    const code = await kept.getAttribute("data-ticket-code");
    await kept.getByRole("button", { name: `Cancel and refund the ticket for seat 3` }).click();
    await waitForText(page, "#notice", "Ticket cancelled: ₩45,000 back to your wallet (fee ₩5,000).");
    await page.waitForFunction(() => document.querySelector("#my-ticket-list article.ticket dd")
      && [...document.querySelectorAll("#my-ticket-list dd")].some((dd) => dd.textContent === "Cancelled and refunded"));
    assert.equal(await kept.locator(".cancel-ticket").count(), 0, "a cancelled ticket offers no second refund");
    const ticket = await call(demo.base, "GET", `/api/v1/tickets/${code}`);
    assert.equal(ticket.body.status, "CANCELLED");
    const dates = await call(demo.base, "GET", `/api/v1/concerts/${concert}/dates`);
    assert.equal(dates.body[0].availableSeats, 20, "the seat is back on sale");
    await screenshot(page, "onsale", "4-refunded");
  } finally {
    await demo.stop();
  }
});

test("on a Korean phone a fan joins a sold-out date's waiting list and pays the seat it offers", async () => {
  const demo = await startDemo();
  try {
    const date = daysAhead(20);
    const concert = await concertOf(demo.base, "매진 공연", date, 1, 30_000);
    await scheduleSale(demo.base, concert, 0, [{ untilDaysBefore: 10, feePercent: 0 }]);
    // Another fan buys the only seat.
    const buyer = await saleFan(demo.base, concert, "Buyer");
    const held = await call(demo.base, "POST", "/api/v1/reservations", { token: buyer.token, body: { concertId: concert, date, seatNumber: 1 } });
    await call(demo.base, "POST", "/api/v1/wallet/charges", { token: buyer.token, body: { amount: 30_000 } });
    const paid = await call(demo.base, "POST", "/api/v1/payments", { token: buyer.token, body: { reservationId: held.body.reservationId } });
    assert.equal(paid.status, 201, JSON.stringify(paid.body));

    const page = await pageFor(browser, { locale: "ko-KR", screen: PHONE });
    await signIn(page, demo.base, "지우");
    await waitForText(page, `.onsale[data-concert="${concert}"]`, "예매 진행 중");
    await page.getByRole("button", { name: "대기열 들어가기: 매진 공연" }).click();
    await page.locator("#queue-active").waitFor();
    await page.locator("#amount").fill("30000");
    await page.locator("#charge").click();
    await waitForText(page, "#balance", "30,000원");
    const dateButton = page.locator(`#dates button[data-date="${date}"]`);
    await waitForText(page, `#dates button[data-date="${date}"]`, "매진 · 취소표 대기");
    await dateButton.click();
    await page.locator("#waitlist-join").waitFor();
    await page.getByRole("button", { name: "취소표 대기 신청" }).click();
    await waitForText(page, "#notice", "취소표 대기 1번입니다.");
    await waitForText(page, "#waitlist-entries", "취소표 대기 1번");
    assert.equal(await sidewaysScroll(page), 0, "the page fits the phone");
    assert.deepEqual(await accessibilityViolations(page), [], "the waiting list is accessible");
    await screenshot(page, "waitlist", "1-waiting");

    // The buyer cancels: the seat is offered to the fan before anyone else sees it.
    const cancelled = await call(demo.base, "DELETE", `/api/v1/tickets/${paid.body.ticketCode}`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    const offered = page.locator("#waitlist-entries article.entry[data-status=OFFERED]");
    await offered.waitFor({ timeout: 15_000 });
    await waitForText(page, "#waitlist-entries", "1번 좌석이 돌아와 회원님을 위해 잡아 두었습니다 (30,000원)");
    const dates = await call(demo.base, "GET", `/api/v1/concerts/${concert}/dates`);
    assert.deepEqual(dates.body, [], "nobody else sees the seat");
    await screenshot(page, "waitlist", "2-offered");
    await offered.getByRole("button", { name: "1번 좌석 결제하기" }).click();
    await waitForText(page, "#notice", "결제가 완료되었습니다");
    await page.locator("#my-ticket-list article.ticket").waitFor();
    await waitForText(page, "#waitlist-entries", "취소표 대기로 1번 좌석을 예매했습니다");
    const code = await page.locator("#my-ticket-list article.ticket").getAttribute("data-ticket-code");
    const ticket = await call(demo.base, "GET", `/api/v1/tickets/${code}`);
    assert.deepEqual([ticket.body.seatNumber, ticket.body.status], [1, "VALID"]);
    assert.equal(await sidewaysScroll(page), 0);
    await screenshot(page, "waitlist", "3-bought");
  } finally {
    await demo.stop();
  }
});

/** A datetime-local value for `instant`, in the browser's time zone (this test's machine's). */
function localInput(instant) {
  return new Date(instant.getTime() - instant.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

test("the operator schedules a sale, watches its pre-queue fill and its draw, and raises its limits live", async () => {
  const demo = await startDemo();
  try {
    const concert = await concertOf(demo.base, "Live Draw", daysAhead(30), 50, 10_000);
    const page = await pageFor(browser, { locale: "en-US", screen: DESKTOP });
    await page.goto(`${demo.base}/admin`);
    await page.getByLabel("The key the server was started with").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Open" }).click();
    await waitForText(page, "#sale-list", "No concert has a sale of its own yet");

    const now = new Date();
    await page.getByLabel("Concert", { exact: true }).selectOption({ label: "Live Draw" });
    await page.getByLabel("Pre-queue opens").fill(localInput(now));
    // 40 s away: time to save, join three fans and see them counted before the draw.
    await page.getByLabel("Tickets open").fill(localInput(new Date(now.getTime() + 40_000)));
    await page.getByLabel("Active at most").fill("2");
    await page.getByLabel("Admissions per minute (empty: no limit)").fill("600");
    await page.getByRole("button", { name: "Save the sale" }).click();
    await waitForText(page, "#notice", "The sale of “Live Draw” is saved");
    const card = page.locator(`.sale[data-concert="${concert}"]`);
    await waitForText(page, `.sale[data-concert="${concert}"] .badge`, "Pre-queue open");
    const commitment = await card.locator('code[data-record="drawCommitment"]').textContent();
    assert.match(commitment, /^[0-9a-f]{64}$/, "the commitment is published with the pre-queue");
    assert.equal(await card.locator('code[data-record="drawSeed"]').textContent(), "published at the opening");
    const read = await call(demo.base, "GET", `/api/v1/concerts/${concert}/sale`);
    assert.deepEqual(read.body.refundPolicy, [{ untilDaysBefore: 7, feePercent: 0 }, { untilDaysBefore: 1, feePercent: 20 }],
      "the form's default refund policy");
    assert.equal(await page.getByLabel("Pre-queue opens").isDisabled(), true, "the times are fixed once the pre-queue opened");

    // Three fans join the pre-queue; the console counts them.
    for (const name of ["Ana", "Bo", "Cy"]) await saleFan(demo.base, concert, name);
    await waitForText(page, `.sale[data-concert="${concert}"] [data-figure=prequeued]`, "3");
    assert.deepEqual(await accessibilityViolations(page), [], "the on-sales are accessible");
    await screenshot(page, "operator-sale", "1-prequeue");

    // The opening: the seed is published, and it is the one committed to.
    await waitForText(page, `.sale[data-concert="${concert}"] .badge`, "Open", 90_000);
    await page.waitForFunction((id) => /^[0-9a-f]{64}$/.test(document.querySelector(`.sale[data-concert="${id}"] code[data-record="drawSeed"]`)?.textContent), concert);
    const seed = await card.locator('code[data-record="drawSeed"]').textContent();
    assert.equal(createHash("sha256").update(Buffer.from(seed, "hex")).digest("hex"), commitment);
    await waitForText(page, `.sale[data-concert="${concert}"] [data-figure=active]`, "2 of 2");
    await waitForText(page, `.sale[data-concert="${concert}"] [data-figure=waiting]`, "1");
    await screenshot(page, "operator-sale", "2-drawn");

    // The limits change while the sale runs: the third fan is let in.
    await page.getByLabel("Active at most").fill("5");
    await page.getByRole("button", { name: "Save the sale" }).click();
    await waitForText(page, `.sale[data-concert="${concert}"] [data-figure=active]`, "3 of 5");
    await waitForText(page, `.sale[data-concert="${concert}"] [data-figure=waiting]`, "0");
    const raised = await call(demo.base, "GET", `/api/v1/concerts/${concert}/sale`);
    assert.deepEqual([raised.body.activeMax, raised.body.admissionsPerMinute, raised.body.opensAt], [5, 600, read.body.opensAt],
      "the limits changed and the times did not move");
    await screenshot(page, "operator-sale", "3-raised");
  } finally {
    await demo.stop();
  }
});
