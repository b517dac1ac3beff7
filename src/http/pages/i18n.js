// The pages' languages: Korean and English, chosen from the browser's languages unless the fan
// chose one with the switch (kept in this browser). Every string the pages show comes from here;
// static text is marked `data-i18n` (its text) or `data-i18n-label` (its aria-label).
"use strict";

const LANGUAGES = ["ko", "en"];

const STRINGS = {
  en: {
    pageTitle: "Concert tickets",
    switchLanguage: "한국어",
    switchLanguageLabel: "한국어 화면으로 보기",
    whoAreYou: "Who are you?",
    yourName: "Your name",
    continue: "Continue",
    waitingRoom: "Waiting room",
    soldInOrder: "Tickets are sold to fans in the order they join the line.",
    joinQueue: "Join the queue",
    notYou: "Not you?",
    checkingBrowser: "Checking your browser before you join…",
    browserCheck: "Browser check",
    yourPosition: "Your position",
    estimatedWait: "Estimated wait",
    keepOpen: "Keep this page open: your place is kept while it is.",
    yourTurn: "It is your turn.",
    sessionEndsIn: "Your session ends in",
    leaveQueue: "Leave the queue",
    leaveWithHold: "Leaving ends your session and gives seat {seat} back. Leave anyway?",
    wallet: "Wallet",
    balance: "Balance:",
    topUp: "Top up (won)",
    charge: "Charge",
    chooseSeat: "Choose your seat",
    concerts: "Concerts",
    dates: "Dates",
    seats: "Seats",
    available: "Available",
    held: "Held",
    sold: "Sold",
    yourHold: "Your hold",
    heldFor: "Held for you for",
    payNow: "Pay now",
    topUpShort: "Top up {amount}",
    giveBack: "Give the seat back",
    yourTicket: "Your ticket",
    buyAnother: "Buy another ticket",
    myTickets: "My tickets",
    keptHere: "Kept in this browser. Each code shows its ticket to whoever holds it: show the QR code at the door, and share it with no one else.",
    expired: "Your place in the queue has expired. You can join again.",
    sessionEnded: "Your session has ended. You can join the queue again.",
    left: "You left the queue.",
    charged: "Charged {amount}.",
    noConcert: "No concert is on sale yet.",
    soldOut: "Every date is sold out.",
    seatsLeft: "{date} · {count} left",
    seatSummary: "{date}: {available} of {total} seats available",
    seatLabel: "Row {row}, seat {seat}, {status}, {price}",
    statusAVAILABLE: "available",
    statusHELD: "held",
    statusSOLD: "sold",
    statusMINE: "held by you",
    holdWhat: "{title}, {date}, seat {seat}",
    holdLapsed: "Your hold has lapsed: the seat is free for others again.",
    oneHoldLapsed: "Your hold on seat {seat} ({date}) has lapsed; your other seats are still held.",
    gaveBack: "You gave seat {seat} back.",
    yourHolds: "Your seats ({count})",
    holdsWhat: "{titles}: {count} seats",
    payForSeats: "Pay for {count} seats",
    giveAllBack: "Give the seats back",
    giveBackOne: "Give back seat {seat}",
    holdLine: "{date}, seat {seat}, {price}",
    holdMore: "You may add seats, up to {max}, and pay for them together.",
    holdFull: "{max} seats is the most one payment takes.",
    paid: "Payment complete. Enjoy the show!",
    ticketLabel: "Ticket: {title}, {date}, seat {seat}",
    ticketDate: "Date",
    ticketSeat: "Seat",
    ticketPrice: "Price",
    ticketPaid: "Paid",
    ticketCode: "Code",
    balanceLeft: "Balance left",
    ticketUnread: "Ticket {code}: {reason} It will show on your next visit.",
    qrLabel: "QR code of the ticket",
    seconds: "{seconds} s",
    unreachable: "The server cannot be reached. Check your connection and try again.",
    ahead: "Ahead of you",
    toTheFront: "Your way to the front of the line",
    positionIs: "{position}",
    peopleAhead: "{people}",
    movedUp: "{moved} places closer since you joined ({percent}%)",
    movedUpOne: "1 place closer since you joined ({percent}%)",
    waitUnderMinute: "under a minute",
    waitMinutes: "about {minutes} min",
    waitHours: "about {hours} h {minutes} min",
    lengthSeconds: "{seconds} seconds",
    lengthMinute: "1 minute",
    lengthMinutes: "{minutes} minutes",
    updatedJustNow: "updated just now",
    updatedAgo: "updated {seconds} s ago",
    onceAdmitted: "When it is your turn, you have {session} to choose your seat and pay; the seat you choose is kept for you for {hold}.",
    sections: "Sections",
    seatMap: "Seat map",
    stage: "Stage",
    rowLabel: "Row {row}",
    sectionName: "Section {name}",
    sectionSeats: "seats {first}–{last}",
    sectionLeft: "{left} left",
    onePrice: "Every seat {price}",
    priceRange: "{lowest} to {highest}",
  },
  ko: {
    pageTitle: "콘서트 예매",
    switchLanguage: "English",
    switchLanguageLabel: "View in English",
    whoAreYou: "예매하실 분의 이름을 알려 주세요",
    yourName: "이름",
    continue: "계속",
    waitingRoom: "대기실",
    soldInOrder: "대기열에 들어온 순서대로 예매할 수 있습니다.",
    joinQueue: "대기열 들어가기",
    notYou: "본인이 아니신가요?",
    checkingBrowser: "입장 전에 브라우저를 확인하고 있습니다…",
    browserCheck: "브라우저 확인",
    yourPosition: "내 대기 순서",
    estimatedWait: "예상 대기 시간",
    keepOpen: "이 페이지를 열어 두세요. 열려 있는 동안 순서가 유지됩니다.",
    yourTurn: "입장 차례입니다.",
    sessionEndsIn: "남은 예매 시간",
    leaveQueue: "대기열 나가기",
    leaveWithHold: "나가면 예매 시간이 끝나고 선점한 {seat}번 좌석이 반납됩니다. 그래도 나가시겠습니까?",
    wallet: "지갑",
    balance: "잔액:",
    topUp: "충전 금액 (원)",
    charge: "충전",
    chooseSeat: "좌석 선택",
    concerts: "공연",
    dates: "날짜",
    seats: "좌석",
    available: "선택 가능",
    held: "선점됨",
    sold: "판매 완료",
    yourHold: "선택한 좌석",
    heldFor: "남은 선점 시간",
    payNow: "결제하기",
    topUpShort: "{amount} 충전하기",
    giveBack: "좌석 반납",
    yourTicket: "예매한 티켓",
    buyAnother: "다른 티켓 예매",
    myTickets: "내 티켓",
    keptHere: "이 브라우저에 보관됩니다. 코드를 가진 사람은 누구나 티켓을 볼 수 있으니 입장할 때 QR 코드를 보여 주시고 다른 사람과 공유하지 마세요.",
    expired: "대기열 순서가 만료되었습니다. 다시 들어갈 수 있습니다.",
    sessionEnded: "예매 시간이 끝났습니다. 대기열에 다시 들어갈 수 있습니다.",
    left: "대기열에서 나왔습니다.",
    charged: "{amount}을 충전했습니다.",
    noConcert: "아직 판매 중인 공연이 없습니다.",
    soldOut: "모든 날짜가 매진되었습니다.",
    seatsLeft: "{date} · {count}석 남음",
    seatSummary: "{date}: 전체 {total}석 중 {available}석 선택 가능",
    seatLabel: "{row}열 좌석 {seat}, {status}, {price}",
    statusAVAILABLE: "선택 가능",
    statusHELD: "선점됨",
    statusSOLD: "판매 완료",
    statusMINE: "내가 선점함",
    holdWhat: "{title}, {date}, {seat}번 좌석",
    holdLapsed: "선점 시간이 지나 좌석이 다른 분께 다시 열렸습니다.",
    oneHoldLapsed: "{date} {seat}번 좌석의 선점 시간이 지났습니다. 나머지 좌석은 그대로 선점되어 있습니다.",
    gaveBack: "{seat}번 좌석을 반납했습니다.",
    yourHolds: "선택한 좌석 ({count}석)",
    holdsWhat: "{titles}: {count}석",
    payForSeats: "{count}석 결제하기",
    giveAllBack: "좌석 모두 반납",
    giveBackOne: "{seat}번 좌석 반납",
    holdLine: "{date} {seat}번 좌석, {price}",
    holdMore: "최대 {max}석까지 더 선택해 한 번에 결제할 수 있습니다.",
    holdFull: "한 번에 최대 {max}석까지 결제할 수 있습니다.",
    paid: "결제가 완료되었습니다. 즐거운 공연 되세요!",
    ticketLabel: "티켓: {title}, {date}, {seat}번 좌석",
    ticketDate: "날짜",
    ticketSeat: "좌석",
    ticketPrice: "가격",
    ticketPaid: "결제",
    ticketCode: "코드",
    balanceLeft: "남은 잔액",
    ticketUnread: "티켓 {code}: {reason} 다음 방문 때 보여 드립니다.",
    qrLabel: "티켓 QR 코드",
    seconds: "{seconds}초",
    unreachable: "서버에 연결할 수 없습니다. 인터넷 연결을 확인한 뒤 다시 시도해 주세요.",
    ahead: "내 앞 대기 인원",
    toTheFront: "대기열 맨 앞까지 진행률",
    positionIs: "{position}번째",
    peopleAhead: "{people}명",
    movedUp: "들어온 뒤 {moved}명 앞으로 이동 ({percent}%)",
    movedUpOne: "들어온 뒤 1명 앞으로 이동 ({percent}%)",
    waitUnderMinute: "1분 미만",
    waitMinutes: "약 {minutes}분",
    waitHours: "약 {hours}시간 {minutes}분",
    lengthSeconds: "{seconds}초",
    lengthMinute: "1분",
    lengthMinutes: "{minutes}분",
    updatedJustNow: "방금 업데이트됨",
    updatedAgo: "{seconds}초 전 업데이트됨",
    onceAdmitted: "차례가 되면 {session} 동안 좌석을 고르고 결제할 수 있으며, 고른 좌석은 {hold} 동안 회원님을 위해 잡아 둡니다.",
    sections: "구역",
    seatMap: "좌석 배치도",
    stage: "무대",
    rowLabel: "{row}열",
    sectionName: "{name}구역",
    sectionSeats: "{first}–{last}번",
    sectionLeft: "{left}석 남음",
    onePrice: "전석 {price}",
    priceRange: "{lowest} ~ {highest}",
  },
};

