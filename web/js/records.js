// The record pages: deals and one deal's story, accounts and one account's profile.

import { eventsTable } from './analyses.js';
import {
  barChart, controls, dealFilter, el, filterFields, gql, href, money, moment, number, t, table,
  today,
} from './core.js';

const DEALS = `query Deals($filter: DealFilterInput, $asOf: DateTime, $clock: Clock) {
  opportunities(filter: $filter, order: LAST_ACTIVITY, descending: true, first: 100, asOf: $asOf, clock: $clock) {
    totalCount nodes { id title accountName owner stage amount { amount currency } expectedClose lastActivity outcome } } }`;

export async function deals(params) {
  const data = await gql(DEALS, { filter: dealFilter(params), ...moment(params) });
  const list = data.opportunities.nodes;
  return [
    el('h1', {}, t('deals')),
    controls('deals', params, filterFields({ window: false, currency: false })),
    el('p', { class: 'summary' }, `${number(data.opportunities.totalCount)} · ${list.length}`),
    table('deals', [
      { key: 'title', label: t('title_'), value: (d) => el('a', { href: href('story', { id: d.id }), 'data-deal': d.id }, d.title) },
      { key: 'accountName', label: t('accountName') },
      { key: 'owner', label: t('owner') },
      { key: 'stage', label: t('stage') },
      { key: 'amount', label: t('amount'), numeric: true, csv: (d) => d.amount.amount, value: (d) => money(d.amount) },
      { key: 'expectedClose', label: t('expectedClose') },
      { key: 'lastActivity', label: t('lastActivity') },
      { key: 'outcome', label: t('outcome') },
    ], list),
  ];
}

const STORY = `query Story($id: String!, $asOf: DateTime, $clock: Clock) {
  opportunity(id: $id, asOf: $asOf, clock: $clock) { title accountId accountName owner stage amount { amount currency } expectedClose outcome }
  dealStory(opportunityId: $id, asOf: $asOf, clock: $clock) {
    owner outcome statedReason signals contactRoles
    stages { stage from until followUps records }
    events { seq eventType actor occurredAt recordedAt hash payload } } }`;

/// A day number of the log (days since 1970-01-01) as YYYY-MM-DD.
function day(n) {
  return typeof n === 'number' ? new Date(n * 86400000).toISOString().slice(0, 10) : '';
}

/// An amount of the log ({ minor, currency }) in its major unit.
function amount(m) {
  if (!m || m.minor === undefined) return '';
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).resolvedOptions().maximumFractionDigits;
  return money({ amount: m.minor / 10 ** digits, currency: m.currency });
}

/// One line saying what an event did, from its payload (`{ Type: { fields } }`).
function describe(e) {
  const p = Object.values(e.payload ?? {})[0] ?? {};
  switch (e.eventType) {
    case 'OpportunityOpened': return `${p.stage ?? ''} · ${amount(p.amount)} · ${t('expectedClose')} ${day(p.expected_close)}`;
    case 'StageChanged': return `${p.from} → ${p.to}${p.gate_missing?.length ? ` (gate: ${p.gate_missing.join(', ')})` : ''}`;
    case 'ForecastRevised': return [amount(p.amount), p.expected_close ? `${t('expectedClose')} ${day(p.previous_close)} → ${day(p.expected_close)}` : ''].filter(Boolean).join(' · ');
    case 'FollowUpLogged': return [p.channel, p.summary, p.next_step].filter(Boolean).join(' · ');
    case 'ContactEngaged': return p.role ?? '';
    case 'CrossFunctionalRecordAdded': return [p.function, p.kind, p.assessment, p.summary].filter(Boolean).join(' · ');
    case 'BidSubmitted': return [amount(p.amount), (p.competitors ?? []).join(', ')].filter(Boolean).join(' · ');
    case 'OpportunityClosed': return [p.outcome, amount(p.final_amount), p.stated_reason].filter(Boolean).join(' · ');
    case 'OwnerReassigned': return [p.from, p.to].filter(Boolean).join(' → ');
    default: return '';
  }
}

