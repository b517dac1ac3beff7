// The operator's on-sales: each concert's own sale watched live (its countdown, the pre-queue
// filling, the draw with its commitment and seed, the line and the admissions), and the form that
// schedules a sale or changes its limits while it runs. The rest of the console is admin.js's.
"use strict";

addStrings({
  en: {
    onSales: "On-sales",
    noSale: "No concert has a sale of its own yet: schedule one below.",
    saleState: "State",
    stateSCHEDULED: "Scheduled",
    statePREQUEUE: "Pre-queue open",
    stateOPEN: "Open",
    salePrequeueOpens: "Pre-queue opens",
    saleOpens: "Tickets open",
    saleIn: "in {clock}",
    figurePrequeued: "In the pre-queue",
    figureSaleWaiting: "Waiting",
    figureSaleActive: "Active",
    figureSaleAdmitted: "Admitted",
    figureOutflow: "Admissions per minute at most",
    noRate: "no limit",
    activeOf: "{active} of {max}",
    drawCommitment: "Draw commitment",
    drawSeed: "Draw seed",
    seedAfterDraw: "published at the opening",
    commitmentAtPrequeue: "published when the pre-queue opens",
    drawRecord: "The draw's record",
    scheduleSale: "Schedule a sale, or change its limits",
    saleConcert: "Concert",
    prequeueOpensLabel: "Pre-queue opens",
    opensLabel: "Tickets open",
    saleActiveMaxLabel: "Active at most",
    saleRateLabel: "Admissions per minute (empty: no limit)",
    refundPolicy: "Refund policy",
    refundStep: "Up to {days} days before the date: a fee of {percent}%",
    refundDaysLabel: "Days before the date",
    refundFeeLabel: "Fee (%)",
    refundHow: "Leave a step empty to drop it; past the last step, and with no step, a ticket cannot be refunded.",
    timesFixed: "The pre-queue has opened: the times are fixed, the limits can change.",
    saveSale: "Save the sale",
    saleSaved: "The sale of “{title}” is saved: it opens {moment}.",
  },
  ko: {
    onSales: "공연별 예매 오픈",
    noSale: "아직 자체 예매 오픈 일정이 있는 공연이 없습니다. 아래에서 등록하세요.",
    saleState: "상태",
    stateSCHEDULED: "오픈 예정",
    statePREQUEUE: "사전 대기열 진행 중",
    stateOPEN: "예매 진행 중",
    salePrequeueOpens: "사전 대기열 오픈",
    saleOpens: "예매 오픈",
    saleIn: "{clock} 남음",
    figurePrequeued: "사전 대기",
    figureSaleWaiting: "대기 인원",
    figureSaleActive: "입장 중",
    figureSaleAdmitted: "누적 입장",
    figureOutflow: "분당 최대 입장",
    noRate: "제한 없음",
    activeOf: "{active} / {max}",
    drawCommitment: "추첨 약속값",
    drawSeed: "추첨 시드",
    seedAfterDraw: "오픈 시각에 공개",
    commitmentAtPrequeue: "사전 대기열 오픈 시 공개",
    drawRecord: "추첨 기록",
    scheduleSale: "예매 오픈 등록 및 한도 변경",
    saleConcert: "공연",
    prequeueOpensLabel: "사전 대기열 오픈",
    opensLabel: "예매 오픈",
    saleActiveMaxLabel: "동시 입장 최대 인원",
    saleRateLabel: "분당 입장 인원 (비우면 제한 없음)",
    refundPolicy: "환불 규정",
    refundStep: "공연일 {days}일 전까지: 수수료 {percent}%",
    refundDaysLabel: "공연일 며칠 전까지",
    refundFeeLabel: "수수료 (%)",
    refundHow: "비워 둔 단계는 적용하지 않습니다. 마지막 단계가 지나면, 또는 단계가 없으면 환불할 수 없습니다.",
    timesFixed: "사전 대기열이 열렸으므로 시각은 바꿀 수 없고 한도만 바꿀 수 있습니다.",
    saveSale: "예매 오픈 저장",
    saleSaved: "‘{title}’ 예매 오픈을 저장했습니다. 오픈: {moment}",
  },
});

/** How many steps a refund policy has on the form. */
const REFUND_STEPS = 3;
const DEFAULT_REFUND_POLICY = [{ untilDaysBefore: 7, feePercent: 0 }, { untilDaysBefore: 1, feePercent: 20 }];

const sales = {
  /** The sale the form was filled from, to send its own times back unless they were changed. */
  loaded: null,
  /** The concert the form shows; kept across refreshes of the list of concerts. */
  chosen: "",
};

// ---- watching the sales ----

