// The operator's console: the admin key and signing out, the queue gate with its admission rate
// and the time to clear the line, sales per date, and new concerts; in Korean and English.
"use strict";

addStrings({
  en: {
    pageTitle: "Box office · operator",
    consoleTitle: "Box office · operator",
    fanPage: "Fan page",
    signOut: "Sign out",
    signedOut: "Signed out: this browser no longer keeps the admin key.",
    adminKey: "Admin key",
    keyLabel: "The key the server was started with",
    openConsole: "Open",
    serverUnreachable: "The server cannot be reached.",
    queueGate: "Queue gate",
    figureWaiting: "Waiting",
    figureRate: "Admissions per minute",
    figureClearTime: "Time to clear the line",
    figureActive: "Active",
    figureActiveMax: "Active at most",
    figureAdmitted: "Admitted",
    figureExpired: "Expired",
    perMinute: "{rate}",
    nobodyWaiting: "no one waiting",
    underAMinute: "under a minute",
    aboutMinutes: "about {minutes} min",
    aboutHours: "about {hours} h",
    aboutHoursMinutes: "about {hours} h {minutes} min",
    activeMaxLabel: "Let this many be active at once",
    setActiveMax: "Set",
    activeMaxSet: "Up to {count} fans may now be active at once.",
    sales: "Sales",
    figureFans: "Fans",
    figureHeld: "Seats held",
    figureSold: "Seats sold",
    figureRevenue: "Revenue",
    figureBalances: "Wallet balances",
    everyDate: "Every date",
    columnDate: "Date",
    columnSeats: "Seats",
    columnHeld: "Held",
    columnSold: "Sold",
    columnRevenue: "Revenue",
    newConcert: "New concert",
    concertTitle: "Title",
    newDate: "Date",
    newSeatCount: "Seats",
    newPrice: "Price (won)",
    addDate: "Add a date",
    createConcert: "Create the concert",
    created: "Created “{title}” with {count} date(s).",
  },
  ko: {
    pageTitle: "매표소 운영 콘솔",
    consoleTitle: "매표소 운영 콘솔",
    fanPage: "예매 페이지",
    signOut: "로그아웃",
    signedOut: "로그아웃했습니다. 이 브라우저에 보관하던 관리자 키를 지웠습니다.",
    adminKey: "관리자 키",
    keyLabel: "서버를 시작할 때 지정한 관리자 키",
    openConsole: "로그인",
    serverUnreachable: "서버에 연결할 수 없습니다.",
    queueGate: "대기열 관리",
    figureWaiting: "대기 인원",
    figureRate: "분당 입장",
    figureClearTime: "대기열 해소 예상 시간",
    figureActive: "입장 중",
    figureActiveMax: "동시 입장 최대",
    figureAdmitted: "누적 입장",
    figureExpired: "만료",
    perMinute: "{rate}명",
    nobodyWaiting: "대기 없음",
    underAMinute: "1분 미만",
    aboutMinutes: "약 {minutes}분",
    aboutHours: "약 {hours}시간",
    aboutHoursMinutes: "약 {hours}시간 {minutes}분",
    activeMaxLabel: "동시 입장 최대 인원",
    setActiveMax: "적용",
    activeMaxSet: "이제 최대 {count}명까지 동시에 입장할 수 있습니다.",
    sales: "판매 현황",
    figureFans: "가입 회원",
    figureHeld: "선점 좌석",
    figureSold: "판매 좌석",
    figureRevenue: "매출",
    figureBalances: "지갑 잔액 합계",
    everyDate: "날짜별 현황",
    columnDate: "날짜",
    columnSeats: "좌석",
    columnHeld: "선점",
    columnSold: "판매",
    columnRevenue: "매출",
    newConcert: "새 공연 등록",
    concertTitle: "공연명",
    newDate: "날짜",
    newSeatCount: "좌석 수",
    newPrice: "가격 (원)",
    addDate: "날짜 추가",
    createConcert: "공연 등록",
    created: "‘{title}’ 공연을 날짜 {count}개로 등록했습니다.",
  },
});

const REFRESH_MS = 1000;
/** The admission rate is read over this much of the latest samples (less just after opening). */
const RATE_WINDOW_MS = 60_000;


const state = {
  adminKey: sessionStorage.getItem("adminKey"),
  refresher: null,
  refreshing: false,
  /** Bumped at each sign-out, so an answer to an earlier session's request is dropped. */
  session: 0,
  /** The last answers, drawn again when the language changes. */
  last: null,
  /** `{at, admitted}` of the latest refreshes, for the admission rate. */
  admissions: [],
  refreshFailed: false,
};

