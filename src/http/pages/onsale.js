// The fan's on-sale: the concerts that have a sale of their own, each with its countdown and its
// way in (the pre-queue before the opening, the line after it); the pre-queue's wait for the
// draw; a sold-out date's waiting list and the seat it offers; a ticket cancelled for a refund.
// The rest of the page (the line, the seats, paying) is fan.js's.
"use strict";

addStrings({
  en: {
    onSales: "On sale soon",
    saleScheduled: "Pre-queue opens {moment}",
    salePrequeue: "Tickets open {moment}",
    saleOpen: "On sale now",
    startsIn: "in {clock}",
    saleHow: "Everyone who joins the pre-queue before the opening gets a random place in line at the opening: joining earlier does not put you ahead.",
    joinPrequeue: "Join the pre-queue",
    joinSaleLine: "Join the line",
    notYetOpen: "Not open yet",
    joinSaleLabel: "{action}: {title}",
    otherConcerts: "Other concerts: one queue for all of them.",
    drawCommitment: "Draw commitment",
    drawSeed: "Draw seed",
    inPrequeue: "You are in the pre-queue for {title}.",
    drawnAt: "The order is drawn at {time}: then you get your place in line.",
    opensIn: "Opens in",
    prequeueFair: "Everyone in the pre-queue gets a random place at the opening, so there is no need to hurry or to reload. Keep this page open, or come back before the opening.",
    placeDrawn: "Your place was drawn at random at the opening.",
    checkDraw: "Check the draw",
    onlyThisSale: "Your place in line is for {title}: its seats are the ones shown.",
    dateSoldOutWaitlist: "{date} · sold out · waiting list",
    waitlistSoldOut: "Every seat of this date is sold or held.",
    joinWaitlist: "Join the waiting list",
    waitlistHow: "When a seat of this date comes back, it is held in the name of the first fan on the list, before anyone else sees it.",
    waitlistJoined: "You are number {position} on the waiting list.",
    myWaitlists: "My waiting lists",
    waitlistWaiting: "{title} · {date}: number {position} on the waiting list.",
    waitlistOffered: "{title} · {date}: seat {seat} came back and is held for you, {price}. Pay within",
    waitlistBought: "{title} · {date}: you bought seat {seat} from the waiting list. Your ticket is below.",
    waitlistLapsed: "{title} · {date}: the seat offered to you was not paid in time and went to the next fan.",
    payOffer: "Pay for seat {seat}",
    forget: "Forget",
    ticketStatus: "Status",
    statusVALID: "Valid",
    statusCANCELLED: "Cancelled and refunded",
    cancelTicket: "Cancel and refund",
    cancelTicketLabel: "Cancel and refund the ticket for seat {seat}, {date}",
    refundConfirm: "Cancel your ticket for seat {seat} on {date}? The seat goes back on sale and the refund goes to your wallet, less the fee of the sale's refund policy.",
    refunded: "Ticket cancelled: {refund} back to your wallet (fee {fee}). Balance: {balance}.",
  },
  ko: {
    onSales: "오픈 예정 공연",
    saleScheduled: "사전 대기열 오픈 {moment}",
    salePrequeue: "예매 오픈 {moment}",
    saleOpen: "예매 진행 중",
    startsIn: "{clock} 남음",
    saleHow: "오픈 전에 사전 대기열에 들어온 모든 분은 오픈 시각에 무작위 추첨으로 순서를 받습니다. 먼저 들어온다고 앞서지 않습니다.",
    joinPrequeue: "사전 대기열 들어가기",
    joinSaleLine: "대기열 들어가기",
    notYetOpen: "오픈 전",
    joinSaleLabel: "{action}: {title}",
    otherConcerts: "그 밖의 공연: 하나의 대기열로 입장합니다.",
    drawCommitment: "추첨 약속값",
    drawSeed: "추첨 시드",
    inPrequeue: "{title} 사전 대기열에 들어왔습니다.",
    drawnAt: "{time}에 순서를 추첨하며, 그때 대기 순번이 정해집니다.",
    opensIn: "오픈까지",
    prequeueFair: "사전 대기열의 모든 분은 오픈 시각에 무작위로 순서를 받으므로 서두르거나 새로고침하지 않으셔도 됩니다. 이 화면을 열어 두시거나 오픈 전에 다시 와 주세요.",
    placeDrawn: "오픈 시각에 무작위 추첨으로 정해진 순번입니다.",
    checkDraw: "추첨 결과 확인",
    onlyThisSale: "이 대기열은 {title} 전용입니다. 이 공연의 좌석만 보입니다.",
    dateSoldOutWaitlist: "{date} · 매진 · 취소표 대기",
    waitlistSoldOut: "이 날짜의 모든 좌석이 판매되었거나 선점되었습니다.",
    joinWaitlist: "취소표 대기 신청",
    waitlistHow: "이 날짜의 좌석이 취소되어 돌아오면, 다른 분께 보이기 전에 대기 1순위 회원님 이름으로 먼저 잡아 드립니다.",
    waitlistJoined: "취소표 대기 {position}번입니다.",
    myWaitlists: "나의 취소표 대기",
    waitlistWaiting: "{title} · {date}: 취소표 대기 {position}번",
    waitlistOffered: "{title} · {date}: {seat}번 좌석이 돌아와 회원님을 위해 잡아 두었습니다 ({price}). 결제 남은 시간",
    waitlistBought: "{title} · {date}: 취소표 대기로 {seat}번 좌석을 예매했습니다. 티켓은 아래에 있습니다.",
    waitlistLapsed: "{title} · {date}: 제시간에 결제되지 않아 좌석이 다음 대기자에게 넘어갔습니다.",
    payOffer: "{seat}번 좌석 결제하기",
    forget: "지우기",
    ticketStatus: "상태",
    statusVALID: "사용 가능",
    statusCANCELLED: "취소 및 환불 완료",
    cancelTicket: "예매 취소 및 환불",
    cancelTicketLabel: "{date} {seat}번 좌석 티켓 예매 취소 및 환불",
    refundConfirm: "{date} {seat}번 좌석 예매를 취소하시겠습니까? 좌석은 다시 판매되고, 환불 규정의 취소 수수료를 뺀 금액이 지갑으로 환불됩니다.",
    refunded: "예매를 취소했습니다. {refund}이 지갑으로 환불되었습니다 (취소 수수료 {fee}). 잔액: {balance}",
  },
});

