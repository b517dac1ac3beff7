// What both pages share: calling the API and showing its problem+json titles.
"use strict";

/** An error the API answered, carrying its problem+json body. */
class ApiError extends Error {
  constructor(status, problem) {
    super(problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "";
    this.problem = problem;
  }
}

/** Calls the API; resolves to the JSON body (or null), rejects with an ApiError. */
async function api(method, path, { token, adminKey, body, headers: extra } = {}) {
  const headers = { ...extra };
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (adminKey) headers["X-Admin-Key"] = adminKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, { title: t("unreachable"), code: "NETWORK" });
  }
  learnServerTime(response);
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (error) {
    // Not the server's JSON (a proxy's error page, say): report the status alone.
  }
  if (!response.ok) throw new ApiError(response.status, json || {});
  return json;
}

/** How far the server's clock is ahead of this browser's, from each answer's Date header, so
 * countdowns to the server's deadlines end when the server says, whatever this clock says. */
let serverAheadMs = 0;

function learnServerTime(response) {
  const date = Date.parse(response.headers.get("Date") || "");
  // The header has whole seconds: only a difference of more than a second is worth using.
  if (!Number.isNaN(date) && Math.abs(date - Date.now()) > 1500) serverAheadMs = date - Date.now();
  else if (!Number.isNaN(date)) serverAheadMs = 0;
}

/** Now, by the server's clock. */
function serverNow() {
  return Date.now() + serverAheadMs;
}

function $(id) {
  return document.getElementById(id);
}

function show(id, visible) {
  $(id).hidden = !visible;
}

/** Shows a message in the page's notice area (an empty message hides it). */
function notice(message) {
  $("notice").textContent = message || "";
  show("notice", Boolean(message));
}

/** Shows an error's title in the page's alert area (an empty message hides it). */
function showError(message) {
  const area = $("error");
  area.textContent = message || "";
  area.hidden = !message;
}

/** A refusal as the page tells it: its title, and its detail where that says more (a short
 * balance says by how much). */
function problemText(error) {
  const detail = error.problem && error.problem.detail;
  const saysMore = detail && !detail.startsWith(error.message);
  return saysMore ? `${error.message}: ${detail}` : error.message;
}

/** Runs an action from a button, showing the API's title if it fails; the button waits meanwhile. */
async function attempt(button, action) {
  showError("");
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(problemText(error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Every concert's own sale, by concert id (no token needed): a concert without one answers 404
 * SALE_NOT_FOUND and is left out. */
async function readSales(concerts) {
  const read = await Promise.all(concerts.map(async (concert) => {
    const sale = await api("GET", `/api/v1/concerts/${concert.concertId}/sale`).catch((error) => {
      if (error.code === "SALE_NOT_FOUND") return null;
      throw error;
    });
    return sale && [concert.concertId, sale];
  }));
  return new Map(read.filter(Boolean));
}

/** A countdown as a clock: 1:02:03, 2:03 or 0:05. */
function clockText(milliseconds) {
  const seconds = Math.max(0, Math.ceil(milliseconds / 1000));
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = String(seconds % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

/** Solves an ALTCHA challenge (the JSON of GET /api/v1/queue/challenge) in a worker, telling
 * `onProgress` the share of the numbers tried so far; resolves to the X-Altcha header's value. */
function solveChallenge(challenge, onProgress) {
  const unsolved = (title) => new ApiError(0, { title, code: "CHECK_FAILED" });
  // WebCrypto exists only on https (or localhost): say so rather than fail obscurely.
  if (!window.isSecureContext || !window.crypto || !crypto.subtle || !window.Worker) {
    return Promise.reject(unsolved("This browser cannot run the check: open the page over https."));
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker("/assets/pow.js");
    worker.onmessage = (event) => {
      const message = event.data;
      if (message.type === "progress") {
        onProgress(message.tried / (challenge.maxnumber + 1));
        return;
      }
      worker.terminate();
      if (message.number === null) {
        reject(unsolved("The browser check did not succeed. Try again."));
        return;
      }
      const { algorithm, salt, signature } = challenge;
      const solution = { algorithm, challenge: challenge.challenge, number: message.number, salt, signature, took: message.took };
      resolve(btoa(JSON.stringify(solution)));
    };
    worker.onerror = () => {
      worker.terminate();
      reject(unsolved("This browser cannot run the check."));
    };
    worker.postMessage({ challenge: challenge.challenge, salt: challenge.salt, maxnumber: challenge.maxnumber });
  });
}
