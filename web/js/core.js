// What every page shares: the view's state in the URL, the GraphQL client, and the
// building blocks (controls, tables with CSV, charts with their figures written on them).

import { language, translate, LANGUAGES } from './i18n.js';

const TOKEN_KEY = 'dealtrail.token';

/// The route and its parameters, read from the URL's hash (`#/funnel?from=…&lang=zh-CN`),
/// so that a view can be bookmarked and shared.
export function route() {
  const hash = location.hash.replace(/^#/, '') || '/funnel';
  const [path, query = ''] = hash.split('?');
  return { page: path.replace(/^\//, '') || 'funnel', params: new URLSearchParams(query) };
}

/// Goes to `page` with `params` (a URLSearchParams or an object), keeping the language.
export function go(page, params) {
  const p = new URLSearchParams(params);
  const lang = route().params.get('lang');
  if (lang && !p.has('lang')) p.set('lang', lang);
  location.hash = `#/${page}${p.toString() ? `?${p}` : ''}`;
}

/// A link to `page` with `params`, keeping the language.
export function href(page, params = {}) {
  const p = new URLSearchParams(params);
  const lang = route().params.get('lang');
  if (lang && !p.has('lang')) p.set('lang', lang);
  return `#/${page}${p.toString() ? `?${p}` : ''}`;
}

export function lang() {
  return language(route().params);
}

export function t(key, vars) {
  return translate(lang(), key, vars);
}

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/// An error the API answered, with its stable code.
export class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/// Runs a GraphQL operation with the signed-in token; throws ApiError on any error.
export async function gql(query, variables = {}, bearer = token.get()) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/graphql-response+json, application/json',
      ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code ?? `HTTP ${response.status}`);
  }
  if (!response.ok) throw new ApiError(`HTTP ${response.status}`, `HTTP ${response.status}`);
  return body.data;
}

/// An element: `el('td', { class: 'n' }, 'text', child, …)`.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function number(n, digits = 0) {
  if (n === null || n === undefined || n === '') return '–';
  return new Intl.NumberFormat(lang(), { maximumFractionDigits: digits }).format(Number(n));
}

export function percent(share) {
  if (share === null || share === undefined) return '–';
  return new Intl.NumberFormat(lang(), { style: 'percent', maximumFractionDigits: 1 }).format(share);
}

export function money(m) {
  if (!m) return '–';
  return `${new Intl.NumberFormat(lang(), { maximumFractionDigits: 2 }).format(Number(m.amount))} ${m.currency}`;
}

/// Strings compare as the language sorts them (pinyin order for Chinese names in zh-CN).
export function collate(a, b) {
  return new Intl.Collator(lang(), { numeric: true }).compare(String(a ?? ''), String(b ?? ''));
}

