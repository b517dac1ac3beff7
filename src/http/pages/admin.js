// The operator's console: the admin key and signing out, the queue gate with its admission rate
// and the time to clear the line, sales per date with their trend over time, and new concerts;
// in Korean and English. A concert's own sale is admin-sales.js's.
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
    figureOrders: "Orders",
    figureRevenue: "Revenue",
    figureBalances: "Wallet balances",
    salesTrend: "Sales over time",
    trendChartTitle: "Seats sold per date since {since}: {count} dates",
    trendTop: "{count} sold",
    trendUnsold: "No seat sold yet: {count} dates",
    trendNow: "now",
    trendLegend: "Dates in the chart",
    trendCaption: "Seats sold per date while this console has been open; the figures are in the table below.",
    trendBusiest: "The {count} dates with the most seats sold are drawn; every date is in the table below.",
    trendSeries: "{title} · {date}",
    trendPoint: "{title} · {date}: {sold} sold at {moment}",
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
    figureOrders: "결제 건수",
    figureRevenue: "매출",
    figureBalances: "지갑 잔액 합계",
    salesTrend: "판매 추이",
    trendChartTitle: "{since}부터 날짜별 판매 좌석 수: {count}개 날짜",
    trendTop: "{count}석",
    trendUnsold: "아직 판매 없음: {count}개 날짜",
    trendNow: "지금",
    trendLegend: "그래프의 공연 날짜",
    trendCaption: "이 콘솔을 연 뒤로 날짜별로 판매된 좌석 수입니다. 정확한 수치는 아래 표에 있습니다.",
    trendBusiest: "가장 많이 팔린 {count}개 날짜만 그렸습니다. 모든 날짜는 아래 표에 있습니다.",
    trendSeries: "{title} · {date}",
    trendPoint: "{title} · {date}: {moment} 기준 {sold}석 판매",
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
/** Where the sales trend is kept, so a reload keeps what the console has watched. */
const TREND_KEY = "salesTrend";
/** Points kept per date: past this, every other older point goes, so the trend still starts where
 * watching began and storage stays bounded however long the console is open. */
const TREND_POINTS_MAX = 120;
/** More lines than this cannot be told apart: the busiest dates are drawn, all are in the table. */
const TREND_SERIES_SHOWN_MAX = 12;
/** The chart shows at least this much time, so the first minutes do not stretch across it. */
const TREND_SPAN_MIN_MS = 5 * 60_000;
const CHART_HEIGHT = 180;
const CHART_PADDING = 8;
/** Room above the highest line for the scale's label. */
const CHART_TOP_ROOM = 22;
/** Distinct hues, each dark enough to see on the chart's light ground, for the dates that sell;
 * the dates that have not sold share a grey line along the bottom. */
const SERIES_COLOURS = [
  "#3b5bdb", "#c92a2a", "#2b8a3e", "#e67700", "#862e9c", "#0b7285",
  "#5c940d", "#d6336c", "#1864ab", "#a61e4d", "#8f5a00", "#364fc7",
];
const UNSOLD_COLOUR = "#868e96";
const GRID_COLOUR = "#d8dce4";
const SVG = "http://www.w3.org/2000/svg";

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
  trend: loadTrend(),
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
  for (const id of ["gate", "onsale", "sales", "create"]) show(id, open);
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
  sessionStorage.removeItem(TREND_KEY);
  Object.assign(state, { adminKey: null, last: null, admissions: [], trend: newTrend() });
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
    const saleByConcert = await readSales(concerts);
    if (session !== state.session) return;
    recordSamples(queue, concerts, Date.now());
    state.last = { queue, stats, concerts, sales: saleByConcert };
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

/** The samples the admission rate and the sales trend are drawn from. */
function recordSamples(queue, concerts, now) {
  recordAdmissions(queue.admittedTotal, now);
  recordSales(concerts, now);
}

function drawAll() {
  const { queue, stats, concerts, sales: saleByConcert } = state.last;
  drawQueue(queue);
  drawSaleList(concerts, saleByConcert);
  drawSaleConcerts(concerts, saleByConcert);
  drawStats(stats);
  drawTrend(concerts);
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
  $("orders").textContent = formatCount(stats.ordersTotal);
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

// ----- Sales over time: samples kept in sessionStorage, drawn as one line per date -----

function newTrend() {
  return { since: null, series: {} };
}

/** The trend this tab kept, or a new one if there is none (or it cannot be read). */
function loadTrend() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(TREND_KEY));
    if (kept && typeof kept.since === "number" && kept.series && typeof kept.series === "object") return kept;
  } catch (error) {
    // Not ours, or cut short: start again.
  }
  return newTrend();
}

function saveTrend() {
  try {
    sessionStorage.setItem(TREND_KEY, JSON.stringify(state.trend));
  } catch (error) {
    // Storage full or refused: the trend lives on in this page until it is closed.
  }
}

const seriesKey = (concert, date) => `${concert.concertId} ${date.date}`;

/** Every other point but the first and the last: half the points over the same span of time. */
function thinned(points) {
  return points.filter((_, index) => index % 2 === 0 || index === points.length - 1);
}

/** Adds a point to a date's line when its count of seats sold has changed. */
function recordSales(concerts, now) {
  const trend = state.trend;
  if (trend.since === null) trend.since = now;
  let changed = false;
  for (const concert of concerts) {
    for (const date of concert.dates) {
      const key = seriesKey(concert, date);
      const points = trend.series[key] || (trend.series[key] = []);
      const last = points[points.length - 1];
      if (last && last[1] === date.seatsSold) continue;
      points.push([now, date.seatsSold]);
      if (points.length > TREND_POINTS_MAX) trend.series[key] = thinned(points);
      changed = true;
    }
  }
  if (changed) saveTrend();
}

