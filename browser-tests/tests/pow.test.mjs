// The fan page with proof of work on: the browser solves the server's challenge in a worker,
// shows that it is checking, and joins the queue; the server takes no token without a solution.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, englishPage, launch, screenshot, startDemo } from "./support.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser.close();
});

/** Enough work that the check shows for a moment, little enough for a slow machine. */
const DIFFICULTY = "150000";

test("with proof of work on, the page checks the browser, then the fan joins", async () => {
  const demo = await startDemo(["--pow-difficulty", DIFFICULTY]);
  try {
    const page = await englishPage(browser);
    const problems = [];
    page.on("console", (message) => {
      if (message.type() === "error" && !message.text().includes("404")) problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(error.message));
    const solutions = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().endsWith("/api/v1/queue/tokens")) {
        solutions.push(request.headers()["x-altcha"]);
      }
    });

    // The solver's file is held back a moment, so the check stays on screen long enough to see
    // however quickly this machine finds the number.
    let released;
    const held = new Promise((resolve) => { released = resolve; });
    await page.route("**/assets/pow.js", async (route) => {
      await held;
      await route.continue();
    });

    await page.goto(`${demo.base}/`);
    await page.getByLabel("Your name").fill("Ada");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("button", { name: "Join the queue" }).click();
    await page.getByText("Checking your browser").waitFor({ timeout: 10_000 });
    assert.equal(await page.getByRole("button", { name: "Join the queue" }).isDisabled(), true);
    await screenshot(page, "pow", "1-checking");
    released();
    await page.locator("#queue-active").waitFor({ timeout: 60_000 });
    assert.equal(await page.locator("#checking").isHidden(), true, "the check is put away");
    await screenshot(page, "pow", "2-joined");

    assert.equal(solutions.length, 1, "one token request");
    const solution = JSON.parse(Buffer.from(solutions[0], "base64").toString());
    assert.equal(solution.algorithm, "SHA-256");
    assert.ok(Number.isInteger(solution.number) && solution.number <= Number(DIFFICULTY), `${solution.number}`);
    assert.deepEqual(problems, [], "no script error and no refused worker");

    // The server checks, too: the same solution again, or none, takes no token.
    const user = await call(demo.base, "POST", "/api/v1/users", { body: { name: "Bot" } });
    for (const headers of [{}, { "X-Altcha": solutions[0] }]) {
      const response = await fetch(`${demo.base}/api/v1/queue/tokens`, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify({ userId: user.body.userId }),
      });
      assert.equal(response.status, 403);
      assert.equal((await response.json()).code, "CHALLENGE_REQUIRED");
    }
  } finally {
    await demo.stop();
  }
});

test("a solution the server refuses (its challenge is from before a restart) is solved afresh once", async () => {
  const demo = await startDemo(["--pow-difficulty", "20000"]);
  try {
    const page = await englishPage(browser);
    let challenges = 0;
    page.on("request", (request) => {
      if (request.url().endsWith("/api/v1/queue/challenge")) challenges += 1;
    });
    // The first token request is answered as a restarted server would: its key signed nothing.
    let refused = false;
    await page.route("**/api/v1/queue/tokens", async (route) => {
      if (refused) return route.continue();
      refused = true;
      return route.fulfill({
        status: 403,
        contentType: "application/problem+json",
        body: JSON.stringify({ status: 403, code: "CHALLENGE_REQUIRED", title: "A valid, unused proof of work is required" }),
      });
    });
    await page.goto(`${demo.base}/`);
    await page.getByLabel("Your name").fill("Grace");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("button", { name: "Join the queue" }).click();
    await page.locator("#queue-active").waitFor({ timeout: 60_000 });
    assert.equal(challenges, 2, "a fresh challenge after the refusal");
    assert.equal(await page.locator("#error").isHidden(), true);
  } finally {
    await demo.stop();
  }
});
