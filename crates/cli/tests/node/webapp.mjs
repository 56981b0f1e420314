// Drives the analyst web app at ORIGIN/ in headless Chromium with every request outside
// ORIGIN refused: signs in with TOKEN, opens each page, and prints what the Rust test
// compares with the API (`name: json` lines). Screenshots go to SHOTS (a folder).
// Usage: node webapp.mjs ORIGIN TOKEN SHOTS FROM TO OWNER
import { chromium } from 'playwright-core';

const [origin, token, shots, from, to, owner] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
const outside = [];
const problems = [];
const say = (name, value) => console.log(`${name}: ${JSON.stringify(value)}`);
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  // The refused token's 401 is expected; any other error the console shows is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('status of 401')) problems.push(`console: ${m.text()}`);
  });
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || ['data:', 'blob:'].includes(url.protocol)) return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  const ready = (name) => page.waitForFunction((n) => document.body.dataset.ready === n, name, { timeout: 60000 });
  const open = async (hash, name) => {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await ready(name);
    const error = await page.$$eval('[data-error]', (e) => e.map((x) => x.textContent));
    if (error.length) problems.push(`${hash}: ${error.join(' ')}`);
  };
  const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

  // Sign in.
  await page.goto(`${origin}/`);
  await ready('signin');
  // What a first visit transfers: the page and every file of the app, compressed.
  say('transfer', await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const files = performance.getEntriesByType('resource').filter((r) => new URL(r.name).pathname.startsWith('/app/'));
    return { files: files.length, bytes: nav.transferSize + files.reduce((s, r) => s + r.transferSize, 0) };
  }));
  await shot('signin');
  await page.fill('#token', 'dt_not_a_token');
  await page.click('form[data-signin] button');
  await page.waitForFunction(() => document.querySelector('form[data-signin] .error')?.textContent.length > 0);
  say('bad-token', await page.textContent('form[data-signin] .error'));
  await page.fill('#token', token);
  await page.click('form[data-signin] button');
  await ready('funnel');
  say('viewer', await page.getAttribute('[data-viewer]', 'data-viewer'));

  // The funnel for a window and an owner: the chart's own figures.
  const window = new URLSearchParams({ from, to, owner });
  await open(`#/funnel?${window}`, 'funnel');
  const chart = await page.evaluate(() => {
    const c = window.Chart.getChart(document.querySelector('canvas[data-chart="funnel"]'));
    return { labels: c.data.labels, reached: c.data.datasets[0].data };
  });
  say('funnel-chart', chart);
  say('funnel-table', await page.$$eval('[data-table="funnel-stages"] tbody tr', (rows) => rows.map((r) => r.children[3].textContent)));
  await shot('funnel');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-table="funnel-stages"] button.csv'),
  ]);
  const csv = await (await download.createReadStream()).toArray();
  say('funnel-csv', Buffer.concat(csv).toString('utf8').split('\r\n')[1]);

  // The flow: it balances, and a bucket drills down to deals with their events.
  await open(`#/flow?${new URLSearchParams({ from, to })}`, 'flow');
  say('flow-balanced', await page.getAttribute('[data-balanced]', 'data-balanced'));
  const buckets = await page.$$eval('[data-table="flow-buckets"] tbody tr', (rows) =>
    rows.map((r) => ({ bucket: r.querySelector('[data-bucket]').dataset.bucket, deals: Number(r.children[1].textContent.replace(/\D/g, '')) })));
  say('flow-buckets', buckets);
  await shot('flow');
  // The busiest bucket, so that its deals fill more than one page.
  const busy = buckets.reduce((a, b) => (b.deals > a.deals ? b : a));
  await page.click(`[data-bucket="${busy.bucket}"]`);
  await ready('flow');
  await page.waitForSelector('.moves > details');
  const first = page.locator('.moves > details').first();
  await first.locator(':scope > summary').click();
  say('flow-drill', {
    bucket: busy.bucket,
    deals: await page.locator('.moves > details').count(),
    total: Number(await page.getAttribute('[data-total]', 'data-total')),
    deal: await first.getAttribute('data-deal'),
    events: await first.locator(':scope > .table tbody tr').count(),
    hash: (await first.locator('tbody tr td code').first().getAttribute('title')) ?? '',
  });
  await shot('flow-drill-down');
  if (await page.locator('[data-page="next"]').count()) {
    await page.click('[data-page="next"]');
    await ready('flow');
    await page.waitForSelector('[data-page="first"]');
    say('flow-next', await page.locator('.moves > details').first().getAttribute('data-deal'));
  }

  // Why deals were lost.
  await open(`#/lost?${new URLSearchParams({ from, to })}`, 'lost');
  say('lost-charts', await page.$$eval('canvas[data-chart]', (c) => c.map((x) => x.dataset.chart)));
  await shot('why-lost');

  // A deal's story, from the deal list.
  await open('#/deals', 'deals');
  const story = await page.getAttribute('a[data-deal]', 'data-deal');
  await page.click('a[data-deal]');
  await ready('story');
  say('story', { deal: story, timeline: await page.locator('.timeline li').count() });
  await page.locator('.timeline li details summary').first().click();
  say('story-raw', (await page.locator('.timeline li details pre').first().textContent()).includes('"hash"'));
  await shot('story');

  // Accounts in Chinese: names sort in pinyin order; one account's profile.
  await open(`#/accounts?${new URLSearchParams({ lang: 'zh-CN', name: '科技' })}`, 'accounts');
  say('accounts-title', await page.textContent('h1'));
  await page.click('[data-table="accounts"] th:first-child');
  const names = await page.$$eval('[data-table="accounts"] tbody tr td:first-child', (c) => c.map((x) => x.textContent));
  say('accounts-names', names);
  await shot('accounts-zh-CN');
  await page.click('a[data-account]');
  await ready('account');
  say('account-health', await page.locator('[data-table^="health-"]:not([data-table^="health-trend"]) tbody tr').count());
  say('account-trend', await page.locator('canvas[data-chart="health-trend"]').count());
  await shot('account-zh-CN');

} catch (e) {
  if (page) await page.screenshot({ path: `${shots}/failure.png`, fullPage: true }).catch(() => {});
  throw e;
} finally {
  await browser.close();
}
for (const p of problems) console.log(`problem: ${p}`);
for (const url of outside) console.log(`outside: ${url}`);
process.exit(outside.length === 0 && problems.length === 0 ? 0 : 1);
