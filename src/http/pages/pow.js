// The proof of work asked before a queue token, solved in a Web Worker so the page stays
// responsive: SHA-256 (WebCrypto) of the salt followed by 0, 1, 2, … until one is the challenge.
// Messages in: {challenge, salt, maxnumber}. Out: {type: "progress", tried} now and then, then
// {type: "done", number, took} (number null when none up to maxnumber matched).
"use strict";

/** Digests asked for at once: WebCrypto answers each one asynchronously, and waiting for them
 * one by one would spend more time waiting than hashing. */
const BATCH = 500;
/** How often progress is told, in milliseconds. */
const PROGRESS_EVERY_MS = 100;

self.onmessage = async (event) => {
  const { challenge, salt, maxnumber } = event.data;
  self.postMessage(await solve(challenge, salt, maxnumber));
};

async function solve(challenge, salt, maxnumber) {
  const target = bytesOf(challenge);
  const encoder = new TextEncoder();
  const started = performance.now();
  let told = started;
  for (let start = 0; start <= maxnumber; start += BATCH) {
    const end = Math.min(start + BATCH, maxnumber + 1);
    const pending = [];
    for (let number = start; number < end; number += 1) {
      pending.push(crypto.subtle.digest("SHA-256", encoder.encode(salt + number)));
    }
    const found = (await Promise.all(pending)).findIndex((digest) => same(new Uint8Array(digest), target));
    if (found >= 0) return { type: "done", number: start + found, took: Math.round(performance.now() - started) };
    if (performance.now() - told >= PROGRESS_EVERY_MS) {
      told = performance.now();
      self.postMessage({ type: "progress", tried: end });
    }
  }
  return { type: "done", number: null };
}

function bytesOf(hex) {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

function same(digest, target) {
  if (digest.length !== target.length) return false;
  for (let i = 0; i < digest.length; i += 1) {
    if (digest[i] !== target[i]) return false;
  }
  return true;
}
