// The analysis pages: the funnel, the pipeline flow between two dates, why deals were lost.

import {
  barChart, controls, dealFilter, el, filterFields, gql, href, money, moment, number, percent,
  t, table, today,
} from './core.js';

/// The window the URL asks for, else the last `days` days.
function window_(params, days) {
  const from = params.get('from') || today(-days);
  const to = params.get('to') || today(1);
  return { from, to };
}

/// The URL's parameters with the window filled in, so that the controls show it.
function shown(params, window) {
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(window)) if (!p.get(k)) p.set(k, v);
  return p;
}

function conversionNote(f) {
  const notes = [];
  if (Number(f.otherCurrencyDeals) > 0) notes.push(el('p', { class: 'note' }, t('otherCurrency', { n: f.otherCurrencyDeals })));
  if (f.ratesUsed?.length) {
    notes.push(el('p', { class: 'note', 'data-rates': '' }, `${t('ratesUsed')}: `,
      f.ratesUsed.map((r) => `${r.inverse ? `${t('inverse')} ` : ''}${r.currency} ${r.rate} (${r.date})`).join('; ')));
  }
  return notes;
}

const FUNNEL = `query Funnel($from: DateTime!, $to: DateTime!, $filter: DealFilterInput, $asOf: DateTime,
  $clock: Clock, $currency: String) {
  funnel(from: $from, to: $to, filter: $filter, asOf: $asOf, clock: $clock, currency: $currency) {
    stages { stage entered entries reached reachedAmount { amount currency } nextConversion
      cumulativeConversion medianDaysInStage p90DaysInStage regressionsFrom skipsFrom }
    transitions { from to count }
    openDeals winRate medianCycleDays
    cohort { opened reached { stage share } wonShare closedOtherShare openShare }
    otherCurrencyDeals ratesUsed { currency rate inverse date } } }`;

/// The variables of the funnel query the URL asks for (the browser test asks the API the same).
export function funnelVariables(params) {
  const { from, to } = window_(params, 365);
  return {
    from, to, filter: dealFilter(params), ...moment(params), currency: params.get('currency') || null,
  };
}

export async function funnel(params) {
  const data = await gql(FUNNEL, funnelVariables(params));
  const f = data.funnel;
  const stages = f.stages;
  const first = Number(stages[0]?.reached ?? 0);
  const stageTable = table('funnel-stages', [
    { key: 'stage', label: t('stage') },
    { key: 'entered', label: t('entered'), numeric: true },
    { key: 'entries', label: t('entries'), numeric: true },
    { key: 'reached', label: t('reached'), numeric: true },
    { key: 'reachedAmount', label: t('reachedAmount'), numeric: true, csv: (r) => r.reachedAmount.amount, value: (r) => money(r.reachedAmount) },
    { key: 'nextConversion', label: t('nextConversion'), numeric: true, value: (r) => percent(r.nextConversion) },
    { key: 'cumulativeConversion', label: t('cumulativeConversion'), numeric: true, value: (r) => percent(r.cumulativeConversion) },
    { key: 'medianDaysInStage', label: t('medianDays'), numeric: true, value: (r) => number(r.medianDaysInStage, 1) },
    { key: 'p90DaysInStage', label: t('p90Days'), numeric: true, value: (r) => number(r.p90DaysInStage, 1) },
    { key: 'regressionsFrom', label: t('regressions'), numeric: true },
    { key: 'skipsFrom', label: t('skips'), numeric: true },
  ], stages);
  const cohortShare = new Map(f.cohort.reached.map((c) => [c.stage, c.share]));
  const cohortRows = stages.map((s) => ({
    stage: s.stage,
    snapshot: first ? Number(s.reached) / first : null,
    cohort: cohortShare.get(s.stage) ?? null,
  }));
  return [
    el('h1', {}, t('funnel')),
    controls('funnel', shown(params, window_(params, 365)), filterFields()),
    el('p', { class: 'summary' },
      `${t('openDeals')}: ${number(f.openDeals)} · ${t('winRate')}: ${percent(f.winRate)} · ${t('medianCycle')}: ${number(f.medianCycleDays, 1)}`),
    ...conversionNote(f),
    barChart('funnel', stages.map((s) => s.stage), [{
      label: t('reached'),
      data: stages.map((s) => Number(s.reached)),
      text: stages.map((s) => `${number(s.reached)} · ${money(s.reachedAmount)}`),
    }]),
    stageTable,
    el('h2', {}, t('transitions')),
    table('funnel-transitions', [
      { key: 'from', label: t('fromStage') },
      { key: 'to', label: t('toStage') },
      { key: 'count', label: t('count'), numeric: true },
    ], f.transitions),
    el('h2', {}, t('cohortVsSnapshot')),
    el('p', {}, t('cohortOpened', {
      n: number(f.cohort.opened), won: percent(f.cohort.wonShare),
      other: percent(f.cohort.closedOtherShare), open: percent(f.cohort.openShare),
    })),
    barChart('funnel-cohort', cohortRows.map((r) => r.stage), [
      { label: t('snapshotShare'), data: cohortRows.map((r) => r.snapshot ?? 0), text: cohortRows.map((r) => percent(r.snapshot)) },
      { label: t('cohortShare'), data: cohortRows.map((r) => r.cohort ?? 0), text: cohortRows.map((r) => percent(r.cohort)) },
    ]),
    table('funnel-cohort', [
      { key: 'stage', label: t('stage') },
      { key: 'snapshot', label: t('snapshotShare'), numeric: true, value: (r) => percent(r.snapshot) },
      { key: 'cohort', label: t('cohortShare'), numeric: true, value: (r) => percent(r.cohort) },
    ], cohortRows),
  ];
}