export async function story(params) {
  const id = params.get('id');
  if (!id) return deals(params);
  const data = await gql(STORY, { id, ...moment(params) });
  const d = data.opportunity;
  const s = data.dealStory;
  if (!d || !s) return [el('h1', {}, t('story')), el('p', {}, t('none'))];
  const events = s.events.slice().sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.seq - b.seq);
  return [
    el('h1', {}, `${t('story')}: ${d.title}`),
    controls('story', params, [
      { key: 'asOf', label: t('asOf'), type: 'date' },
      { key: 'clock', label: t('clock'), options: [['', t('recorded')], ['OCCURRED', t('occurred')]] },
    ]),
    el('p', { class: 'summary' },
      el('a', { href: href('account', { id: d.accountId }) }, d.accountName),
      ` · ${t('owner')}: ${d.owner} · ${t('stage')}: ${d.stage} · ${money(d.amount)} · ${t('expectedClose')}: ${d.expectedClose ?? '–'}`,
      s.outcome ? ` · ${t('outcome')}: ${s.outcome}${s.statedReason ? ` (${s.statedReason})` : ''}` : ''),
    el('p', {}, `${t('contactRoles')}: ${s.contactRoles.join(', ') || '–'} · ${t('signals')}: ${s.signals.join(', ') || '–'}`),
    el('h2', {}, t('stays')),
    table('story-stages', [
      { key: 'stage', label: t('stage') },
      { key: 'from', label: t('from') },
      { key: 'until', label: t('to') },
      { key: 'followUps', label: t('followUps'), csv: (r) => r.followUps.join(' '), value: (r) => r.followUps.join(', ') },
      { key: 'records', label: t('records'), csv: (r) => r.records.join(' '), value: (r) => r.records.join(', ') },
    ], s.stages),
    el('h2', {}, t('timeline')),
    el('ol', { class: 'timeline', 'data-timeline': id }, events.map((e) =>
      el('li', { 'data-seq': e.seq },
        el('time', {}, e.occurredAt.slice(0, 16).replace('T', ' ')), ' ',
        el('strong', {}, e.eventType), ' ', describe(e), ' ',
        el('span', { class: 'muted' }, `${e.actor} · #${e.seq}`),
        el('details', {}, el('summary', {}, t('raw')),
          el('pre', {}, JSON.stringify({ seq: e.seq, hash: e.hash, recordedAt: e.recordedAt, payload: e.payload }, null, 2)))))),
    el('h2', {}, t('events')),
    eventsTable(`story-${id}`, s.events),
  ];
}

const ACCOUNTS = `query Accounts($name: String, $order: AccountOrder, $owner: String) {
  accounts(nameContains: $name, order: $order, owner: $owner, first: 100) {
    totalCount nodes { id name industry region employees owner } } }`;

export async function accounts(params) {
  const data = await gql(ACCOUNTS, {
    name: params.get('name') || null,
    order: params.get('order') || null,
    owner: params.get('owner') || null,
  });
  return [
    el('h1', {}, t('accounts')),
    controls('accounts', params, [
      { key: 'name', label: t('search') },
      { key: 'owner', label: t('owner') },
      { key: 'order', label: t('orderBy'), options: [['', t('byName')], ['DEALS', t('byDeals')], ['CONTACTS', t('byContacts')]] },
    ]),
    el('p', { class: 'summary' }, number(data.accounts.totalCount)),
    table('accounts', [
      { key: 'name', label: t('name'), value: (a) => el('a', { href: href('account', { id: a.id }), 'data-account': a.id }, a.name) },
      { key: 'industry', label: t('industry') },
      { key: 'region', label: t('region') },
      { key: 'employees', label: t('employees'), numeric: true },
      { key: 'owner', label: t('owner') },
    ], data.accounts.nodes),
  ];
}

const ACCOUNT = `query Account($id: String!, $asOf: DateTime, $clock: Clock, $from: DateTime!, $to: DateTime!,
  $trend: Boolean!, $trendClock: Clock) {
  account(id: $id, asOf: $asOf, clock: $clock) { name industry region employees owner
    orgUnits { id name }
    contacts { name role seniority left erased }
    businessFigures { period revenue { amount currency } headcount source }
    purchases { product quantity unit amount { amount currency } purchasedOn opportunityId }
    serviceInteractions { at kind satisfaction summary } }
  profile(accountId: $id, asOf: $asOf, clock: $clock) {
    health { number question answered evidence } signals { kind reason } topRep topRepFollowUpShare }
  dataHealthTrend(from: $from, to: $to, accountId: $id, clock: $trendClock) @include(if: $trend) { at questions { number answered } } }`;