/** How often the sales and the waiting-list entries are read again while shown. An entry is read
 * from its date's actor, which a long list's fans all ask: every few seconds is enough, as an
 * offer lasts the hold's minutes. */
const SALES_REFRESH_MS = 5000;
const ENTRY_REFRESH_MS = 4000;

const onsale = {
  /** Concert id → `{concert, sale}` for every concert that has a sale of its own. */
  sales: new Map(),
  salesReadAt: 0,
  salesReading: false,
  entriesReading: false,
  entriesReadAt: 0,
  /** Entry code → what it last read, for the countdown of an offer. */
  entryViews: new Map(),
};

// ---- the sales and their countdowns ----

/** Reads every concert's sale (a concert without one answers 404), then draws them. */
async function loadSales() {
  if (onsale.salesReading) return;
  onsale.salesReading = true;
  try {
    const concerts = await api("GET", "/api/v1/concerts");
    const sales = await readSales(concerts);
    onsale.sales = new Map(concerts.filter((concert) => sales.has(concert.concertId))
      .map((concert) => [concert.concertId, { concert, sale: sales.get(concert.concertId) }]));
    onsale.salesReadAt = Date.now();
    drawSales();
  } catch (error) {
    // The sales are read again in a few seconds; the site-wide line works without them.
  } finally {
    onsale.salesReading = false;
  }
}

function saleOf(concertId) {
  return concertId ? onsale.sales.get(concertId) : undefined;
}

/** The card of each sale on the waiting room's first screen. */
function drawSales() {
  const list = $("onsale-list");
  const cards = [...onsale.sales.values()].map(saleCard);
  list.replaceChildren(...cards);
  show("onsales", cards.length > 0);
  show("other-concerts", cards.length > 0);
  tickSales();
}