function admin(method, path, body) {
  // The server words its refusals in the console's language, not only the browser's.
  return api(method, path, { adminKey: state.adminKey, body, headers: { "Accept-Language": language } });
}

/** An error as the console tells it: the API's own words, or ours when no answer came. */
function errorText(error) {
  return error.code === "NETWORK" ? t("serverUnreachable") : problemText(error);
}

async function unlock(event) {
  event.preventDefault();
  const key = $("key").value;
  await attempt($("key-button"), async () => {
    state.adminKey = key;
    await admin("GET", "/api/v1/admin/queue").catch((error) => {
      state.adminKey = null;
      throw error;
    });
    sessionStorage.setItem("adminKey", key);
    $("key").value = "";
    notice("");
    opened();
  });
}

function showConsole(open) {
  show("signin", !open);
  show("signout", open);
  for (const id of ["gate", "sales", "create"]) show(id, open);
}

function opened() {
  showConsole(true);
  if ($("new-dates").children.length === 0) addDate();
  refresh();
  state.refresher = setInterval(refresh, REFRESH_MS);
}

/** Forgets the key and what this session watched, and shows the key form again. */
function forget() {
  clearInterval(state.refresher);
  state.refresher = null;
  state.session += 1;
  sessionStorage.removeItem("adminKey");
  Object.assign(state, { adminKey: null, last: null, admissions: [] });
  $("new-active-max").value = "";
  showConsole(false);
}

function signOut() {
  forget();
  showError("");
  notice(t("signedOut"));
  $("key").focus();
}

/** The server refused the key (changed, or the admin API turned off): back to the key form. */
function closed(message) {
  forget();
  showError(message);
}

/** Reads the figures again, unless the last reading is still under way (a slow server). */
async function refresh() {
  if (state.refreshing) return;
  state.refreshing = true;
  const session = state.session;
  try {
    const [queue, stats, concerts] = await Promise.all([
      admin("GET", "/api/v1/admin/queue"),
      admin("GET", "/api/v1/admin/stats"),
      admin("GET", "/api/v1/admin/concerts"),
    ]);
    if (session !== state.session) return;
    recordAdmissions(queue.admittedTotal, Date.now());
    state.last = { queue, stats, concerts };
    drawAll();
    if (state.refreshFailed) showError("");
    state.refreshFailed = false;
  } catch (error) {
    if (session !== state.session) return;
    if (error.status === 401 || error.status === 403) closed(errorText(error));
    else {
      state.refreshFailed = true;
      showError(errorText(error));
    }
  } finally {
    state.refreshing = false;
  }
}

function drawAll() {
  const { queue, stats, concerts } = state.last;
  drawQueue(queue);
  drawStats(stats);
  drawDates(concerts);
}

/** After a switch of language: what the console drew itself, drawn again. */
function redraw() {
  if (state.last) drawAll();
}

const locale = () => (language === "ko" ? "ko-KR" : "en-GB");

function formatCount(count) {
  return new Intl.NumberFormat(locale()).format(count);
}

// ----- The queue gate, its admission rate and the time to clear the line -----

function recordAdmissions(admitted, now) {
  const samples = state.admissions;
  samples.push({ at: now, admitted });
  // Keep the last minute, and always two samples: a throttled background tab refreshes rarely.
  while (samples.length > 2 && samples[0].at < now - RATE_WINDOW_MS) samples.shift();
}

/** Admissions per minute over the samples kept; null until there are two to compare. */
function admissionsPerMinute() {
  const samples = state.admissions;
  if (samples.length < 2) return null;
  const first = samples[0];
  const last = samples[samples.length - 1];
  const elapsedMs = last.at - first.at;
  if (elapsedMs <= 0) return null;
  return (Math.max(0, last.admitted - first.admitted) * 60_000) / elapsedMs;
}

function formatRate(perMinute) {
  if (perMinute === null) return "—";
  const digits = new Intl.NumberFormat(locale(), { maximumFractionDigits: perMinute < 10 ? 1 : 0 });
  return t("perMinute", { rate: digits.format(perMinute) });
}

