// What every browser test shares: a demo server of its own on a free port, headless Chromium,
// a fan made through the API, and screenshots under target/.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const DEMO = process.env.DEMO_BIN || join(ROOT, "target/debug/demo");
const SCREENSHOTS = join(ROOT, "target/browser-screenshots");
export const ADMIN_KEY = "browser-test-key";
/** How long the demo may take to start, and to stop once told. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

/** Starts the demo on a free port with its own data dir; `flags` pass through to the server. */
export async function startDemo(flags = []) {
  const dataDir = mkdtempSync(join(tmpdir(), "concert-demo-"));
  const args = ["--addr", "127.0.0.1:0", "--data-dir", dataDir, "--admin-key", ADMIN_KEY, ...flags];
  const child = spawn(DEMO, args, { stdio: ["ignore", "pipe", "inherit"] });
  const base = await new Promise((found, failed) => {
    let seen = "";
    setTimeout(() => failed(new Error(`the demo did not start in time: ${seen}`)), START_TIMEOUT_MS).unref();
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const line = seen.match(/listening on (http:\/\/\S+)/);
      // The catalog is seeded once the welcome is printed in full.
      if (line && seen.includes("data dir")) found(line[1]);
    });
    child.on("exit", (code) => failed(new Error(`the demo exited (${code}): ${seen}`)));
  });
  return {
    base,
    async stop() {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      const late = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(late);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A page in English (amounts read "200,000") unless a test asks for another language. */
export function englishPage(browser) {
  return browser.newPage({ locale: "en-US" });
}

/** The screens the pages are tried on: a laptop's and a phone's (an iPhone 14's CSS pixels). */
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** A page in `locale` (en-US or ko-KR) on `screen`. */
export function pageFor(browser, { locale = "en-US", screen = DESKTOP } = {}) {
  return browser.newPage({ locale, viewport: screen });
}

/** How far the page scrolls sideways: 0 when everything fits the screen's width. */
export function sidewaysScroll(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * The accessibility rules axe-core finds broken on the page as it is now (WCAG 2.1 A and AA), as
 * "rule: the first element" lines; empty when there are none. Evaluated through the browser's
 * devtools, so the page's own Content-Security-Policy stays as it is.
 */
export async function accessibilityViolations(page) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: tags } });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes[0]?.target.join(" ")})`);
  });
  return violations;
}

/** Headless Debian Chromium, never a downloaded browser. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Saves a screenshot as target/browser-screenshots/<test>-<step>.png. */
export async function screenshot(page, test, step) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${test}-${step}.png`), fullPage: true });
}

/** Calls the API as a test client; resolves to { status, body }. */
export async function call(base, method, path, { token, admin, body } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (admin) headers["X-Admin-Key"] = ADMIN_KEY;
  const response = await fetch(base + path, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A fan registered and holding a queue token, made through the API. */
export async function apiFan(base, name) {
  const user = await call(base, "POST", "/api/v1/users", { body: { name } });
  const issued = await call(base, "POST", "/api/v1/queue/tokens", { body: { userId: user.body.userId } });
  return { userId: user.body.userId, token: issued.body.token, status: issued.body.status };
}

/** The first seeded concert and its first date. */
export async function firstDate(base) {
  const concerts = await call(base, "GET", "/api/v1/concerts");
  const concert = concerts.body[0];
  const dates = await call(base, "GET", `/api/v1/concerts/${concert.concertId}/dates`);
  return { concert, date: dates.body[0].date };
}

/** On the fan page: sign in as `name` and join the queue. */
export async function signInAndJoin(page, base, name) {
  await page.goto(`${base}/`);
  // By id: the page may be in either language.
  await page.locator("#name").fill(name);
  await page.locator("#signin-button").click();
  await page.locator("#join").click();
}

/** On the fan page, once ACTIVE: open the first concert's first date. */
export async function openFirstDate(page, base) {
  const { concert, date } = await firstDate(base);
  await page.getByRole("button", { name: concert.title }).click();
  await page.locator(`#dates button[data-date="${date}"]`).click();
  await page.locator("#seats button").first().waitFor();
  return { concert, date };
}

/** The seat's button on the fan page. */
export function seat(page, number) {
  return page.locator(`#seats button[data-seat="${number}"]`);
}

/** Waits until the element matching `selector` shows `text`. */
export async function waitForText(page, selector, text, timeout = 10_000) {
  await page.waitForFunction(
    ([selector, text]) => document.querySelector(selector)?.textContent.includes(text),
    [selector, text],
    { timeout },
  );
}

/** Waits until the seat's button on the page has `status` (AVAILABLE, HELD, SOLD or MINE). */
export async function waitForSeat(page, number, status, timeout = 10_000) {
  await page.waitForFunction(
    ([number, status]) => document.querySelector(`#seats button[data-seat="${number}"]`)?.dataset.status === status,
    [number, status],
    { timeout },
  );
}

/** A concert date (YYYY-MM-DD) as the English page writes it: Sat 12 Dec 2026. */
export function englishDate(isoDate) {
  const options = { year: "numeric", month: "short", day: "numeric", weekday: "short", timeZone: "UTC" };
  return new Intl.DateTimeFormat("en-GB", options).format(new Date(`${isoDate}T00:00:00Z`)).replace(",", "");
}