function saleCard({ concert, sale }) {
  const card = document.createElement("article");
  card.className = "onsale";
  card.dataset.concert = concert.concertId;
  card.dataset.state = sale.state;
  const heading = document.createElement("h4");
  heading.textContent = concert.title;
  const when = document.createElement("p");
  when.append(saleWhen(sale));
  const button = document.createElement("button");
  button.type = "button";
  button.className = "join-sale";
  const action = { SCHEDULED: "notYetOpen", PREQUEUE: "joinPrequeue", OPEN: "joinSaleLine" }[sale.state];
  button.textContent = t(action);
  button.setAttribute("aria-label", t("joinSaleLabel", { action: t(action), title: concert.title }));
  button.disabled = sale.state === "SCHEDULED";
  button.addEventListener("click", () => joinSale(concert.concertId, button));
  const how = document.createElement("p");
  how.className = "muted";
  how.textContent = t("saleHow");
  card.append(heading, when, button, how);
  if (sale.drawCommitment) card.append(drawRecordLine("drawCommitment", sale.drawCommitment));
  if (sale.drawSeed) card.append(drawRecordLine("drawSeed", sale.drawSeed));
  return card;
}

/** "Tickets open Sat 20:00 · in 1:02:03", counting down. */
function saleWhen(sale) {
  const fragment = document.createDocumentFragment();
  if (sale.state === "OPEN") {
    fragment.append(t("saleOpen"));
    return fragment;
  }
  const until = sale.state === "SCHEDULED" ? sale.prequeueOpensAt : sale.opensAt;
  fragment.append(t(sale.state === "SCHEDULED" ? "saleScheduled" : "salePrequeue", { moment: formatMoment(until) }), " · ");
  const clock = document.createElement("b");
  clock.className = "countdown";
  clock.setAttribute("role", "timer");
  clock.dataset.until = until;
  fragment.append(clock);
  return fragment;
}

/** A line of the draw's public record: its name and its hex, which may break anywhere. */
function drawRecordLine(name, hex) {
  const line = document.createElement("p");
  line.className = "muted draw-record";
  const code = document.createElement("code");
  code.textContent = hex;
  line.append(`${t(name)}: `, code);
  return line;
}

/** Every countdown on the page, by the server's clock; one that reached its moment has the sales
 * read again (the sale moved on: its pre-queue opened, or it opened). */
function tickSales() {
  let passed = false;
  for (const clock of document.querySelectorAll(".countdown[data-until]")) {
    const left = Date.parse(clock.dataset.until) - serverNow();
    clock.textContent = t("startsIn", { clock: clockText(left) });
    passed ||= left <= 0;
  }
  const stale = Date.now() - onsale.salesReadAt > (passed ? 1000 : SALES_REFRESH_MS);
  if (!$("queue").hidden && !$("queue-idle").hidden && stale) loadSales();
  tickPrequeue();
  tickEntries();
}

async function joinSale(concertId, button) {
  await joinRoom(`/api/v1/concerts/${concertId}/queue/tokens`, button);
}

// ---- the pre-queue ----

/** A PREQUEUED status: no place yet, the opening's countdown, the draw's commitment. */
function showPrequeued(status) {
  const sale = saleOf(status.concertId);
  const title = sale ? sale.concert.title : "";
  localStorage.setItem(`prequeued:${status.token}`, status.concertId);
  $("prequeued-for").textContent = t("inPrequeue", { title });
  const time = new Intl.DateTimeFormat(language === "ko" ? "ko-KR" : "en-GB", { timeStyle: "short" });
  $("drawn-at").textContent = t("drawnAt", { time: time.format(new Date(status.opensAt)) });
  $("opens-in").dataset.until = status.opensAt;
  const commitment = sale && sale.sale.drawCommitment;
  $("prequeue-commitment").replaceChildren(...(commitment ? [drawRecordLine("drawCommitment", commitment)] : []));
  if (!sale) loadSales().then(() => saleOf(status.concertId) && showPrequeued(status));
  tickPrequeue();
}

