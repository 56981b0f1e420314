// The shell: sign-in, the navigation the caller's role allows, and one page at a time,
// drawn from the URL. `document.body.dataset.ready` names the page once it is drawn (the
// browser tests and the page-ready figure wait for it).

import { flow, funnel, lost } from './analyses.js';
import { ApiError, el, go, gql, href, lang, languageSwitch, route, t, token } from './core.js';
import { account, accounts, deals, story } from './records.js';

const ANALYSTS = ['ADMIN', 'MANAGER', 'ANALYST'];
const READERS = ['ADMIN', 'MANAGER', 'SALES', 'PRESALES', 'ENGINEERING', 'SUPPORT', 'ANALYST'];

/// Each page: its title key, who sees it (docs/api.md's matrix), what draws it.
const PAGES = {
  funnel: { roles: ANALYSTS, draw: funnel, nav: true },
  flow: { roles: ANALYSTS, draw: flow, nav: true },
  lost: { roles: ANALYSTS, draw: lost, nav: true },
  deals: { roles: ANALYSTS, draw: deals, nav: true },
  story: { roles: ANALYSTS, draw: story },
  accounts: { roles: READERS, draw: accounts, nav: true },
  account: { roles: READERS, draw: account },
};

let viewer = null;

async function signIn(form) {
  const value = new FormData(form).get('token').trim();
  try {
    const data = await gql('{ viewer { name role } }', {}, value);
    token.set(value);
    viewer = data.viewer;
    const first = Object.entries(PAGES).find(([, p]) => p.nav && p.roles.includes(viewer.role));
    const before = location.hash;
    go(first ? first[0] : 'accounts', {});
    // A changed hash draws the page (hashchange); an unchanged one draws nothing by itself.
    if (location.hash === before) render();
  } catch (e) {
    form.querySelector('.error').textContent = t('badToken', { message: e.message });
  }
}

function signInPage() {
  const form = el('form', { class: 'signin', 'data-signin': '' },
    el('h1', {}, t('signIn')),
    el('p', {}, t('signInHelp')),
    el('label', { for: 'token' }, t('token'), el('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true })),
    el('button', { type: 'submit' }, t('signIn')),
    el('p', { class: 'error', role: 'alert' }));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(form);
  });
  return form;
}

function header(page) {
  const nav = el('nav', { class: 'pages' }, Object.entries(PAGES)
    .filter(([, p]) => p.nav && p.roles.includes(viewer.role))
    .map(([name]) => el('a', { href: href(name), 'aria-current': page === name ? 'page' : undefined }, t(name))));
  const out = el('button', {
    type: 'button',
    onclick: () => {
      token.clear();
      viewer = null;
      render();
    },
  }, t('signOut'));
  return el('header', {}, el('strong', { class: 'brand' }, 'dealtrail'), nav,
    el('span', { class: 'who', 'data-viewer': viewer.role }, t('signedInAs', { name: viewer.name, role: viewer.role })),
    languageSwitch(), out);
}

async function render() {
  document.documentElement.lang = lang();
  document.title = t('title');
  const main = document.getElementById('app');
  delete document.body.dataset.ready;
  if (!viewer && token.get()) {
    try {
      viewer = (await gql('{ viewer { name role } }')).viewer;
    } catch {
      token.clear();
    }
  }
  if (!viewer) {
    main.replaceChildren(el('header', {}, el('strong', { class: 'brand' }, 'dealtrail'), languageSwitch()), signInPage());
    document.body.dataset.ready = 'signin';
    return;
  }
  const { page, params } = route();
  const spec = PAGES[page] ?? PAGES.funnel;
  const body = el('section', { class: 'page', 'data-page': page }, el('p', { class: 'muted' }, t('loading')));
  main.replaceChildren(header(page), body);
  if (!spec.roles.includes(viewer.role)) {
    body.replaceChildren(el('p', {}, t('notForRole', { role: viewer.role })),
      viewer.role === 'AUDITOR' ? el('p', {}, el('a', { href: '/graphql' }, t('auditorHint'))) : '');
    document.body.dataset.ready = page;
    return;
  }
  try {
    body.replaceChildren(...await spec.draw(params, viewer));
  } catch (e) {
    const message = e instanceof ApiError ? `${e.code}: ${e.message}` : String(e);
    body.replaceChildren(el('p', { class: 'error', role: 'alert', 'data-error': e.code ?? 'CLIENT' }, t('error', { message })));
  }
  // Charts draw in a microtask after the page is in the document.
  await Promise.resolve();
  window.dealtrail.readyAt = performance.now();
  document.body.dataset.ready = page;
}

window.dealtrail = { readyAt: null };
window.addEventListener('hashchange', render);
render();
