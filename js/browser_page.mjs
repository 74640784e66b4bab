#!/usr/bin/env node
// node browser_page.mjs URL OUT.json [TIMEOUT_MS]
// Opens URL in headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM) through
// playwright-core, with a fresh profile and no network beyond what the page loads,
// waits until the page sets window.__result (or window.__error), and writes
// {"result": ..., "console": [...]} (or {"error": ...}) to OUT.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const [url, outFile, timeoutArg] = process.argv.slice(2);
if (!url || !outFile) {
  console.error('usage: node browser_page.mjs URL OUT.json [TIMEOUT_MS]');
  process.exit(2);
}
const timeout = Number(timeoutArg || 90000);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-codec-chromium-'));
const logs = [];
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForFunction(() => window.__result !== undefined || window.__error !== undefined, null, {timeout});
  const [result, error] = await page.evaluate(() => [window.__result, window.__error]);
  fs.writeFileSync(outFile, JSON.stringify(error !== undefined ? {error, console: logs} : {result, console: logs}));
} catch (e) {
  fs.writeFileSync(outFile, JSON.stringify({error: String(e && e.stack ? e.stack : e), console: logs}));
} finally {
  if (context) await context.close();
  fs.rmSync(profile, {recursive: true, force: true});
}
