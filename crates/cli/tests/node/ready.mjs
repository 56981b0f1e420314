// The analyst web app's page-ready figures (docs/performance.md): signs in at ORIGIN with
// TOKEN, prints what a first visit transfers, then loads each page afresh ROUNDS times and
// prints `window.dealtrail.readyAt` (ms from the start of the navigation until the page's
// data is fetched and drawn) per page, one JSON line per round.
// Usage: node ready.mjs ORIGIN TOKEN FROM TO [ROUNDS]
import { chromium } from 'playwright-core';

const [origin, token, from, to, rounds = '3'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const ready = (name) => page.waitForFunction((n) => document.body.dataset.ready === n, name, { timeout: 60000 });
  const open = async (hash, name) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await ready(name);
  };
  await page.goto(`${origin}/`);
  await ready('signin');
  console.log(`transfer: ${JSON.stringify(await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const files = performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.startsWith('/app/'));
    return { files: files.length, bytes: nav.transferSize + files.reduce((s, r) => s + r.transferSize, 0) };
  }))}`);
  await page.fill('#token', token);
  await page.click('form[data-signin] button');
  await ready('funnel');
  await open('#/deals', 'deals');
  const deal = await page.getAttribute('a[data-deal]', 'data-deal');
  await open('#/accounts', 'accounts');
  const account = await page.getAttribute('a[data-account]', 'data-account');
  // The drill-down goes into the last quarter's busiest bucket.
  await open('#/flow', 'flow');
  const busiest = await page.$$eval('[data-table="flow-buckets"] tbody tr', (rows) => rows
    .map((r) => ({ bucket: r.querySelector('[data-bucket]').dataset.bucket, deals: Number(r.children[1].textContent.replace(/\D/g, '')) }))
    .reduce((a, b) => (b.deals > a.deals ? b : a)));
  console.log(`busiest: ${JSON.stringify(busiest)}`);
  const window = new URLSearchParams({ from, to });
  // [label, the page's ready name, its address]
  const pages = [
    ['funnel', 'funnel', `#/funnel?${window}`], ['flow', 'flow', '#/flow'],
    ['flow-drill-down', 'flow', `#/flow?bucket=${busiest.bucket}`],
    ['lost', 'lost', `#/lost?${window}`], ['deals', 'deals', '#/deals'],
    ['story', 'story', `#/story?id=${deal}`], ['accounts', 'accounts', '#/accounts'],
    ['account', 'account', `#/account?id=${account}`],
  ];
  for (let round = 0; round < Number(rounds); round++) {
    const times = {};
    for (const [label, name, hash] of pages) {
      // A new document each time (the token stays in the session).
      await page.goto(`${origin}/?round=${round}&page=${label}${hash}`);
      await ready(name);
      times[label] = Math.round(await page.evaluate(() => window.dealtrail.readyAt));
    }
    console.log(`ready: ${JSON.stringify(times)}`);
  }
} finally {
  await browser.close();
}
