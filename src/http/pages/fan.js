// The fan's page: sign in by name, wait in line with a live position, pick a seat, hold it, top up
// the wallet, pay, and see the ticket. Everything the server refuses shows its problem title. A
// concert's own sale (its pre-queue, its waiting lists, refunds) is onsale.js's.
"use strict";

const SEAT_REFRESH_MS = 1500;
/** When the event stream closes on an error, how long before asking for the status instead. */
const STREAM_RETRY_MS = 2000;

const state = {
  fan: JSON.parse(localStorage.getItem("fan") || "null"),
  token: localStorage.getItem("token"),
  /** The concert whose sale's room the token is in; null in the site-wide room. */
  room: null,
  stream: null,
  concerts: [],
  concert: null,
  date: null,
  /** The seats held, oldest first: paid together in one order. */
  holds: [],
  activeUntil: null,
  seatTimer: null,
  /** The ticket just bought, while it shows. */
  ticket: null,
  /** The part of a large date's map on screen (its first seat number), and its seats' buttons. */
  section: null,
  seatButtons: new Map(),
  /** The line as the fan last heard of it: where they joined, the estimate counting down, and
   * when the server last said anything. */
  line: null,
  /** Seat map reads since the dates' counts were last read. */
  seatReads: 0,
};

/** How long a session and a hold last on this server, as the page was served. */
const SESSION_MS = Number(document.body.dataset.sessionSeconds) * 1000;
const HOLD_MS = Number(document.body.dataset.holdSeconds) * 1000;
/** How many seats a fan may hold, and so pay in one order. */
const HOLD_MAX = Number(document.body.dataset.holdMax) || 1;