/// The last complete calendar quarter: [first day, first day of the next].
function lastQuarter() {
  const now = new Date();
  const q = Math.floor(now.getUTCMonth() / 3);
  const start = new Date(Date.UTC(now.getUTCFullYear(), (q - 1) * 3, 1));
  const end = new Date(Date.UTC(now.getUTCFullYear(), q * 3, 1));
  return [start.toISOString().slice(0, 10), end.toISOString().slice(0, 10)];
}

const FLOW = `query Flow($from: DateTime!, $to: DateTime!, $clock: Clock, $filter: DealFilterInput,
  $bucket: String, $currency: String, $moves: Boolean!, $first: Int, $after: String) {
  pipelineFlow(from: $from, to: $to, clock: $clock, filter: $filter, bucket: $bucket, currency: $currency) {
    start { at deals amount { amount currency } } end { at deals amount { amount currency } }
    buckets { bucket deals change { amount currency }
      moves(first: $first, after: $after) @include(if: $moves) { totalCount
        pageInfo { hasNextPage endCursor } nodes { opportunityId title accountId owner
        startAmount { amount currency } endAmount { amount currency } change { amount currency }
        events { seq eventType actor occurredAt recordedAt hash payload } } } }
    otherCurrencyDeals ratesUsed { currency rate inverse date } } }`;

const MOVES_PAGE = 25;

export function flowVariables(params) {
  const [qFrom, qTo] = lastQuarter();
  const bucket = params.get('bucket');
  return {
    from: params.get('from') || qFrom,
    to: params.get('to') || qTo,
    clock: params.get('clock') || null,
    filter: dealFilter(params),
    currency: params.get('currency') || null,
    bucket: bucket || null,
    moves: Boolean(bucket),
    // A page of a bucket reads the events of the deals it shows, so it stays small.
    first: MOVES_PAGE,
    after: (bucket && params.get('after')) || null,
  };
}

function eventsTable(name, events) {
  return table(name, [
    { key: 'seq', label: t('seq'), numeric: true },
    { key: 'eventType', label: t('type') },
    { key: 'actor', label: t('actor') },
    { key: 'occurredAt', label: t('occurredAt') },
    { key: 'recordedAt', label: t('recordedAt') },
    { key: 'hash', label: t('hash'), value: (e) => el('code', { title: e.hash }, e.hash.slice(0, 16)) },
    {
      key: 'payload', label: t('raw'), csv: (e) => JSON.stringify(e.payload),
      value: (e) => el('details', {}, el('summary', {}, t('raw')), el('pre', {}, JSON.stringify(e.payload, null, 2))),
    },
  ], events);
}