/** Adds a page's own strings (the operator page's, say) to the common ones, by language. */
function addStrings(table) {
  for (const code of LANGUAGES) Object.assign(STRINGS[code], table[code]);
}

/** The language kept by the switch, else the first of the browser's we speak, else English. */
function chosenLanguage() {
  const kept = localStorage.getItem("language");
  if (LANGUAGES.includes(kept)) return kept;
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const primary = tag.toLowerCase().split("-")[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return "en";
}

let language = chosenLanguage();

/** The string `key` in the page's language, with `{name}` filled from `values`. */
function t(key, values = {}) {
  const text = STRINGS[language][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** Puts the page's static text in its language, and `lang` on the document. */
function applyLanguage() {
  document.documentElement.lang = language;
  document.title = t("pageTitle");
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  // The switch names the other language in that language.
  for (const element of document.querySelectorAll("[data-i18n-other]")) element.lang = language === "ko" ? "en" : "ko";
  for (const element of document.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
}

/** Switches to the other language and keeps the choice; `redraw` redraws what code drew. */
function switchLanguage(redraw) {
  language = language === "ko" ? "en" : "ko";
  localStorage.setItem("language", language);
  applyLanguage();
  if (redraw) redraw();
}

const wonDigits = () => new Intl.NumberFormat(language === "ko" ? "ko-KR" : "en-GB", { maximumFractionDigits: 0 });

/** Money as each language writes it: 99,000원 or ₩99,000. */
function formatWon(amount) {
  const digits = wonDigits().format(amount);
  return language === "ko" ? `${digits}원` : `₩${digits}`;
}

/** A concert date (YYYY-MM-DD) as each language writes it: 2026년 12월 12일 (토) or Sat 12 Dec 2026. */
function formatDate(isoDate) {
  const day = new Date(`${isoDate}T00:00:00Z`);
  if (language === "ko") {
    const weekday = new Intl.DateTimeFormat("ko-KR", { weekday: "short", timeZone: "UTC" }).format(day);
    const [year, month, date] = isoDate.split("-").map(Number);
    return `${year}년 ${month}월 ${date}일 (${weekday})`;
  }
  const options = { year: "numeric", month: "short", day: "numeric", weekday: "short", timeZone: "UTC" };
  // en-GB puts a comma after the weekday ("Sat, 12 Dec 2026").
  return new Intl.DateTimeFormat("en-GB", options).format(day).replace(",", "");
}

/** A moment as each language writes it, in the browser's time zone. */
function formatMoment(instant) {
  const locale = language === "ko" ? "ko-KR" : "en-GB";
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" }).format(new Date(instant));
}