function tickPrequeue() {
  const clock = $("opens-in");
  if ($("queue-prequeued").hidden || !clock.dataset.until) return;
  clock.textContent = clockText(Date.parse(clock.dataset.until) - serverNow());
}

/** Under a drawn fan's position: that it was drawn, and where anyone can check the draw. */
function drawnNote(status) {
  const drawn = status.concertId && localStorage.getItem(`prequeued:${status.token}`) === status.concertId;
  show("drawn-note", Boolean(drawn));
  if (drawn) $("verify-draw").href = `/api/v1/concerts/${status.concertId}/sale/draw`;
}

function forgetPrequeued(token) {
  if (token) localStorage.removeItem(`prequeued:${token}`);
}

// ---- the shop of a sale ----

/** The concerts a token may buy: its sale's alone, or every concert without a sale of its own. */
function concertsForRoom(concerts, room) {
  if (room) return concerts.filter((concert) => concert.concertId === room);
  return concerts.filter((concert) => !onsale.sales.has(concert.concertId));
}

/** Under the seat map of a sold-out date: the way onto its waiting list. */
function drawWaitlistJoin(map) {
  show("waitlist-join", map.availableSeats === 0);
}

async function joinWaitlist() {
  const concert = state.concert;
  const date = state.date;
  const joined = await withToken($("join-waitlist"), () =>
    api("POST", `/api/v1/concerts/${concert.concertId}/dates/${date}/waitlist`, { token: state.token }));
  if (!joined) return;
  keepEntry({ code: joined.entryCode, concertId: concert.concertId, title: concert.title, date });
  notice(t("waitlistJoined", { position: count(joined.position) }));
  await showEntries();
}

// ---- waiting-list entries that stay ----

const ENTRY_CODES = "waitlistEntries";

function keptEntries() {
  try {
    const entries = JSON.parse(localStorage.getItem(ENTRY_CODES) || "[]");
    return Array.isArray(entries) ? entries.filter((entry) => entry && typeof entry.code === "string") : [];
  } catch (error) {
    return [];
  }
}

/** Keeps an entry, in its place if it is kept already (new ones first). */
function keepEntry(entry) {
  const entries = keptEntries();
  const at = entries.findIndex((kept) => kept.code === entry.code);
  if (at >= 0) entries[at] = entry;
  else entries.unshift(entry);
  localStorage.setItem(ENTRY_CODES, JSON.stringify(entries));
}

function forgetEntry(code) {
  localStorage.setItem(ENTRY_CODES, JSON.stringify(keptEntries().filter((kept) => kept.code !== code)));
  onsale.entryViews.delete(code);
}

/** "My waiting lists": each kept entry as the server tells it now (no token needed). An entry
 * the server no longer knows is forgotten. */
async function showEntries() {
  if (onsale.entriesReading) return;
  onsale.entriesReading = true;
  try {
    const entries = keptEntries();
    const cards = await Promise.all(entries.map(entryCard));
    $("waitlist-entries").replaceChildren(...cards.filter(Boolean));
    show("waitlists", cards.some(Boolean));
    onsale.entriesReadAt = Date.now();
  } finally {
    onsale.entriesReading = false;
  }
}

async function entryCard(entry) {
  let view;
  try {
    view = await api("GET", `/api/v1/waitlist/${encodeURIComponent(entry.code)}`);
  } catch (error) {
    if (error.code === "NOT_FOUND" || error.code === "INVALID_REQUEST") forgetEntry(entry.code);
    return null;
  }
  onsale.entryViews.set(entry.code, view);
  // The server tells an offer's seat only while it is offered: kept, to say what was bought.
  if (view.offer && entry.seat !== view.offer.seatNumber) keepEntry({ ...entry, seat: view.offer.seatNumber });
  const card = document.createElement("article");
  card.className = "entry";
  card.dataset.entry = entry.code;
  card.dataset.status = view.status;
  const words = { title: entry.title, date: formatDate(entry.date), position: count(view.position) };
  const line = document.createElement("p");
  card.append(line);
  if (view.status === "WAITING") line.textContent = t("waitlistWaiting", words);
  else if (view.status === "OFFERED") offerLines(card, line, entry, view, words);
  else finishedEntry(card, line, entry, view, words);
  return card;
}