export async function account(params, viewer) {
  const id = params.get('id');
  if (!id) return accounts(params);
  const { asOf, clock } = moment(params);
  const trend = ['ADMIN', 'MANAGER', 'ANALYST'].includes(viewer.role);
  const to = asOf ?? `${today(1)}T00:00:00Z`;
  const from = new Date(Date.parse(to) - 365 * 86400000).toISOString();
  // The trend shows when the records' facts occurred unless the URL asks for the recorded
  // clock: a history imported in one day would otherwise show one step.
  const trendClock = clock ?? 'OCCURRED';
  const data = await gql(ACCOUNT, { id, asOf, clock, from, to, trend, trendClock });
  const a = data.account;
  const p = data.profile;
  if (!a) return [el('h1', {}, t('account')), el('p', {}, t('none'))];
  const yes = (b) => (b ? `✔ ${t('yes')}` : `✘ ${t('no')}`);
  const out = [
    el('h1', {}, a.name),
    controls('account', params, [
      { key: 'asOf', label: t('asOf'), type: 'date' },
      { key: 'clock', label: t('clock'), options: [['', t('recorded')], ['OCCURRED', t('occurred')]] },
    ]),
    el('h2', {}, t('basics')),
    el('p', { class: 'summary' },
      `${t('industry')}: ${a.industry ?? '–'} · ${t('region')}: ${a.region ?? '–'} · ${t('employees')}: ${number(a.employees)} · ${t('owner')}: ${a.owner ?? '–'}`,
      p?.topRep ? ` · ${t('topRep')}: ${p.topRep}` : ''),
    el('h2', {}, t('health')),
    table(`health-${id}`, [
      { key: 'number', label: '#', numeric: true },
      { key: 'question', label: t('question') },
      { key: 'answered', label: t('answered'), value: (h) => yes(h.answered) },
      { key: 'evidence', label: t('evidence') },
    ], p?.health ?? []),
  ];
  if (data.dataHealthTrend) {
    const points = data.dataHealthTrend;
    const answered = points.map((pt) => pt.questions.filter((q) => Number(q.answered) > 0).length);
    out.push(el('h2', {}, `${t('healthTrend')} (${t(trendClock === 'OCCURRED' ? 'occurred' : 'recorded')})`),
      barChart('health-trend', points.map((pt) => pt.at.slice(0, 7)), [{ label: t('answeredOf'), data: answered, text: answered.map((n) => `${n}/8`) }]),
      table(`health-trend-${id}`, [
        { key: 'at', label: t('month'), csv: (pt) => pt.at.slice(0, 7) },
        ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => ({
          key: `q${n}`, label: `#${n}`,
          csv: (pt) => (pt.questions.find((q) => q.number === n)?.answered ?? 0) > 0,
          value: (pt) => ((pt.questions.find((q) => q.number === n)?.answered ?? '0') !== '0' ? '✔' : '·'),
        })),
      ], points));
  }
  out.push(
    el('h2', {}, t('signals')),
    table(`signals-${id}`, [{ key: 'kind', label: t('kind') }, { key: 'reason', label: t('evidence') }], p?.signals ?? []),
    el('h2', {}, t('figures')),
    table(`figures-${id}`, [
      { key: 'period', label: t('period') },
      { key: 'revenue', label: t('revenue'), numeric: true, csv: (f) => f.revenue?.amount, value: (f) => money(f.revenue) },
      { key: 'headcount', label: t('headcount'), numeric: true },
      { key: 'source', label: t('source') },
    ], a.businessFigures),
    el('h2', {}, t('purchases')),
    table(`purchases-${id}`, [
      { key: 'purchasedOn', label: t('purchasedOn') },
      { key: 'product', label: t('product') },
      { key: 'quantity', label: t('quantity'), numeric: true },
      { key: 'unit', label: t('unit') },
      { key: 'amount', label: t('amount'), numeric: true, csv: (x) => x.amount.amount, value: (x) => money(x.amount) },
      { key: 'opportunityId', label: t('story'), csv: (x) => x.opportunityId, value: (x) => (x.opportunityId ? el('a', { href: href('story', { id: x.opportunityId }) }, t('openStory')) : '') },
    ], a.purchases),
    el('h2', {}, t('service')),
    table(`service-${id}`, [
      { key: 'at', label: t('occurredAt') },
      { key: 'kind', label: t('kind') },
      { key: 'satisfaction', label: t('satisfaction'), numeric: true },
      { key: 'summary', label: t('summary') },
    ], a.serviceInteractions),
    el('h2', {}, t('contacts')),
    table(`contacts-${id}`, [
      { key: 'name', label: t('name') },
      { key: 'role', label: t('role') },
      { key: 'seniority', label: t('seniority') },
      { key: 'left', label: t('left'), value: (c) => (c.left ? t('yes') : '') },
    ], a.contacts),
  );
  return out;
}