export async function flow(params) {
  const vars = flowVariables(params);
  const data = await gql(FLOW, vars);
  const f = data.pipelineFlow;
  const cents = (m) => Math.round(Number(m.amount) * 100);
  const total = cents(f.start.amount) + f.buckets.reduce((s, b) => s + cents(b.change), 0);
  const balanced = total === cents(f.end.amount);
  // A waterfall: each bucket floats from the running total before it to the one after.
  let running = Number(f.start.amount.amount);
  const bars = [[0, running]];
  for (const b of f.buckets) {
    const next = running + Number(b.change.amount);
    bars.push([running, next]);
    running = next;
  }
  bars.push([0, Number(f.end.amount.amount)]);
  const labels = [t('start'), ...f.buckets.map((b) => t(`b_${b.bucket}`)), t('end')];
  const texts = [money(f.start.amount), ...f.buckets.map((b) => `${Number(b.change.amount) > 0 ? '+' : ''}${money(b.change)} (${number(b.deals)})`), money(f.end.amount)];
  const drill = (b) => {
    const p = new URLSearchParams(params);
    p.set('bucket', b.bucket);
    p.delete('after');
    return el('a', { href: href('flow', p), 'data-bucket': b.bucket }, t('drillDown'));
  };
  const out = [
    el('h1', {}, t('flow')),
    controls('flow', shown(params, { from: vars.from, to: vars.to }), filterFields({ asOf: false }).concat([
      { key: 'clock', label: t('clock'), options: [['', t('occurred')], ['RECORDED', t('recorded')]] },
    ])),
    el('p', { class: balanced ? 'balance ok' : 'balance bad', 'data-balanced': String(balanced) },
      `${t('balance')}: ${money(f.start.amount)} + (${f.buckets.map((b) => b.change.amount).join(' + ')}) = ${money(f.end.amount)} — ${balanced ? t('balances') : t('doesNotBalance')}`),
    ...conversionNote(f),
    barChart('flow', labels, [{
      label: t('change'), data: bars, text: texts,
      colors: bars.map((b, i) => (i === 0 || i === bars.length - 1 ? '#555753' : (b[1] >= b[0] ? '#4e9a06' : '#a40000'))),
    }]),
    table('flow-buckets', [
      { key: 'bucket', label: t('bucket'), value: (b) => t(`b_${b.bucket}`) },
      { key: 'deals', label: t('deals_n'), numeric: true },
      { key: 'change', label: t('change'), numeric: true, csv: (b) => b.change.amount, value: (b) => money(b.change) },
      { key: 'drill', label: '', csv: () => '', value: drill },
    ], f.buckets),
  ];
  if (vars.bucket) {
    const b = f.buckets.find((x) => x.bucket === vars.bucket);
    const page = b?.moves ?? { totalCount: '0', pageInfo: {}, nodes: [] };
    const moves = page.nodes;
    const nav = [];
    if (vars.after) {
      const p = new URLSearchParams(params);
      p.delete('after');
      nav.push(el('a', { href: href('flow', p), 'data-page': 'first' }, t('firstPage')));
    }
    if (page.pageInfo.hasNextPage) {
      const p = new URLSearchParams(params);
      p.set('after', page.pageInfo.endCursor);
      nav.push(el('a', { href: href('flow', p), 'data-page': 'next' }, t('nextPage')));
    }
    out.push(el('h2', { id: 'drill' }, t('dealsIn', { bucket: t(`b_${vars.bucket}`) })),
      el('p', { class: 'summary', 'data-total': page.totalCount },
        t('shownOf', { n: number(moves.length), total: number(page.totalCount) })),
      table(`flow-${vars.bucket}`, [
        { key: 'title', label: t('title_'), value: (m) => el('a', { href: href('story', { id: m.opportunityId }) }, m.title) },
        { key: 'owner', label: t('owner') },
        { key: 'startAmount', label: t('startAmount'), numeric: true, csv: (m) => m.startAmount?.amount, value: (m) => money(m.startAmount) },
        { key: 'endAmount', label: t('endAmount'), numeric: true, csv: (m) => m.endAmount?.amount, value: (m) => money(m.endAmount) },
        { key: 'change', label: t('change'), numeric: true, csv: (m) => m.change.amount, value: (m) => money(m.change) },
      ], moves),
      el('nav', { class: 'pages' }, nav),
      el('div', { class: 'moves' }, moves.map((m) =>
        el('details', { 'data-deal': m.opportunityId }, el('summary', {}, `${m.title} — ${t('events')}: ${m.events.length}`),
          eventsTable(`events-${m.opportunityId}`, m.events)))));
  }
  return out;
}

