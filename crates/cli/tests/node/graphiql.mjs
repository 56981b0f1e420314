// Opens GraphiQL at ORIGIN/graphql in headless Chromium with every request outside ORIGIN
// refused, types the token into the headers pane, runs QUERY and prints the result pane.
import { chromium } from 'playwright-core';

const [origin, token, query, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  ],
});
const outside = [];
let page;
try {
  page = await browser.newPage();
  await page.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:') return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  await page.goto(`${origin}/graphql?query=${encodeURIComponent(query)}`);
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 30000 });
  const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror');
  // The pane shows a template with <token>; replace all of it.
  await headers.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.result-window');
  await result.filter({ hasText: '"data"' }).waitFor({ timeout: 30000 });
  if (screenshot) await page.screenshot({ path: screenshot });
  console.log(`result: ${(await result.innerText()).replace(/\s+/g, ' ')}`);
} catch (e) {
  if (screenshot && page) await page.screenshot({ path: screenshot });
  throw e;
} finally {
  await browser.close();
}
for (const url of outside) console.log(`outside: ${url}`);
process.exit(outside.length === 0 ? 0 : 1);