function drawSaleList(concerts, saleByConcert) {
  const cards = concerts.filter((concert) => saleByConcert.has(concert.concertId))
    .map((concert) => saleCard(concert, saleByConcert.get(concert.concertId)));
  const list = $("sale-list");
  if (cards.length === 0) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = t("noSale");
    cards.push(none);
  }
  list.replaceChildren(...cards);
  tickSaleClocks();
}

function saleCard(concert, sale) {
  const card = document.createElement("article");
  card.className = "sale";
  card.dataset.concert = concert.concertId;
  card.dataset.state = sale.state;
  const heading = document.createElement("h3");
  heading.textContent = concert.title;
  const badge = document.createElement("span");
  badge.className = `badge ${sale.state}`;
  badge.textContent = t(`state${sale.state}`);
  heading.append(" ", badge);
  card.append(heading, saleTimes(sale), saleFigures(sale), ...drawRecord(concert, sale));
  return card;
}

/** The two moments of a sale, the next one counting down. */
function saleTimes(sale) {
  const times = document.createElement("dl");
  times.className = "sale-times";
  const next = { SCHEDULED: "prequeueOpensAt", PREQUEUE: "opensAt" }[sale.state];
  for (const [name, field] of [["salePrequeueOpens", "prequeueOpensAt"], ["saleOpens", "opensAt"]]) {
    const term = document.createElement("dt");
    term.textContent = t(name);
    const value = document.createElement("dd");
    value.textContent = formatMoment(sale[field]);
    if (field === next) {
      const clock = document.createElement("b");
      clock.className = "sale-clock";
      clock.dataset.until = sale[field];
      value.append(" · ", clock);
    }
    times.append(term, value);
  }
  return times;
}

function saleFigures(sale) {
  const figures = document.createElement("div");
  figures.className = "figures";
  const rate = sale.admissionsPerMinute === null ? t("noRate") : formatCount(sale.admissionsPerMinute);
  const shown = [
    ["figurePrequeued", formatCount(sale.prequeued), "prequeued"],
    ["figureSaleWaiting", formatCount(sale.waiting), "waiting"],
    ["figureSaleActive", t("activeOf", { active: formatCount(sale.active), max: formatCount(sale.activeMax) }), "active"],
    ["figureSaleAdmitted", formatCount(sale.admittedTotal), "admitted"],
    ["figureOutflow", rate, "rate"],
  ];
  for (const [label, value, name] of shown) {
    const figure = document.createElement("div");
    figure.className = "figure";
    const caption = document.createElement("span");
    caption.textContent = t(label);
    const number = document.createElement("b");
    number.dataset.figure = name;
    number.textContent = value;
    figure.append(caption, number);
    figures.append(figure);
  }
  return figures;
}

/** The commitment and the seed (each said as not yet published until it is), and the draw's
 * public record once drawn. */
function drawRecord(concert, sale) {
  const line = (name, hex, pending) => {
    const paragraph = document.createElement("p");
    paragraph.className = "draw-record";
    const code = document.createElement("code");
    code.dataset.record = name;
    code.textContent = hex || t(pending);
    paragraph.append(`${t(name)}: `, code);
    return paragraph;
  };
  const lines = [
    line("drawCommitment", sale.drawCommitment, "commitmentAtPrequeue"),
    line("drawSeed", sale.drawSeed, "seedAfterDraw"),
  ];
  if (sale.drawSeed) {
    const link = document.createElement("a");
    link.href = `/api/v1/concerts/${concert.concertId}/sale/draw`;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = t("drawRecord");
    const paragraph = document.createElement("p");
    paragraph.append(link);
    lines.push(paragraph);
  }
  return lines;
}

function tickSaleClocks() {
  for (const clock of document.querySelectorAll(".sale-clock[data-until]")) {
    clock.textContent = t("saleIn", { clock: clockText(Date.parse(clock.dataset.until) - serverNow()) });
  }
}

// ---- the form ----

/** The concerts to choose from, keeping the one chosen; a new choice fills the form. */
function drawSaleConcerts(concerts, saleByConcert) {
  const select = $("sale-concert");
  const options = concerts.map((concert) => {
    const option = document.createElement("option");
    option.value = concert.concertId;
    option.textContent = concert.title;
    return option;
  });
  const unchanged = select.options.length === options.length
    && options.every((option, index) => select.options[index].value === option.value && select.options[index].textContent === option.textContent);
  if (!unchanged) {
    select.replaceChildren(...options);
    if (sales.chosen && concerts.some((concert) => concert.concertId === sales.chosen)) select.value = sales.chosen;
  }
  if (select.value && select.value !== sales.chosen) fillSaleForm(saleByConcert.get(select.value) || null);
  sales.chosen = select.value;
  const loaded = saleByConcert.get(select.value);
  // The times may not move once the pre-queue has opened; the limits always may.
  const fixed = Boolean(loaded && loaded.state !== "SCHEDULED");
  for (const id of ["prequeue-opens", "opens"]) $(id).disabled = fixed;
  show("times-fixed", fixed);
}

