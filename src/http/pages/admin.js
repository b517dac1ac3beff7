// The operator's page: the queue gate and its figures, sales per date, and new concerts.
"use strict";

const REFRESH_MS = 1000;
let adminKey = sessionStorage.getItem("adminKey");
let refresher = null;

function admin(method, path, body) {
  return api(method, path, { adminKey, body });
}

async function unlock(event) {
  event.preventDefault();
  const key = $("key").value;
  await attempt($("key-button"), async () => {
    adminKey = key;
    await admin("GET", "/api/v1/admin/queue").catch((error) => {
      adminKey = null;
      throw error;
    });
    sessionStorage.setItem("adminKey", key);
    opened();
  });
}

function opened() {
  $("signin").hidden = true;
  for (const id of ["gate", "sales", "create"]) $(id).hidden = false;
  if ($("new-dates").children.length === 0) addDate();
  refresh();
  refresher = setInterval(refresh, REFRESH_MS);
}

function closed(message) {
  clearInterval(refresher);
  sessionStorage.removeItem("adminKey");
  adminKey = null;
  $("signin").hidden = false;
  for (const id of ["gate", "sales", "create"]) $(id).hidden = true;
  showError(message);
}

let refreshing = false;

/** Reads the figures again, unless the last reading is still under way (a slow server). */
async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [queue, stats, concerts] = await Promise.all([
      admin("GET", "/api/v1/admin/queue"),
      admin("GET", "/api/v1/admin/stats"),
      admin("GET", "/api/v1/admin/concerts"),
    ]);
    drawQueue(queue);
    drawStats(stats);
    drawDates(concerts);
  } catch (error) {
    if (error.status === 401 || error.status === 403) closed(error.message);
    else showError(error.message);
  } finally {
    refreshing = false;
  }
}

function drawQueue(queue) {
  $("waiting").textContent = String(queue.waiting);
  $("active").textContent = String(queue.active);
  $("active-max").textContent = String(queue.activeMax);
  $("admitted").textContent = String(queue.admittedTotal);
  $("expired").textContent = String(queue.expiredTotal);
  if (!$("new-active-max").value) $("new-active-max").value = String(queue.activeMax);
}

function drawStats(stats) {
  $("users").textContent = String(stats.users);
  $("held").textContent = String(stats.seatsHeld);
  $("sold").textContent = `${stats.seatsSold} / ${stats.seatsTotal}`;
  $("revenue").textContent = formatWon(stats.revenueTotal);
  $("balances").textContent = formatWon(stats.balancesTotal);
}

function cell(text, numeric) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  return td;
}

function drawDates(concerts) {
  const rows = concerts.flatMap((concert) => concert.dates.map((date) => {
    const row = document.createElement("tr");
    row.append(
      cell(concert.title), cell(date.date), cell(String(date.totalSeats), true),
      cell(String(date.seatsHeld), true), cell(String(date.seatsSold), true), cell(formatWon(date.revenue), true),
    );
    return row;
  }));
  $("dates").replaceChildren(...rows);
}

async function setActiveMax(event) {
  event.preventDefault();
  await attempt($("gate-button"), async () => {
    const queue = await admin("PUT", "/api/v1/admin/queue", { activeMax: Number($("new-active-max").value) });
    drawQueue(queue);
    notice(`Up to ${queue.activeMax} fans may now be active at once.`);
  });
}

let dateRows = 0;

function addDate() {
  dateRows += 1;
  const row = document.createElement("div");
  row.className = "row new-date";
  row.style.marginBottom = ".4rem";
  const field = (label, type, value, attributes) => {
    const wrap = document.createElement("div");
    const id = `${label.toLowerCase().replace(/\W+/g, "-")}-${dateRows}`;
    const title = document.createElement("label");
    title.htmlFor = id;
    title.textContent = label;
    const input = document.createElement("input");
    Object.assign(input, { id, type, value, required: true }, attributes);
    wrap.append(title, input);
    return wrap;
  };
  const tomorrow = new Date(Date.now() + 86400000 * (30 + dateRows)).toISOString().slice(0, 10);
  row.append(
    field("Date", "date", tomorrow, { name: "date" }),
    field("Seats", "number", "50", { name: "seatCount", min: 1 }),
    field("Price (won)", "number", "99000", { name: "price", min: 0 }),
  );
  $("new-dates").append(row);
}

async function createConcert(event) {
  event.preventDefault();
  const dates = [...document.querySelectorAll(".new-date")].map((row) => ({
    date: row.querySelector("[name=date]").value,
    seatCount: Number(row.querySelector("[name=seatCount]").value),
    price: Number(row.querySelector("[name=price]").value),
  }));
  await attempt($("create-button"), async () => {
    const created = await admin("POST", "/api/v1/admin/concerts", { title: $("title").value, dates });
    notice(`Created "${created.title}" with ${created.dates.length} date(s).`);
    $("title").value = "";
    refresh();
  });
}

$("key-form").addEventListener("submit", unlock);
$("gate-form").addEventListener("submit", setActiveMax);
$("add-date").addEventListener("click", addDate);
$("concert-form").addEventListener("submit", createConcert);
if (adminKey) opened();
