// The fan's page: sign in by name, wait in line with a live position, pick a seat, hold it, top up
// the wallet, pay, and see the ticket. Everything the server refuses shows its problem title.
"use strict";

const SEAT_REFRESH_MS = 1500;

const state = {
  fan: JSON.parse(localStorage.getItem("fan") || "null"),
  token: localStorage.getItem("token"),
  stream: null,
  concerts: [],
  concert: null,
  date: null,
  hold: null,
  activeUntil: null,
  seatTimer: null,
};

function show(id, visible) {
  $(id).hidden = !visible;
}

function notice(message) {
  $("notice").textContent = message || "";
  show("notice", Boolean(message));
}

function duration(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes}:${String(seconds % 60).padStart(2, "0")}` : `${seconds} s`;
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
  show("queue-waiting", false);
  show("queue-active", false);
  show("leave", false);
}

async function join() {
  await attempt($("join"), async () => {
    const status = await api("POST", "/api/v1/queue/tokens", { body: { userId: state.fan.userId } })
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
  stream.addEventListener("expired", () => tokenDied("Your place in the queue has expired. You can join again."));
  stream.onerror = () => {
    // The server ends the stream after ACTIVE or expiry; anything else is a lost connection,
    // which the browser retries by itself.
    if (stream.readyState === EventSource.CLOSED) unfollow();
  };
}

function unfollow() {
  if (state.stream) state.stream.close();
  state.stream = null;
}

function onStatus(status) {
  show("queue-idle", false);
  show("leave", true);
  show("wallet", true);
  refreshBalance();
  if (status.status === "WAITING") {
    show("queue-waiting", true);
    show("queue-active", false);
    $("position").textContent = String(status.position);
    $("wait").textContent = duration(status.estimatedWaitSeconds * 1000);
    follow();
    return;
  }
  unfollow();
  show("queue-waiting", false);
  show("queue-active", true);
  state.activeUntil = new Date(status.activeUntil);
  if (!$("shop").hidden) return;
  show("shop", true);
  loadConcerts();
}

/** The token is gone (expired, left, or a session that ran out): back to the start of the line. */
function tokenDied(message) {
  unfollow();
  stopSeats();
  localStorage.removeItem("token");
  state.token = null;
  state.hold = null;
  state.activeUntil = null;
  for (const id of ["shop", "hold", "wallet"]) show(id, false);
  showQueueIdle();
  if (message) notice(message);
}

async function leave() {
  await attempt($("leave"), async () => {
    await api("DELETE", "/api/v1/queue/tokens/me", { token: state.token });
    tokenDied("You left the queue.");
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
  } catch (error) {
    if (error.code === "TOKEN_INVALID") tokenDied("Your place in the queue has expired. You can join again.");
  }
}

async function charge(event) {
  event.preventDefault();
  await withToken($("charge"), async () => {
    const amount = Number($("amount").value);
    const wallet = await api("POST", "/api/v1/wallet/charges", { token: state.token, body: { amount } });
    $("balance").textContent = formatWon(wallet.balance);
    notice(`Charged ${formatWon(amount)}.`);
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

async function loadConcerts() {
  await attempt(null, async () => {
    state.concerts = await api("GET", "/api/v1/concerts");
    const list = $("concerts");
    list.replaceChildren(...state.concerts.map((concert) =>
      choiceButton(concert.title, concert === state.concert, () => chooseConcert(concert))));
    if (state.concerts.length === 0) list.textContent = "No concert is on sale yet.";
  });
}

async function chooseConcert(concert) {
  state.concert = concert;
  state.date = null;
  stopSeats();
  show("seat-area", false);
  for (const button of $("concerts").children) {
    button.setAttribute("aria-pressed", String(button.textContent === concert.title));
  }
  await attempt(null, async () => {
    const dates = await api("GET", `/api/v1/concerts/${concert.concertId}/dates`);
    $("dates").replaceChildren(...dates.map((date) =>
      choiceButton(`${date.date} · ${date.availableSeats} left`, false, () => chooseDate(date.date))));
    if (dates.length === 0) $("dates").textContent = "Every date is sold out.";
  });
}

function chooseDate(date) {
  state.date = date;
  for (const button of $("dates").children) {
    button.setAttribute("aria-pressed", String(button.textContent.startsWith(date)));
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

async function refreshSeats() {
  if (!state.token || !state.date) return;
  const path = `/api/v1/concerts/${state.concert.concertId}/dates/${state.date}/seats`;
  try {
    drawSeats(await api("GET", path, { token: state.token }));
  } catch (error) {
    if (error.code === "TOKEN_INVALID") tokenDied("Your session has ended. You can join the queue again.");
    else showError(error.message);
  }
}

function drawSeats(map) {
  $("seat-summary").textContent = `${map.date}: ${map.availableSeats} of ${map.seats.length} seats available`;
  const buttons = map.seats.map((seat) => {
    const mine = state.hold && state.hold.date === map.date && state.hold.seatNumber === seat.seatNumber
      && state.hold.concertId === map.concertId && seat.status === "HELD";
    const button = document.createElement("button");
    button.type = "button";
    button.className = `seat ${seat.status}${mine ? " mine" : ""}`;
    button.textContent = String(seat.seatNumber);
    button.dataset.seat = String(seat.seatNumber);
    button.dataset.status = mine ? "MINE" : seat.status;
    const status = mine ? "held by you" : seat.status.toLowerCase();
    button.setAttribute("aria-label", `Seat ${seat.seatNumber}, ${status}, ${formatWon(seat.price)}`);
    button.disabled = seat.status !== "AVAILABLE";
    button.addEventListener("click", () => holdSeat(seat.seatNumber, button));
    return button;
  });
  $("seats").replaceChildren(...buttons);
}

// ---- holding and paying ----

async function holdSeat(seatNumber, button) {
  const body = { concertId: state.concert.concertId, date: state.date, seatNumber };
  const held = await withToken(button, () => api("POST", "/api/v1/reservations", { token: state.token, body }));
  if (held) {
    state.hold = held;
    notice("");
    $("hold-what").textContent = `${state.concert.title}, ${held.date}, seat ${held.seatNumber}`;
    $("hold-price").textContent = formatWon(held.price);
    show("hold", true);
    tick();
  }
  await refreshSeats();
}

function holdLapsed() {
  state.hold = null;
  show("hold", false);
  notice("Your hold has lapsed: the seat is free for others again.");
  refreshSeats();
}

async function release() {
  const hold = state.hold;
  const done = await withToken($("release"), async () => {
    await api("DELETE", `/api/v1/reservations/${hold.reservationId}`, { token: state.token });
    return true;
  });
  if (done) {
    state.hold = null;
    show("hold", false);
    notice(`You gave seat ${hold.seatNumber} back.`);
  }
  await refreshSeats();
}

async function pay() {
  const hold = state.hold;
  const receipt = await attempt($("pay"), () => api("POST", "/api/v1/payments", {
    token: state.token,
    body: { reservationId: hold.reservationId },
  }));
  if (!receipt) {
    refreshBalance();
    return;
  }
  const title = state.concert.title;
  tokenDied("");
  const lines = [
    ["Concert", title], ["Date", hold.date], ["Seat", String(hold.seatNumber)],
    ["Paid", formatWon(receipt.amount)], ["Balance left", formatWon(receipt.balance)],
    ["Payment", receipt.paymentId],
  ];
  const ticket = $("ticket");
  ticket.replaceChildren(...lines.map(([name, value]) => {
    const line = document.createElement("div");
    const label = document.createElement("strong");
    label.textContent = `${name}: `;
    line.append(label, value);
    return line;
  }));
  ticket.setAttribute("aria-label", `Confirmed ticket: ${title}, ${hold.date}, seat ${hold.seatNumber}`);
  show("queue", false);
  show("tickets", true);
  notice("Payment complete. Enjoy the show!");
}

function again() {
  show("tickets", false);
  show("queue", true);
  notice("");
  showQueueIdle();
}

// ---- the clock on the page ----

function tick() {
  const now = Date.now();
  if (state.activeUntil) {
    const left = state.activeUntil - now;
    $("active-left").textContent = duration(left);
    if (left <= 0) tokenDied("Your session has ended. You can join the queue again.");
  }
  if (state.hold) {
    const left = new Date(state.hold.heldUntil) - now;
    $("hold-left").textContent = duration(left);
    if (left <= 0) holdLapsed();
  }
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
    tokenDied(error.code === "TOKEN_INVALID" ? "" : error.message);
  }
}

$("signin-form").addEventListener("submit", signIn);
$("signout").addEventListener("click", signOut);
$("join").addEventListener("click", join);
$("leave").addEventListener("click", leave);
$("charge-form").addEventListener("submit", charge);
$("pay").addEventListener("click", pay);
$("release").addEventListener("click", release);
$("again").addEventListener("click", again);
/** A link with `?as=<userId>` (the demo prints them) signs this browser in as that fan. */
async function signInFromLink() {
  const userId = new URLSearchParams(location.search).get("as");
  if (!userId) return;
  history.replaceState(null, "", location.pathname);
  await attempt(null, async () => {
    const user = await api("GET", `/api/v1/users/${encodeURIComponent(userId)}`);
    if (!state.fan || state.fan.userId !== user.userId) {
      localStorage.removeItem("token");
      state.token = null;
    }
    state.fan = { userId: user.userId, name: user.name };
    localStorage.setItem("fan", JSON.stringify(state.fan));
  });
}

setInterval(tick, 250);
signInFromLink().then(() => {
  if (state.fan) resume();
});