function duration(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}:${String(seconds % 60).padStart(2, "0")}` : t("seconds", { seconds });
}

// ---- signing in ----

function signedIn() {
  show("signin", false);
  show("queue", true);
  $("who").textContent = state.fan.name;
  show("who", true);
}

async function signIn(event) {
  event.preventDefault();
  await attempt($("signin-button"), async () => {
    const user = await api("POST", "/api/v1/users", { body: { name: $("name").value } });
    state.fan = { userId: user.userId, name: user.name };
    localStorage.setItem("fan", JSON.stringify(state.fan));
    signedIn();
    showQueueIdle();
  });
}

function signOut() {
  localStorage.removeItem("fan");
  state.fan = null;
  show("who", false);
  show("queue", false);
  show("signin", true);
}

// ---- the waiting room ----

function showQueueIdle() {
  show("queue-idle", true);
  show("queue-prequeued", false);
  show("queue-waiting", false);
  show("queue-active", false);
  show("leave", false);
  loadSales();
}

/** The X-Altcha header for a token request, or null when the server asks for no proof of work
 * (its challenge answers 404 while proof of work is off). */
async function proofOfWork() {
  let challenge;
  try {
    challenge = await api("GET", "/api/v1/queue/challenge");
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
  showCheck(0);
  try {
    return await solveChallenge(challenge, showCheck);
  } finally {
    show("checking", false);
  }
}

function showCheck(share) {
  show("checking", true);
  $("check-progress").value = share;
}

/** Takes a token, solving the server's challenge first when it asks for one. A challenge from
 * before a restart of the server, or one solved too slowly, is refused: then once more with a
 * fresh one. */
async function takeToken(path, freshTries = 1) {
  const solution = await proofOfWork();
  const headers = solution ? { "X-Altcha": solution } : {};
  try {
    return await api("POST", path, { body: { userId: state.fan.userId }, headers });
  } catch (error) {
    if (error.code === "CHALLENGE_REQUIRED" && freshTries > 0) return takeToken(path, freshTries - 1);
    throw error;
  }
}

/** Joins the site-wide line. */
function join() {
  return joinRoom("/api/v1/queue/tokens", $("join"));
}

/** Takes a token at `path`: the site-wide room's, or a concert's sale's. */
async function joinRoom(path, button) {
  await attempt(button, async () => {
    const status = await takeToken(path)
      .catch((error) => {
        // A name remembered by this browser that the server does not know: sign in again.
        if (error.code === "USER_NOT_FOUND") signOut();
        throw error;
      });
    state.token = status.token;
    localStorage.setItem("token", state.token);
    notice("");
    onStatus(status);
  });
}

/** Follows the token's status live; the stream ends once ACTIVE or when the token dies. */
function follow() {
  if (state.stream) return;
  const stream = new EventSource(`/api/v1/queue/tokens/me/events?token=${encodeURIComponent(state.token)}`);
  state.stream = stream;
  stream.addEventListener("status", (event) => onStatus(JSON.parse(event.data)));
  stream.addEventListener("expired", () => tokenDied(t("expired")));
  stream.onerror = () => {
    // A dropped connection the browser retries by itself. A refused one (the token died, the
    // server was busy) closes the stream: then ask for the status, which also keeps the token
    // alive, and follow again if it still waits.
    if (stream.readyState !== EventSource.CLOSED) return;
    unfollow();
    setTimeout(checkStatus, STREAM_RETRY_MS);
  };
}

async function checkStatus() {
  if (!state.token || state.stream) return;
  try {
    onStatus(await api("GET", "/api/v1/queue/tokens/me", { token: state.token }));
  } catch (error) {
    if (error.code === "TOKEN_INVALID") tokenDied(t("expired"));
    else setTimeout(checkStatus, STREAM_RETRY_MS);
  }
}

function unfollow() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

function onStatus(status) {
  show("queue-idle", false);
  show("leave", true);
  state.room = status.concertId || null;
  // The balance is read when the wallet first shows, not on every status the stream sends.
  if ($("wallet").hidden) {
    show("wallet", true);
    refreshBalance();
  }
  show("queue-prequeued", status.status === "PREQUEUED");
  if (status.status === "PREQUEUED") {
    show("queue-waiting", false);
    show("queue-active", false);
    showPrequeued(status);
    follow();
    return;
  }
  if (status.status === "WAITING") {
    show("queue-waiting", true);
    show("queue-active", false);
    drawnNote(status);
    heardOfLine(status);
    drawLine();
    follow();
    return;
  }
  state.line = null;
  unfollow();
  show("queue-waiting", false);
  show("queue-active", true);
  drawOnlyThisSale();
  state.activeUntil = new Date(status.activeUntil);
  if (!$("shop").hidden) return;
  show("shop", true);
  loadConcerts();
}

/** Takes in what the server said of the line. The position the fan joined at is kept per token
 * (across reloads), for the progress to the front. The estimate counts down between updates and
 * each new one is blended in, so a single quick or slow admission does not make it jump. */
function heardOfLine(status) {
  const now = Date.now();
  const joinedKey = `joinedAt:${status.token}`;
  const joined = Number(localStorage.getItem(joinedKey)) || status.position;
  localStorage.setItem(joinedKey, String(Math.max(joined, status.position)));
  const told = status.estimatedWaitSeconds * 1000;
  const counted = state.line ? waitLeft(state.line, now) : told;
  const estimate = state.line ? counted * (1 - WAIT_BLEND) + told * WAIT_BLEND : told;
  state.line = { joined: Math.max(joined, status.position), position: status.position, estimate, at: now };
}

/** How much of the newest estimate is blended into the one counting down. */
const WAIT_BLEND = 0.4;

function waitLeft(line, now) {
  return Math.max(0, line.estimate - (now - line.at));
}

/** The waiting room's figures: position, people ahead, the wait in words, progress to the front,
 * and how long ago the server last said anything. */
function drawLine() {
  const line = state.line;
  if (!line) return;
  $("position").textContent = t("positionIs", { position: count(line.position) });
  $("ahead").textContent = t("peopleAhead", { people: count(line.position - 1) });
  $("wait").textContent = waitInWords(waitLeft(line, Date.now()));
  const moved = line.joined - line.position;
  const share = line.joined > 1 ? moved / (line.joined - 1) : 1;
  $("line-progress").value = share;
  $("moved-up").textContent = t(moved === 1 ? "movedUpOne" : "movedUp", { moved: count(moved), percent: Math.floor(share * 100) });
  $("updated").textContent = updatedAgo(Date.now() - line.at);
  $("once-admitted").textContent = t("onceAdmitted", { session: lengthInWords(SESSION_MS), hold: lengthInWords(HOLD_MS) });
}

const count = (number) => wonDigits().format(number);

/** A wait as fans read it: "about 2 min", never a clock time. */
function waitInWords(milliseconds) {
  const minutes = Math.round(milliseconds / 60_000);
  if (minutes < 1) return t("waitUnderMinute");
  if (minutes < 60) return t("waitMinutes", { minutes });
  return t("waitHours", { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
}

/** A configured length (a session's, a hold's) in words: 10 minutes, 90 seconds. */
function lengthInWords(milliseconds) {
  const seconds = Math.round(milliseconds / 1000);
  if (seconds % 60 !== 0) return t("lengthSeconds", { seconds });
  return t(seconds === 60 ? "lengthMinute" : "lengthMinutes", { minutes: seconds / 60 });
}

function updatedAgo(milliseconds) {
  const seconds = Math.floor(milliseconds / 1000);
  return seconds < 2 ? t("updatedJustNow") : t("updatedAgo", { seconds });
}

/** The token is gone (expired, left, or a session that ran out): back to the start of the line. */
function tokenDied(message) {
  unfollow();
  stopSeats();
  if (state.token) localStorage.removeItem(`joinedAt:${state.token}`);
  forgetPrequeued(state.token);
  state.room = null;
  localStorage.removeItem("token");
  state.token = null;
  state.line = null;
  state.holds = [];
  state.activeUntil = null;
  for (const id of ["shop", "hold", "wallet", "seat-area", "waitlist-join"]) show(id, false);
  state.concert = null;
  state.date = null;
  $("dates").replaceChildren();
  showQueueIdle();
  if (message) notice(message);
}

async function leave() {
  // Leaving ends the session, and a seat held in it goes back to sale: only if the fan says so.
  if (state.holds.length > 0 && !window.confirm(t("leaveWithHold", { seat: heldSeats(state.holds) }))) return;
  await withToken($("leave"), async () => {
    await api("DELETE", "/api/v1/queue/tokens/me", { token: state.token });
    tokenDied(t("left"));
  });
}

/** Runs a call that needs the token; a token the server no longer knows ends the session. */
async function withToken(button, action) {
  return attempt(button, async () => {
    try {
      return await action();
    } catch (error) {
      if (error.code === "TOKEN_INVALID") tokenDied("");
      throw error;
    }
  });
}

// ---- the wallet ----

async function refreshBalance() {
  if (!state.token) return;
  try {
    const wallet = await api("GET", "/api/v1/wallet", { token: state.token });
    $("balance").textContent = formatWon(wallet.balance);
    return wallet.balance;
  } catch (error) {
    if (error.code === "TOKEN_INVALID") tokenDied(t("expired"));
  }
}

async function charge(event) {
  event.preventDefault();
  await withToken($("charge"), async () => {
    const amount = Number($("amount").value);
    const wallet = await api("POST", "/api/v1/wallet/charges", { token: state.token, body: { amount } });
    $("balance").textContent = formatWon(wallet.balance);
    notice(t("charged", { amount: formatWon(amount) }));
  });
}

// ---- concerts, dates and seats ----

function choiceButton(text, pressed, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary";
  button.textContent = text;
  button.setAttribute("aria-pressed", String(pressed));
  button.addEventListener("click", onClick);
  return button;
}

/** The concerts this token may buy: its sale's alone (chosen at once), or those without a sale. */
async function loadConcerts() {
  await attempt(null, async () => {
    await loadSales();
    state.concerts = concertsForRoom(await api("GET", "/api/v1/concerts"), state.room);
    const list = $("concerts");
    list.replaceChildren(...state.concerts.map((concert) =>
      choiceButton(concert.title, concert === state.concert, () => chooseConcert(concert))));
    if (state.concerts.length === 0) list.textContent = t("noConcert");
    if (state.room && state.concerts.length === 1) await chooseConcert(state.concerts[0]);
  });
}

/** An ACTIVE fan of a sale is told that their place is for that concert alone. */
function drawOnlyThisSale() {
  const sale = saleOf(state.room);
  show("only-this-sale", Boolean(sale));
  if (sale) $("only-this-sale").textContent = t("onlyThisSale", { title: sale.concert.title });
}

async function chooseConcert(concert) {
  state.concert = concert;
  state.date = null;
  stopSeats();
  show("seat-area", false);
  for (const button of $("concerts").children) {
    button.setAttribute("aria-pressed", String(button.textContent === concert.title));
  }
  $("dates").replaceChildren();
  await drawDates();
}

/** The chosen concert's dates, each with the seats left, the chosen one pressed. Buttons already
 * on the page are updated where they are, so a refresh never takes the keyboard's focus away. */
async function drawDates() {
  const concert = state.concert;
  await attempt(null, async () => {
    // Sold-out dates too: a fan may join their waiting lists.
    const dates = await api("GET", `/api/v1/concerts/${concert.concertId}/dates?soldOut=true`);
    if (concert !== state.concert) return;
    const list = $("dates");
    if (dates.length === 0 && list.children.length === 0) {
      list.textContent = t("soldOut");
      return;
    }
    if (list.querySelector("button[data-date]") === null) list.replaceChildren();
    const listed = new Map(dates.map((date) => [date.date, date]));
    for (const button of list.querySelectorAll("button[data-date]")) {
      const date = listed.get(button.dataset.date);
      if (date) button.textContent = dateLabel(date.date, date.availableSeats);
      listed.delete(button.dataset.date);
    }
    for (const date of listed.values()) {
      const button = choiceButton(dateLabel(date.date, date.availableSeats), date.date === state.date, () => chooseDate(date.date));
      button.dataset.date = date.date;
      list.append(button);
    }
  });
}

/** A date's button: the seats left, or that it is sold out and has a waiting list. */
const dateLabel = (date, left) => (left > 0
  ? t("seatsLeft", { date: formatDate(date), count: count(left) })
  : t("dateSoldOutWaitlist", { date: formatDate(date) }));

function chooseDate(date) {
  state.date = date;
  state.section = null;
  for (const button of $("dates").children) {
    button.setAttribute("aria-pressed", String(button.dataset.date === date));
  }
  show("seat-area", true);
  stopSeats();
  refreshSeats();
  state.seatTimer = setInterval(refreshSeats, SEAT_REFRESH_MS);
}

function stopSeats() {
  clearInterval(state.seatTimer);
  state.seatTimer = null;
}

/** The other dates' counts are read once in this many reads of the chosen date's map. */
const DATE_COUNTS_EVERY = 4;

async function refreshSeats() {
  if (!state.token || !state.date) return;
  const path = `/api/v1/concerts/${state.concert.concertId}/dates/${state.date}/seats`;
  try {
    const map = await api("GET", path, { token: state.token });
    drawSeats(map);
    drawSeatsLeft(map);
    drawWaitlistJoin(map);
  } catch (error) {
    if (error.code === "TOKEN_INVALID") tokenDied(t("sessionEnded"));
    else showError(error.message);
  }
  state.seatReads += 1;
  if (state.seatReads % DATE_COUNTS_EVERY === 0 && state.concert) drawDates();
}

/** The chosen date's "N left" as its map just told, so the dates never show a stale count. */
function drawSeatsLeft(map) {
  if (map.date !== state.date) return;
  const button = $("dates").querySelector(`button[data-date="${map.date}"]`);
  if (button) button.textContent = dateLabel(map.date, map.availableSeats);
}

// A date's seats are drawn as a hall: rows of seats facing the stage, numbered from the front.
// A large date is shown a section (ten rows) at a time, each section's button saying how many
// of its seats are left, so that a thousand seats never make a page thousands of pixels tall.

/** Seats in a row of the hall, from the date's size. */
function seatsPerRow(total) {
  if (total <= 50) return 10;
  return 20;
}

const ROWS_PER_SECTION = 10;

/** The sections of a date of `total` seats: [{ name, first, last }]; one when it is small. */
function sectionsOf(total) {
  const size = seatsPerRow(total) * ROWS_PER_SECTION;
  if (total <= size) return [{ name: "", first: 1, last: total }];
  const sections = [];
  for (let first = 1; first <= total; first += size) {
    sections.push({ name: sectionName(sections.length), first, last: Math.min(total, first + size - 1) });
  }
  return sections;
}

/** A, B, … Z, then AA, AB: as venues letter their blocks. */
function sectionName(index) {
  const letter = String.fromCharCode(65 + (index % 26));
  return index < 26 ? letter : sectionName(Math.floor(index / 26) - 1) + letter;
}

/** Draws the map into the seat buttons already on the page, making them only when the date or
 * the section changes, so keyboard focus stays on the seat it was on while the map refreshes. */
function drawSeats(map) {
  // A map read before the fan chose another date is not this date's.
  if (map.date !== state.date || map.concertId !== state.concert?.concertId) return;
  const total = map.seats.length;
  const summary = { date: formatDate(map.date), available: count(map.availableSeats), total: count(total) };
  $("seat-summary").textContent = t("seatSummary", summary);
  drawPrices(map);
  const sections = sectionsOf(total);
  const holding = state.holds.find((hold) => isOn(hold, map))?.seatNumber ?? null;
  const section = sections.find((each) => each.first === state.section)
    || sections.find((each) => holding !== null && each.first <= holding && holding <= each.last)
    || sections.find((each) => map.seats.slice(each.first - 1, each.last).some((seat) => seat.status === "AVAILABLE"))
    || sections[0];
  state.section = section.first;
  drawSections(sections, section, map);
  const grid = $("seats");
  const shown = `${map.concertId}/${map.date}/${section.first}-${section.last}`;
  if (grid.dataset.shown !== shown) {
    grid.replaceChildren(...seatRows(section, seatsPerRow(total)));
    grid.style.setProperty("--per-row", String(seatsPerRow(total)));
    grid.style.setProperty("--digits", String(Math.max(2, String(total).length)));
    grid.dataset.shown = shown;
  }
  for (const seat of map.seats.slice(section.first - 1, section.last)) {
    drawSeat(state.seatButtons.get(seat.seatNumber), seat, map);
  }
}

/** The section's seats in rows, each row led by its label. */
function seatRows(section, perRow) {
  state.seatButtons = new Map();
  const rows = [];
  for (let first = section.first; first <= section.last; first += perRow) {
    const row = document.createElement("div");
    row.className = "seat-row";
    const label = document.createElement("span");
    label.className = "row-label";
    label.textContent = t("rowLabel", { row: rowOf(first, perRow) });
    row.append(label);
    for (let number = first; number <= Math.min(section.last, first + perRow - 1); number += 1) {
      const button = seatButton(number);
      state.seatButtons.set(number, button);
      row.append(button);
    }
    rows.push(row);
  }
  return rows;
}

const rowOf = (seatNumber, perRow) => Math.floor((seatNumber - 1) / perRow) + 1;

/** The section buttons of a large date, each with its seats left; none for a small one. */
function drawSections(sections, chosen, map) {
  const list = $("sections");
  list.hidden = sections.length === 1;
  if (sections.length === 1) return;
  if (list.children.length !== sections.length || list.dataset.date !== map.date) {
    list.replaceChildren(...sections.map((section) =>
      choiceButton("", false, () => chooseSection(section.first))));
    list.dataset.date = map.date;
  }
  sections.forEach((section, index) => {
    const button = list.children[index];
    const left = map.seats.slice(section.first - 1, section.last).filter((seat) => seat.status === "AVAILABLE").length;
    const line = (key, values) => {
      const span = document.createElement("span");
      span.textContent = t(key, values);
      return span;
    };
    button.replaceChildren(
      line("sectionName", { name: section.name }),
      line("sectionSeats", { first: section.first, last: section.last }),
      line("sectionLeft", { left: count(left) }),
    );
    button.setAttribute("aria-pressed", String(section === chosen));
  });
}

function chooseSection(first) {
  state.section = first;
  refreshSeats();
}

/** The date's prices on the map: one price for every seat, or the range. */
function drawPrices(map) {
  const prices = map.seats.map((seat) => seat.price);
  const lowest = Math.min(...prices);
  const highest = Math.max(...prices);
  $("seat-prices").textContent = lowest === highest
    ? t("onePrice", { price: formatWon(lowest) })
    : t("priceRange", { lowest: formatWon(lowest), highest: formatWon(highest) });
}

function seatButton(seatNumber) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = String(seatNumber);
  button.dataset.seat = String(seatNumber);
  button.addEventListener("click", () => holdSeat(seatNumber, button));
  return button;
}

function drawSeat(button, seat, map) {
  const mine = seat.status === "HELD" && state.holds.some((hold) => isOn(hold, map) && hold.seatNumber === seat.seatNumber);
  button.className = `seat ${seat.status}${mine ? " mine" : ""}`;
  button.dataset.status = mine ? "MINE" : seat.status;
  const status = t(`status${mine ? "MINE" : seat.status}`);
  const row = rowOf(seat.seatNumber, seatsPerRow(map.seats.length));
  const label = { row, seat: seat.seatNumber, status, price: formatWon(seat.price) };
  button.setAttribute("aria-label", t("seatLabel", label));
  button.title = t("seatLabel", label);
  // Up to the server's limit of holds, paid together: more waits for a payment or a give-back.
  button.disabled = seat.status !== "AVAILABLE" || state.holds.length >= HOLD_MAX;
}

/** Whether `hold` is on the date `map` shows. */
const isOn = (hold, map) => hold.date === map.date && hold.concertId === map.concertId;

/** The seats of `holds` as words: "7" or "7, 8". */
const heldSeats = (holds) => holds.map((hold) => hold.seatNumber).join(", ");

const holdsTotal = () => state.holds.reduce((sum, hold) => sum + hold.price, 0);

// ---- holding and paying ----

async function holdSeat(seatNumber, button) {
  const body = { concertId: state.concert.concertId, date: state.date, seatNumber };
  const held = await withToken(button, () => api("POST", "/api/v1/reservations", { token: state.token, body }));
  if (held) {
    state.holds.push({ ...held, title: state.concert.title });
    notice("");
    holdRefused(null);
    drawHold();
    show("hold", true);
    tick();
    // The bar stays in view; the focus goes to what comes next.
    $("pay").focus();
  }
  await refreshSeats();
}

/** Shows a refusal of the hold bar's Pay beside it (none: clears it); a short balance offers
 * to top up exactly what is missing. */
async function holdRefused(error) {
  const shown = $("hold-error");
  shown.textContent = error ? problemText(error) : "";
  shown.hidden = !error;
  show("top-up-short", false);
  if (!error || error.code !== "INSUFFICIENT_BALANCE" || state.holds.length === 0) return;
  const price = holdsTotal();
  const balance = await refreshBalance();
  const short = balance === undefined ? 0 : price - balance;
  if (short <= 0) return;
  const button = $("top-up-short");
  button.dataset.amount = String(short);
  button.textContent = t("topUpShort", { amount: formatWon(short) });
  show("top-up-short", true);
  button.focus();
}

/** Tops up exactly what the hold's price lacks, then hands the focus back to Pay. */
async function topUpShort() {
  const amount = Number($("top-up-short").dataset.amount);
  const charged = await withToken($("top-up-short"), () =>
    api("POST", "/api/v1/wallet/charges", { token: state.token, body: { amount } }));
  if (!charged) return;
  $("balance").textContent = formatWon(charged.balance);
  holdRefused(null);
  notice(t("charged", { amount: formatWon(amount) }));
  $("pay").focus();
}

/** The hold bar, in the page's language: every seat held, the total, and one Pay for them all.
 * With several, each has its own line, countdown and give-back. */
function drawHold() {
  const holds = state.holds;
  show("hold", holds.length > 0);
  if (holds.length === 0) return;
  const several = holds.length > 1;
  $("hold-title").textContent = several ? t("yourHolds", { count: holds.length }) : t("yourHold");
  // One seat is said whole; several name their concerts here and each seat on its own line.
  const titles = [...new Set(holds.map((hold) => hold.title))].join(", ");
  const one = holds[0];
  $("hold-what").textContent = several
    ? t("holdsWhat", { titles, count: holds.length })
    : t("holdWhat", { title: one.title, date: formatDate(one.date), seat: one.seatNumber });
  $("hold-price").textContent = formatWon(holdsTotal());
  $("pay").textContent = several ? t("payForSeats", { count: holds.length }) : t("payNow");
  $("release").textContent = several ? t("giveAllBack") : t("giveBack");
  $("hold-more").textContent = holds.length < HOLD_MAX ? t("holdMore", { max: HOLD_MAX }) : t("holdFull", { max: HOLD_MAX });
  $("hold-list").replaceChildren(...(several ? holds.map(holdLine) : []));
  show("hold-list", several);
  // Drawn again when a seat lapsed, the head counts down to the next seat's time at once.
  $("hold-left").textContent = duration(new Date(soonestHold().heldUntil) - serverNow());
}

/** The seat held whose time runs out first. */
function soonestHold() {
  return state.holds.reduce((first, hold) => (hold.heldUntil < first.heldUntil ? hold : first));
}

/** One seat of several on the hold bar: what it is, its price, its time left, its give-back. */
function holdLine(hold) {
  const line = document.createElement("li");
  line.dataset.reservation = hold.reservationId;
  const clock = document.createElement("b");
  clock.className = "hold-line-left";
  clock.setAttribute("role", "timer");
  clock.dataset.until = hold.heldUntil;
  clock.textContent = duration(new Date(hold.heldUntil) - serverNow());
  const words = { date: formatDate(hold.date), seat: hold.seatNumber, price: formatWon(hold.price) };
  const back = document.createElement("button");
  back.type = "button";
  back.className = "secondary";
  back.textContent = t("giveBackOne", { seat: hold.seatNumber });
  back.addEventListener("click", () => releaseHolds([hold], back));
  line.append(`${t("holdLine", words)} · `, clock, " ", back);
  return line;
}

/** The tickets just bought, in the page's language. */
function drawTicket() {
  if (!state.ticket) return;
  const { tickets, balance } = state.ticket;
  const cards = tickets.map((ticket, index) => ticketCard(ticket, index === 0 ? [["balanceLeft", formatWon(balance)]] : []));
  $("ticket").replaceChildren(...cards);
}

/** After a switch of language: what the page drew itself, drawn again. */
function redraw() {
  drawSales();
  showEntries();
  drawOnlyThisSale();
  drawHold();
  drawTicket();
  showMyTickets();
  if (state.concert) drawDates();
  // The rows' labels are words too: the seats are made again.
  $("seats").dataset.shown = "";
  refreshBalance();
  if (state.date) refreshSeats();
}

function holdLapsed(lapsed) {
  state.holds = state.holds.filter((hold) => hold !== lapsed);
  holdRefused(null);
  drawHold();
  // With seats still held, the fan is told which one went and that the others stay.
  const words = { seat: lapsed.seatNumber, date: formatDate(lapsed.date) };
  notice(state.holds.length > 0 ? t("oneHoldLapsed", words) : t("holdLapsed"));
  refreshSeats();
}

/** Gives every seat held back. */
function release() {
  return releaseHolds([...state.holds], $("release"));
}

async function releaseHolds(holds, button) {
  const done = await withToken(button, async () => {
    for (const hold of holds) {
      await api("DELETE", `/api/v1/reservations/${hold.reservationId}`, { token: state.token });
      state.holds = state.holds.filter((kept) => kept !== hold);
    }
    return true;
  });
  holdRefused(null);
  drawHold();
  if (done) notice(t("gaveBack", { seat: heldSeats(holds) }));
  await refreshSeats();
}

/** Pays the hold. Each press of the button has its own idempotency key (a refusal is remembered
 * under its key, and a later press after a top-up must be tried afresh); the one retry the page
 * makes after a lost answer reuses it, so it gets the first answer instead of a dead token's
 * refusal. */
async function pay() {
  const holds = [...state.holds];
  const key = `pay-${holds[0].reservationId}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const request = () => fetchPayment(holds, key);
  showError("");
  holdRefused(null);
  $("pay").disabled = true;
  let receipt;
  try {
    receipt = await request().catch((error) => {
      if (error.code === "NETWORK") return request();
      throw error;
    });
  } catch (error) {
    if (error.code === "TOKEN_INVALID") {
      tokenDied("");
      showError(problemText(error));
    } else {
      await holdRefused(error);
    }
    return;
  } finally {
    $("pay").disabled = false;
  }
  const tickets = ticketsOf(receipt, holds);
  // The payment ended the token, and with it what the page knew of the sale.
  tokenDied("");
  for (const ticket of [...tickets].reverse()) keepTicketCode(ticket.ticketCode);
  state.ticket = { tickets, balance: receipt.balance };
  drawTicket();
  show("queue", false);
  show("tickets", true);
  notice(t("paid"));
  showMyTickets();
}