const WIN_LOSS = `query WhyLost($from: DateTime!, $to: DateTime!, $filter: DealFilterInput, $asOf: DateTime, $clock: Clock) {
  winLoss(from: $from, to: $to, filter: $filter, asOf: $asOf, clock: $clock) {
    rates { dimension value won lost noDecision withdrawn winRate }
    whereLost { stage furthest atLoss }
    statedVersusEvidence { statedReason deals signals { signal deals } } } }`;

export async function lost(params) {
  const { from, to } = window_(params, 365);
  const data = await gql(WIN_LOSS, { from, to, filter: dealFilter(params), ...moment(params) });
  const w = data.winLoss;
  const dims = [...new Set(w.rates.map((r) => r.dimension))];
  const closed = (r) => Number(r.won) + Number(r.lost) + Number(r.noDecision) + Number(r.withdrawn);
  const out = [el('h1', {}, t('lost')), controls('lost', shown(params, { from, to }), filterFields({ currency: false }))];
  out.push(el('h2', {}, t('whereDealsDie')),
    barChart('where-lost', w.whereLost.map((s) => s.stage), [
      { label: t('furthest'), data: w.whereLost.map((s) => Number(s.furthest)) },
      { label: t('atLoss'), data: w.whereLost.map((s) => Number(s.atLoss)) },
    ]),
    table('where-lost', [
      { key: 'stage', label: t('stage') },
      { key: 'furthest', label: t('furthest'), numeric: true },
      { key: 'atLoss', label: t('atLoss'), numeric: true },
    ], w.whereLost));
  for (const d of dims) {
    const rows = w.rates.filter((r) => r.dimension === d);
    out.push(el('h2', {}, `${t('dimension')}: ${d}`),
      barChart(`win-rate-${d}`, rows.map((r) => r.value), [{
        label: t('winRate'),
        data: rows.map((r) => r.winRate ?? 0),
        text: rows.map((r) => `${percent(r.winRate)} (${number(closed(r))} ${t('dealsBehind')})`),
      }], { horizontal: true }));
  }
  out.push(table('win-rates', [
    { key: 'dimension', label: t('dimension') },
    { key: 'value', label: t('value') },
    { key: 'won', label: t('won'), numeric: true },
    { key: 'lost', label: t('lostN'), numeric: true },
    { key: 'noDecision', label: t('noDecision'), numeric: true },
    { key: 'withdrawn', label: t('withdrawn'), numeric: true },
    { key: 'winRate', label: t('winRate'), numeric: true, value: (r) => percent(r.winRate) },
  ], w.rates));
  out.push(el('h2', {}, t('statedVsEvidence')),
    table('stated-vs-evidence', [
      { key: 'statedReason', label: t('statedReason') },
      { key: 'deals', label: t('deals_n'), numeric: true },
      { key: 'signals', label: t('signals'), csv: (r) => r.signals.map((s) => `${s.signal}:${s.deals}`).join(' '), value: (r) => r.signals.map((s) => `${s.signal} (${s.deals})`).join(', ') },
    ], w.statedVersusEvidence));
  return out;
}

export { eventsTable };
