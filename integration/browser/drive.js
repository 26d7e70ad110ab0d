// Opens one page in headless Chromium and relays what the page reports:
// every window.report(value) call becomes one JSON line on stdout. Exits 0 once
// the page sets window.finished, 1 on any error or after the timeout.
// Usage: node drive.js <page-url> <timeout-ms>
'use strict';
const { chromium } = require('playwright-core');

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync',
];

async function main() {
  const [pageUrl, timeoutMs] = process.argv.slice(2);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    timeout: Number(timeoutMs),
  });
  try {
    const page = await browser.newPage();
    page.on('console', (message) => console.error(`console: ${message.text()}`));
    page.on('pageerror', (error) => console.error(`pageerror: ${error}`));
    await page.exposeFunction('report', (value) => console.log(JSON.stringify(value)));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.finished === true, null,
                               { timeout: Number(timeoutMs), polling: 50 });
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