// ---- tickets that stay ----

/** Where this browser keeps the codes of the tickets it bought, newest first. */
const TICKET_CODES = "ticketCodes";

function keptTicketCodes() {
  try {
    const codes = JSON.parse(localStorage.getItem(TICKET_CODES) || "[]");
    return Array.isArray(codes) ? codes.filter((code) => typeof code === "string") : [];
  } catch (error) {
    return [];
  }
}

function keepTicketCode(code) {
  const codes = keptTicketCodes().filter((kept) => kept !== code);
  localStorage.setItem(TICKET_CODES, JSON.stringify([code, ...codes]));
}

/** The address a ticket is shown at: what its QR code holds. */
function ticketUrl(code) {
  return `${location.origin}/api/v1/tickets/${encodeURIComponent(code)}`;
}

/** "My tickets": every kept code's ticket as the server tells it now, with no token needed. A
 * code the server no longer knows is forgotten; one it cannot answer now is shown as such. */
async function showMyTickets() {
  const codes = keptTicketCodes();
  const cards = await Promise.all(codes.map(async (code) => {
    try {
      const ticket = await api("GET", `/api/v1/tickets/${encodeURIComponent(code)}`);
      const card = ticketCard(ticket, ticketStatusLines(ticket));
      if (ticket.status === "VALID") card.querySelector("div").append(cancelButton(ticket));
      return card;
    } catch (error) {
      if (error.code === "TICKET_NOT_FOUND" || error.code === "INVALID_REQUEST") {
        localStorage.setItem(TICKET_CODES, JSON.stringify(keptTicketCodes().filter((kept) => kept !== code)));
        return null;
      }
      const unread = document.createElement("p");
      unread.className = "muted";
      unread.textContent = t("ticketUnread", { code, reason: error.message });
      return unread;
    }
  }));
  const shown = cards.filter(Boolean);
  $("my-ticket-list").replaceChildren(...shown);
  show("my-tickets", shown.length > 0);
}