/** How long the line takes to clear at the present rate, in words; "—" when nobody is let in. */
function clearTimeText(waiting, perMinute) {
  if (waiting === 0) return t("nobodyWaiting");
  if (!perMinute) return "—";
  const minutes = Math.round(waiting / perMinute);
  if (minutes < 1) return t("underAMinute");
  if (minutes < 60) return t("aboutMinutes", { minutes });
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest === 0 ? t("aboutHours", { hours }) : t("aboutHoursMinutes", { hours, minutes: rest });
}

function drawQueue(queue) {
  const perMinute = admissionsPerMinute();
  $("waiting").textContent = formatCount(queue.waiting);
  $("rate").textContent = formatRate(perMinute);
  $("clear-time").textContent = clearTimeText(queue.waiting, perMinute);
  $("active").textContent = formatCount(queue.active);
  $("active-max").textContent = formatCount(queue.activeMax);
  $("admitted").textContent = formatCount(queue.admittedTotal);
  $("expired").textContent = formatCount(queue.expiredTotal);
  if (!$("new-active-max").value) $("new-active-max").value = String(queue.activeMax);
}

async function setActiveMax(event) {
  event.preventDefault();
  await attempt($("gate-button"), async () => {
    const queue = await admin("PUT", "/api/v1/admin/queue", { activeMax: Number($("new-active-max").value) });
    if (state.last) state.last.queue = queue;
    drawQueue(queue);
    notice(t("activeMaxSet", { count: formatCount(queue.activeMax) }));
  });
}

// ----- Sales: the totals and the table of dates -----

function drawStats(stats) {
  $("users").textContent = formatCount(stats.users);
  $("held").textContent = formatCount(stats.seatsHeld);
  $("sold").textContent = `${formatCount(stats.seatsSold)} / ${formatCount(stats.seatsTotal)}`;
  $("revenue").textContent = formatWon(stats.revenueTotal);
  $("balances").textContent = formatWon(stats.balancesTotal);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** A date's row, headed by the date itself. */
function dateRow(date) {
  const row = document.createElement("tr");
  const head = document.createElement("th");
  head.scope = "row";
  head.className = "date";
  head.textContent = formatDate(date.date);
  row.append(
    head, cell(formatCount(date.totalSeats), "num"), cell(formatCount(date.seatsHeld), "num"),
    cell(formatCount(date.seatsSold), "num"), cell(formatWon(date.revenue), "num"),
  );
  return row;
}

/** A concert's dates under its title, so the title is written once and the figures sit close. */
function concertRows(concert) {
  const body = document.createElement("tbody");
  body.dataset.concert = concert.concertId;
  const title = document.createElement("th");
  title.scope = "colgroup";
  title.colSpan = 5;
  title.className = "concert";
  const name = document.createElement("span");
  name.textContent = concert.title;
  title.append(name);
  const titleRow = document.createElement("tr");
  titleRow.append(title);
  body.append(titleRow, ...concert.dates.map(dateRow));
  return body;
}

function drawDates(concerts) {
  const table = $("dates");
  table.replaceChildren(table.tHead, ...concerts.map(concertRows));
}

// ----- A new concert -----

let dateRows = 0;

/** A labelled input for a new date; its label follows the language through `data-i18n`. */
function dateField(name, labelKey, type, value, attributes) {
  const wrap = document.createElement("div");
  const id = `${name}-${dateRows}`;
  const label = document.createElement("label");
  label.htmlFor = id;
  label.dataset.i18n = labelKey;
  label.textContent = t(labelKey);
  const input = document.createElement("input");
  Object.assign(input, { id, name, type, value, required: true }, attributes);
  wrap.append(label, input);
  return wrap;
}

function addDate() {
  dateRows += 1;
  const row = document.createElement("div");
  row.className = "row new-date";
  const later = new Date(Date.now() + 86400000 * (30 + dateRows)).toISOString().slice(0, 10);
  row.append(
    dateField("date", "newDate", "date", later, {}),
    dateField("seatCount", "newSeatCount", "number", "50", { min: 1 }),
    dateField("price", "newPrice", "number", "99000", { min: 0 }),
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
    notice(t("created", { title: created.title, count: created.dates.length }));
    $("title").value = "";
    refresh();
  });
}

$("key-form").addEventListener("submit", unlock);
$("signout").addEventListener("click", signOut);
$("gate-form").addEventListener("submit", setActiveMax);
$("add-date").addEventListener("click", addDate);
$("concert-form").addEventListener("submit", createConcert);
$("language").addEventListener("click", () => switchLanguage(redraw));
applyLanguage();
if (state.adminKey) opened();
