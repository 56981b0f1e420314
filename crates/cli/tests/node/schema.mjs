// Loads the schema from URL the way schema tools do (graphql-js's standard introspection
// query, then buildClientSchema) and compares it with the SDL file: no breaking or
// dangerous change either way, and the same SDL once both are printed sorted.
import { readFileSync } from 'node:fs';
import {
  buildClientSchema, buildSchema, findBreakingChanges, findDangerousChanges,
  getIntrospectionQuery, lexicographicSortSchema, printSchema,
} from 'graphql';

const [url, token, sdlPath] = process.argv.slice(2);
const res = await fetch(url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    accept: 'application/graphql-response+json',
    authorization: `Bearer ${token}`,
  },
  body: JSON.stringify({
    query: getIntrospectionQuery({ oneOf: true }),
    operationName: 'IntrospectionQuery',
  }),
});
const body = await res.json();
if (res.status !== 200 || body.errors) {
  console.log(`introspection failed: ${res.status} ${JSON.stringify(body.errors)}`);
  process.exit(1);
}
const served = buildClientSchema(body.data);
const checkedIn = buildSchema(readFileSync(sdlPath, 'utf8'));
// The directives the spec defines (@deprecated, @include, ...) come with each GraphQL
// implementation, not with this schema: graphql-js's own may differ in a location.
const specified = /^(deprecated|include|skip|specifiedBy|oneOf)\b/;
const changes = [
  ...findBreakingChanges(checkedIn, served),
  ...findDangerousChanges(checkedIn, served),
  ...findBreakingChanges(served, checkedIn),
  ...findDangerousChanges(served, checkedIn),
].filter((c) => !(c.type.startsWith('DIRECTIVE_') && specified.test(c.description.replace(/^.* from /, ''))));
for (const c of changes) console.log(`change ${c.type}: ${c.description}`);
const print = (s) => printSchema(lexicographicSortSchema(s));
const same = print(served) === print(checkedIn);
if (!same) {
  const a = print(served).split('\n');
  const b = print(checkedIn).split('\n');
  const at = a.findIndex((line, i) => line !== b[i]);
  console.log(`the printed schemas differ from line ${at + 1}:`);
  console.log(`  served:     ${a.slice(at, at + 3).join(' / ')}`);
  console.log(`  checked in: ${b.slice(at, at + 3).join(' / ')}`);
}
console.log(`types: ${Object.keys(served.getTypeMap()).length}, changes: ${changes.length}`);
process.exit(changes.length === 0 && same ? 0 : 1);