function chooseSaleConcert() {
  const saleByConcert = state.last ? state.last.sales : new Map();
  sales.chosen = $("sale-concert").value;
  fillSaleForm(saleByConcert.get(sales.chosen) || null);
  drawSaleConcerts(state.last ? state.last.concerts : [], saleByConcert);
}

/** The form filled from a concert's sale, or with a sale a few minutes from now. */
function fillSaleForm(sale) {
  sales.loaded = sale;
  const soon = Date.now() + 60_000;
  $("prequeue-opens").value = localInput(sale ? sale.prequeueOpensAt : new Date(soon).toISOString());
  $("opens").value = localInput(sale ? sale.opensAt : new Date(soon + 5 * 60_000).toISOString());
  $("sale-active-max").value = String(sale ? sale.activeMax : 100);
  $("sale-rate").value = sale && sale.admissionsPerMinute !== null ? String(sale.admissionsPerMinute) : "";
  const policy = sale ? sale.refundPolicy : DEFAULT_REFUND_POLICY;
  for (let step = 0; step < REFUND_STEPS; step += 1) {
    $(`refund-days-${step}`).value = policy[step] ? String(policy[step].untilDaysBefore) : "";
    $(`refund-fee-${step}`).value = policy[step] ? String(policy[step].feePercent) : "";
  }
}

/** An instant as a datetime-local input shows it: the browser's local time, to the second. */
function localInput(iso) {
  const instant = new Date(iso);
  return new Date(instant.getTime() - instant.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
}

/** A form's time as the API takes it: the sale's own instant when the field still shows it (a
 * time the form cannot show to the millisecond must not look moved). */
function instantOf(id, loadedIso) {
  const value = $(id).value;
  if (loadedIso && value === localInput(loadedIso)) return loadedIso;
  return new Date(value).toISOString();
}

function refundSteps() {
  const steps = [];
  for (let step = 0; step < REFUND_STEPS; step += 1) {
    const days = $(`refund-days-${step}`).value;
    const fee = $(`refund-fee-${step}`).value;
    if (days !== "" && fee !== "") steps.push({ untilDaysBefore: Number(days), feePercent: Number(fee) });
  }
  return steps;
}

async function saveSale(event) {
  event.preventDefault();
  const concertId = $("sale-concert").value;
  const loaded = sales.loaded;
  const rate = $("sale-rate").value;
  const body = {
    prequeueOpensAt: instantOf("prequeue-opens", loaded && loaded.prequeueOpensAt),
    opensAt: instantOf("opens", loaded && loaded.opensAt),
    activeMax: Number($("sale-active-max").value),
    admissionsPerMinute: rate === "" ? null : Number(rate),
    refundPolicy: refundSteps(),
  };
  await attempt($("sale-button"), async () => {
    const sale = await admin("PUT", `/api/v1/admin/concerts/${concertId}/sale`, body);
    sales.loaded = sale;
    const concert = (state.last ? state.last.concerts : []).find((known) => known.concertId === concertId);
    notice(t("saleSaved", { title: concert ? concert.title : "", moment: formatMoment(sale.opensAt) }));
    refresh();
  });
}

/** The refund policy's steps on the form, each a pair of labelled numbers. */
function refundStepFields() {
  const rows = [];
  for (let step = 0; step < REFUND_STEPS; step += 1) {
    const row = document.createElement("div");
    row.className = "row refund-step";
    const field = (id, labelKey, attributes) => {
      const wrap = document.createElement("div");
      const label = document.createElement("label");
      label.htmlFor = id;
      label.dataset.i18n = labelKey;
      label.textContent = t(labelKey);
      const input = document.createElement("input");
      Object.assign(input, { id, type: "number", step: 1 }, attributes);
      wrap.append(label, input);
      return wrap;
    };
    row.append(
      field(`refund-days-${step}`, "refundDaysLabel", { min: 0, max: 1000 }),
      field(`refund-fee-${step}`, "refundFeeLabel", { min: 0, max: 100 }),
    );
    rows.push(row);
  }
  $("refund-steps").replaceChildren(...rows);
}

refundStepFields();
$("sale-form").addEventListener("submit", saveSale);
$("sale-concert").addEventListener("change", chooseSaleConcert);
setInterval(tickSaleClocks, 250);
