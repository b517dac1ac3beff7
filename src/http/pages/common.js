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
async function api(method, path, { token, adminKey, body } = {}) {
  const headers = {};
  if (token) headers["Authorization"] = `Bearer ${token}`;
  if (adminKey) headers["X-Admin-Key"] = adminKey;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new ApiError(0, { title: "The server cannot be reached.", code: "NETWORK" });
  }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, json || {});
  return json;
}

const won = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
function formatWon(amount) {
  return `₩${won.format(amount)}`;
}

function $(id) {
  return document.getElementById(id);
}

/** Shows an error's title in the page's alert area (an empty message hides it). */
function showError(message) {
  const area = $("error");
  area.textContent = message || "";
  area.hidden = !message;
}

/** Runs an action from a button, showing the API's title if it fails; the button waits meanwhile. */
async function attempt(button, action) {
  showError("");
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    showError(error.message);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}