/** An offer: its seat and price, the time left to pay it, and its Pay. */
function offerLines(card, line, entry, view, words) {
  const offer = view.offer;
  line.textContent = `${t("waitlistOffered", { ...words, seat: offer.seatNumber, price: formatWon(offer.price) })} `;
  const clock = document.createElement("b");
  clock.className = "offer-left";
  clock.setAttribute("role", "timer");
  clock.dataset.until = offer.heldUntil;
  clock.textContent = clockText(Date.parse(offer.heldUntil) - serverNow());
  line.append(clock);
  const pay = document.createElement("button");
  pay.type = "button";
  pay.className = "pay-offer";
  pay.textContent = t("payOffer", { seat: offer.seatNumber });
  const refused = document.createElement("p");
  refused.className = "alert";
  refused.setAttribute("role", "alert");
  refused.hidden = true;
  pay.addEventListener("click", () => payOffer(entry, offer, pay, refused));
  card.append(pay, refused);
}

/** A bought or lapsed entry: said once, with a way to forget it. */
function finishedEntry(card, line, entry, view, words) {
  const seat = view.offer ? view.offer.seatNumber : entry.seat;
  line.textContent = t(view.status === "BOUGHT" ? "waitlistBought" : "waitlistLapsed", { ...words, seat });
  const forget = document.createElement("button");
  forget.type = "button";
  forget.className = "secondary";
  forget.textContent = t("forget");
  forget.addEventListener("click", () => {
    forgetEntry(entry.code);
    showEntries();
  });
  card.append(forget);
}

/** Pays an offer with the entry's code alone, once (a retry after a lost answer reuses the key). */
async function payOffer(entry, offer, button, refused) {
  const key = `offer-${offer.reservationId}-${Date.now().toString(36)}`;
  const request = () => api("POST", `/api/v1/waitlist/${encodeURIComponent(entry.code)}/payment`,
    { headers: { "Idempotency-Key": key } });
  button.disabled = true;
  refused.hidden = true;
  try {
    const receipt = await request().catch((error) => {
      if (error.code === "NETWORK") return request();
      throw error;
    });
    keepTicketCode(receipt.ticketCode);
    notice(t("paid"));
    refreshBalance();
    await Promise.all([showMyTickets(), showEntries()]);
  } catch (error) {
    refused.textContent = problemText(error);
    refused.hidden = false;
  } finally {
    button.disabled = false;
  }
}

/** The offers' countdowns, and the entries read again every few seconds while any is kept. */
function tickEntries() {
  for (const clock of document.querySelectorAll(".offer-left[data-until]")) {
    clock.textContent = clockText(Date.parse(clock.dataset.until) - serverNow());
  }
  if (keptEntries().length > 0 && Date.now() - onsale.entriesReadAt > ENTRY_REFRESH_MS) showEntries();
}

// ---- cancelling a ticket ----

/** A kept ticket's status line, and its Cancel while it is valid. */
function ticketStatusLines(ticket) {
  return ticket.status ? [["ticketStatus", t(`status${ticket.status}`)]] : [];
}

function cancelButton(ticket) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "danger cancel-ticket";
  button.textContent = t("cancelTicket");
  const words = { seat: ticket.seatNumber, date: formatDate(ticket.date) };
  button.setAttribute("aria-label", t("cancelTicketLabel", words));
  button.addEventListener("click", () => cancelTicket(ticket, button));
  return button;
}

async function cancelTicket(ticket, button) {
  if (!window.confirm(t("refundConfirm", { seat: ticket.seatNumber, date: formatDate(ticket.date) }))) return;
  const refunded = await attempt(button, () => api("DELETE", `/api/v1/tickets/${encodeURIComponent(ticket.ticketCode)}`));
  if (!refunded) return;
  const words = { refund: formatWon(refunded.refund), fee: formatWon(refunded.fee), balance: formatWon(refunded.balance) };
  notice(t("refunded", words));
  if (!$("balance").hidden) $("balance").textContent = formatWon(refunded.balance);
  await showMyTickets();
}