/** A ticket as a card: what it is for, its code and its QR code, and `extra` lines. */
function ticketCard(ticket, extra = []) {
  const card = document.createElement("article");
  card.className = "ticket";
  card.dataset.ticketCode = ticket.ticketCode;
  card.setAttribute("aria-label", t("ticketLabel", { title: ticket.title, date: formatDate(ticket.date), seat: ticket.seatNumber }));
  const details = document.createElement("div");
  const heading = document.createElement("h3");
  heading.textContent = ticket.title;
  const lines = [
    ["ticketDate", formatDate(ticket.date)], ["ticketSeat", String(ticket.seatNumber)],
    ["ticketPrice", formatWon(ticket.price)], ["ticketPaid", formatMoment(ticket.paidAt)],
    ["ticketCode", ticket.ticketCode], ...extra,
  ];
  const list = document.createElement("dl");
  for (const [name, value] of lines) {
    const term = document.createElement("dt");
    term.textContent = t(name);
    term.dataset.line = name;
    const description = document.createElement("dd");
    description.textContent = value;
    if (name === "ticketCode") description.className = "code";
    list.append(term, description);
  }
  details.append(heading, list);
  card.append(qrCode(ticketUrl(ticket.ticketCode)), details);
  return card;
}

/** `text` as a QR code, drawn as SVG squares (no script or image from elsewhere). */
function qrCode(text) {
  const qr = qrcode(0, "M");
  qr.addData(text);
  qr.make();
  const modules = qr.getModuleCount();
  const quiet = 4;
  const side = modules + 2 * quiet;
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${side} ${side}`);
  svg.setAttribute("class", "qr");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", t("qrLabel"));
  let path = "";
  for (let row = 0; row < modules; row += 1) {
    for (let column = 0; column < modules; column += 1) {
      if (qr.isDark(row, column)) path += `M${column + quiet} ${row + quiet}h1v1h-1z`;
    }
  }
  const dark = document.createElementNS(svgNs, "path");
  dark.setAttribute("d", path);
  dark.setAttribute("fill", "#000");
  svg.append(dark);
  return svg;
}

/** One hold is paid alone, several as one order. */
function fetchPayment(holds, key) {
  const body = holds.length === 1
    ? { reservationId: holds[0].reservationId }
    : { reservationIds: holds.map((hold) => hold.reservationId) };
  return api("POST", "/api/v1/payments", { token: state.token, body, headers: { "Idempotency-Key": key } });
}

/** The tickets a payment's receipt gives, one per seat paid, as the ticket cards show them. */
function ticketsOf(receipt, holds) {
  const paid = receipt.tickets || [{ ...holds[0], ticketCode: receipt.ticketCode, price: receipt.amount }];
  return paid.map((seat) => {
    const hold = holds.find((held) => held.reservationId === seat.reservationId) || holds[0];
    return {
      ticketCode: seat.ticketCode, title: hold.title, date: seat.date,
      seatNumber: seat.seatNumber, price: seat.price, paidAt: receipt.paidAt,
    };
  });
}

function again() {
  state.ticket = null;
  show("tickets", false);
  show("queue", true);
  notice("");
  showQueueIdle();
}

// ---- the clock on the page ----

function tick() {
  const now = serverNow();
  if (state.activeUntil) {
    const left = state.activeUntil - now;
    $("active-left").textContent = duration(left);
    if (left <= 0) tokenDied(t("sessionEnded"));
  }
  drawLine();
  tickSales();
  tickHolds(now);
}

/** The hold bar's countdowns: the soonest to lapse at its head, each seat's on its line; a seat
 * whose time is up leaves the bar. */
function tickHolds(now) {
  if (state.holds.length === 0) return;
  const soonest = soonestHold();
  const left = new Date(soonest.heldUntil) - now;
  $("hold-left").textContent = duration(left);
  for (const clock of document.querySelectorAll(".hold-line-left[data-until]")) {
    clock.textContent = duration(new Date(clock.dataset.until) - now);
  }
  if (left <= 0) holdLapsed(soonest);
}

// ---- start ----

async function resume() {
  signedIn();
  if (!state.token) {
    showQueueIdle();
    return;
  }
  try {
    onStatus(await api("GET", "/api/v1/queue/tokens/me", { token: state.token }));
  } catch (error) {
    // Only a token the server no longer knows is forgotten; a busy server is asked again.
    if (error.code === "TOKEN_INVALID") tokenDied("");
    else {
      showError(error.message);
      setTimeout(resume, STREAM_RETRY_MS);
    }
  }
}

$("signin-form").addEventListener("submit", signIn);
$("signout").addEventListener("click", signOut);
$("join").addEventListener("click", join);
$("leave").addEventListener("click", leave);
$("charge-form").addEventListener("submit", charge);
$("pay").addEventListener("click", pay);
$("top-up-short").addEventListener("click", topUpShort);
$("release").addEventListener("click", release);
$("again").addEventListener("click", again);
$("join-waitlist").addEventListener("click", joinWaitlist);
$("language").addEventListener("click", () => switchLanguage(redraw));
applyLanguage();
/** A link with `?as=<userId>` (the demo prints them) signs this browser in as that fan. */
async function signInFromLink() {
  const userId = new URLSearchParams(location.search).get("as");
  if (!userId) return;
  history.replaceState(null, "", location.pathname);
  await attempt(null, async () => {
    const user = await api("GET", `/api/v1/users/${encodeURIComponent(userId)}`);
    if (!state.fan || state.fan.userId !== user.userId) {
      if (state.token) localStorage.removeItem(`joinedAt:${state.token}`);
      localStorage.removeItem("token");
      state.token = null;
    }
    state.fan = { userId: user.userId, name: user.name };
    localStorage.setItem("fan", JSON.stringify(state.fan));
  });
}

setInterval(tick, 250);
showMyTickets();
showEntries();
signInFromLink().then(() => {
  if (state.fan) resume();
});