function csvCell(v) {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/// A table of `rows` with `columns` ({ key, label, value(row) → text or node, csv(row) → raw,
/// numeric }), sortable by a click on a header, with a CSV download of the raw values.
export function table(name, columns, rows) {
  const wrap = el('div', { class: 'table', 'data-table': name });
  let sorted = rows.slice();
  let by = null;
  let down = false;
  const raw = (c, r) => (c.csv ? c.csv(r) : r[c.key]);
  const body = el('tbody');
  const fill = () => {
    body.replaceChildren(
      ...sorted.map((r) =>
        el('tr', {}, columns.map((c) =>
          el('td', { class: c.numeric ? 'n' : undefined }, c.value ? c.value(r) : raw(c, r)))),
      ),
    );
  };
  const head = el('tr', {}, columns.map((c, i) =>
    el('th', {
      scope: 'col',
      onclick: () => {
        down = by === i ? !down : false;
        by = i;
        sorted = rows.slice().sort((a, b) => {
          const [x, y] = [raw(c, a), raw(c, b)];
          const order = c.numeric ? Number(x ?? -Infinity) - Number(y ?? -Infinity) : collate(x, y);
          return down ? -order : order;
        });
        fill();
      },
    }, c.label)));
  fill();
  const download = () => {
    const lines = [columns.map((c) => csvCell(c.label)).join(',')]
      .concat(rows.map((r) => columns.map((c) => csvCell(raw(c, r))).join(',')));
    // The byte-order mark lets spreadsheets read the UTF-8 (Chinese names) correctly.
    const blob = new Blob(['\uFEFF' + lines.join('\r\n') + '\r\n'], { type: 'text/csv;charset=utf-8' });
    const a = el('a', { href: URL.createObjectURL(blob), download: `${name}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
  };
  wrap.append(
    el('table', {}, el('thead', {}, head), body),
    el('button', { type: 'button', class: 'csv', onclick: download }, t('downloadCsv')),
  );
  if (rows.length === 0) wrap.prepend(el('p', { class: 'muted' }, t('none')));
  return wrap;
}

// Writes each bar's label on the chart, so that no figure is told by colour alone.
const valueLabels = {
  id: 'valueLabels',
  afterDatasetsDraw(chart, _args, options) {
    const { ctx } = chart;
    ctx.save();
    ctx.font = '12px system-ui, sans-serif';
    ctx.fillStyle = '#111';
    ctx.textAlign = 'center';
    chart.data.datasets.forEach((ds, i) => {
      const meta = chart.getDatasetMeta(i);
      if (meta.hidden) return;
      meta.data.forEach((bar, j) => {
        const text = options.labels?.[i]?.[j];
        if (text === undefined || text === null) return;
        const horizontal = chart.options.indexAxis === 'y';
        if (horizontal) {
          ctx.textAlign = 'left';
          ctx.fillText(text, Math.max(bar.x, bar.base) + 4, bar.y + 4);
        } else {
          ctx.fillText(text, bar.x, Math.min(bar.y, bar.base) - 4);
        }
      });
    });
    ctx.restore();
  },
};

const HUES = ['#3465a4', '#c4a000', '#4e9a06', '#a40000', '#75507b'];

/// A bar chart named `name`: `labels` along the axis, `series` [{ label, data, text }] where
/// `text` is what is written on each bar. Its figures stay readable from `Chart.getChart`.
export function barChart(name, labels, series, { horizontal = false, stacked = false } = {}) {
  const canvas = el('canvas', { 'data-chart': name, role: 'img', 'aria-label': name });
  const box = el('div', { class: 'chart' }, canvas);
  // Drawn once the canvas is in the document and has a size.
  queueMicrotask(() => {
    new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.data,
          backgroundColor: s.colors ?? HUES[i % HUES.length],
          borderColor: '#111',
          borderWidth: 1,
        })),
      },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        layout: { padding: { top: 20, right: horizontal ? 80 : 10 } },
        scales: { x: { stacked }, y: { stacked } },
        plugins: {
          valueLabels: { labels: series.map((s) => s.text ?? s.data.map((d) => number(d))) },
          legend: { display: series.length > 1 },
        },
      },
      plugins: [valueLabels],
    });
  });
  return box;
}

/// The controls of a page: each field a URL parameter; "Apply" puts them in the URL.
export function controls(page, params, fields) {
  const form = el('form', { class: 'controls', 'data-controls': page });
  for (const f of fields) {
    const id = `c-${f.key}`;
    let input;
    if (f.options) {
      input = el('select', { id, name: f.key },
        f.options.map(([v, label]) => el('option', { value: v, selected: params.get(f.key) === v || undefined }, label)));
    } else {
      input = el('input', { id, name: f.key, type: f.type ?? 'text', value: params.get(f.key) ?? f.placeholder ?? '' });
    }
    form.append(el('label', { for: id }, f.label, input));
  }
  form.append(el('button', { type: 'submit' }, t('apply')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const next = new URLSearchParams(params);
    for (const f of fields) {
      const v = new FormData(form).get(f.key);
      if (v) next.set(f.key, v);
      else next.delete(f.key);
    }
    go(page, next);
  });
  return form;
}

/// The deal filter and the moment fields every analysis takes.
export function filterFields({ window = true, asOf = true, currency = true } = {}) {
  const fields = [];
  if (window) fields.push({ key: 'from', label: t('from'), type: 'date' }, { key: 'to', label: t('to'), type: 'date' });
  if (asOf) {
    fields.push({ key: 'asOf', label: t('asOf'), type: 'date' },
      { key: 'clock', label: t('clock'), options: [['', t('recorded')], ['OCCURRED', t('occurred')]] });
  }
  if (currency) fields.push({ key: 'currency', label: t('currency'), options: [['', 'USD'], ['EUR', 'EUR'], ['CNY', 'CNY']] });
  fields.push(
    { key: 'owner', label: t('owner') },
    { key: 'productLine', label: t('productLine') },
    { key: 'orgUnitId', label: t('orgUnit') },
    { key: 'sizeBand', label: t('sizeBand'), options: [['', t('any')], ['SMALL', 'small'], ['MID', 'mid'], ['LARGE', 'large'], ['ENTERPRISE', 'enterprise']] },
  );
  return fields;
}

/// The DealFilterInput the URL's filter parameters ask for.
export function dealFilter(params) {
  const filter = {};
  for (const k of ['owner', 'productLine', 'orgUnitId', 'sizeBand']) if (params.get(k)) filter[k] = params.get(k);
  return filter;
}

/// The `asOf` and `clock` arguments the URL asks for (a date means the end of that day).
export function moment(params) {
  const asOf = params.get('asOf');
  return {
    asOf: asOf ? `${asOf}T23:59:59Z` : null,
    clock: params.get('clock') || null,
  };
}

/// Today, `days` from now, as YYYY-MM-DD.
export function today(days = 0) {
  return new Date(Date.now() + days * 86400000).toISOString().slice(0, 10);
}

/// The language switch: the same view in the other language.
export function languageSwitch() {
  const { page, params } = route();
  return el('nav', { class: 'languages', 'aria-label': t('language') },
    Object.entries(LANGUAGES).map(([code, label]) => {
      const p = new URLSearchParams(params);
      p.set('lang', code);
      return el('a', { href: `#/${page}?${p}`, 'aria-current': lang() === code ? 'true' : undefined, lang: code }, label);
    }));
}
