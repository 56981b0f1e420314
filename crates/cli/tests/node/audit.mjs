// Runs graphql-http's server audits (the GraphQL-over-HTTP spec's reference audits)
// against URL with the bearer TOKEN; prints each error and warning, exits 1 if any.
import { auditServer } from 'graphql-http';

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};
const results = await auditServer({ url, fetchFn });
let errors = 0;
let warnings = 0;
for (const r of results) {
  if (r.status === 'error') errors++;
  if (r.status === 'warn') warnings++;
  if (r.status !== 'ok') console.log(`${r.status} ${r.id} ${r.name}: ${r.reason}`);
}
console.log(`audits: ${results.length}, errors: ${errors}, warnings: ${warnings}`);
process.exit(errors + warnings === 0 ? 0 : 1);