/** The dates to draw, in the table's order: all of them, or the busiest when there are many. */
function shownSeries(concerts) {
  const all = concerts.flatMap((concert) => concert.dates.map((date) => ({
    concert, date, points: state.trend.series[seriesKey(concert, date)] || [],
  }))).filter((series) => series.points.length > 0);
  if (all.length <= TREND_SERIES_SHOWN_MAX) return all;
  const busiest = [...all].sort((a, b) => b.date.seatsSold - a.date.seatsSold).slice(0, TREND_SERIES_SHOWN_MAX);
  return all.filter((series) => busiest.includes(series));
}

function svgElement(name, attributes) {
  const element = document.createElementNS(SVG, name);
  for (const [attribute, value] of Object.entries(attributes)) element.setAttribute(attribute, value);
  return element;
}

/** Where a moment and a count of seats fall on a chart `width` wide, from `since` to `now`. */
function chartScale(width, since, now, top) {
  const span = Math.max(now - since, TREND_SPAN_MIN_MS);
  const plotWidth = width - 2 * CHART_PADDING;
  const plotHeight = CHART_HEIGHT - CHART_PADDING - CHART_TOP_ROOM;
  return {
    x: (at) => (CHART_PADDING + ((at - since) / span) * plotWidth).toFixed(1),
    y: (sold) => (CHART_HEIGHT - CHART_PADDING - (sold / top) * plotHeight).toFixed(1),
  };
}

/** One date's line: steps from each count of seats sold to the next, on to now. */
function seriesGroup(series, colour, scale, now) {
  const { concert, date, points } = series;
  const name = { title: concert.title, date: formatDate(date.date) };
  const group = svgElement("g", { "data-concert": concert.concertId, "data-date": date.date });
  const corners = [];
  points.forEach(([at, sold], index) => {
    if (index > 0) corners.push(`${scale.x(at)},${scale.y(points[index - 1][1])}`);
    corners.push(`${scale.x(at)},${scale.y(sold)}`);
  });
  corners.push(`${scale.x(now)},${scale.y(points[points.length - 1][1])}`);
  const line = svgElement("polyline", { points: corners.join(" "), fill: "none", stroke: colour, "stroke-width": 2 });
  group.append(line);
  for (const [at, sold] of points) {
    const dot = svgElement("circle", { cx: scale.x(at), cy: scale.y(sold), r: 3, fill: colour, "data-sold": sold });
    const tip = svgElement("title", {});
    tip.textContent = t("trendPoint", { ...name, sold: formatCount(sold), moment: formatMoment(at) });
    dot.append(tip);
    group.append(dot);
  }
  return group;
}

function legendItem(text, colour) {
  const item = document.createElement("li");
  item.style.setProperty("--swatch", colour);
  item.textContent = text;
  return item;
}

/** Each selling date by its colour, then how many have not sold yet (their line is grey). */
function drawLegend(shown, colours) {
  const selling = shown.filter((series) => series.date.seatsSold > 0);
  const items = selling.map((series) => legendItem(
    t("trendSeries", { title: series.concert.title, date: formatDate(series.date.date) }), colours.get(series),
  ));
  const unsold = shown.length - selling.length;
  if (unsold > 0) items.push(legendItem(t("trendUnsold", { count: formatCount(unsold) }), UNSOLD_COLOUR));
  $("trend-legend").replaceChildren(...items);
}

/** A colour for each date that has sold, in the table's order; grey for the rest. */
function seriesColours(shown) {
  const colours = new Map();
  let next = 0;
  for (const series of shown) {
    const selling = series.date.seatsSold > 0;
    colours.set(series, selling ? SERIES_COLOURS[next++ % SERIES_COLOURS.length] : UNSOLD_COLOUR);
  }
  return colours;
}

/** The zero line and the top of the scale, faint, behind the dates' lines. */
function gridLines(width, scale, top) {
  return [0, top].map((sold) => svgElement("line", {
    x1: CHART_PADDING, x2: width - CHART_PADDING, y1: scale.y(sold), y2: scale.y(sold), stroke: GRID_COLOUR,
  }));
}

function drawTrend(concerts) {
  const since = state.trend.since;
  if (since === null) return;
  const now = Date.now();
  const shown = shownSeries(concerts);
  const top = Math.max(1, ...shown.map((series) => series.date.seatsSold));
  const chart = $("trend-chart");
  // Drawn in the chart's own pixels, so dots stay round and lines as thin on a phone.
  const width = chart.clientWidth || 600;
  chart.setAttribute("viewBox", `0 0 ${width} ${CHART_HEIGHT}`);
  const scale = chartScale(width, since, now, top);
  const colours = seriesColours(shown);
  // The grey lines first, so a selling date's line is drawn over them.
  const lines = [...shown].sort((a, b) => Number(a.date.seatsSold > 0) - Number(b.date.seatsSold > 0))
    .map((series) => seriesGroup(series, colours.get(series), scale, now));
  $("trend-series").replaceChildren(...gridLines(width, scale, top), ...lines);
  drawLegend(shown, colours);
  $("trend-chart-title").textContent = t("trendChartTitle", { since: formatMoment(since), count: shown.length });
  $("trend-top").textContent = t("trendTop", { count: formatCount(top) });
  $("trend-since").textContent = formatMoment(since);
  const dateCount = concerts.reduce((sum, concert) => sum + concert.dates.length, 0);
  const note = dateCount > shown.length ? t("trendBusiest", { count: shown.length }) : t("trendCaption");
  $("trend").querySelector("figcaption").textContent = note;
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
window.addEventListener("resize", () => {
  if (state.last) drawTrend(state.last.concerts);
});
applyLanguage();
if (state.adminKey) opened();
