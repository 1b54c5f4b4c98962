// coupon-book admin console: plain JavaScript, no build step, no third-party code.
// Every data call goes to the JSON API (docs/API.md) with the key pasted into the
// header form; the key lives in sessionStorage only and travels as an Authorization
// header, never in a URL or a cookie.
// Screens live in books.js, coupon.js (a coupon's page and the checkout try-out),
// events.js and admin.js; this file holds the key form and the routing between them.

import { KEY_STORAGE, view, h, put, fill, getKey, api, field } from './lib.js';
import { booksView, bookView } from './books.js';
import { couponView, checkoutView } from './coupon.js';
import { eventsView } from './events.js';
import { webhooksView, keysView } from './admin.js';

// ---------------------------------------------------------------- key handling

const keyForm = document.getElementById('key-form');
const keyInput = document.getElementById('api-key');
const keyState = document.getElementById('key-state');

function setKeyState(text, bad = false) {
  keyState.textContent = text;
  keyState.classList.toggle('bad', bad);
}

function describeKey() {
  const key = getKey();
  if (key) setKeyState(`Key in use (…${key.slice(-4)})`);
  else setKeyState('No key yet', true);
}

keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    setKeyState('Paste a key first', true);
    keyInput.focus();
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  keyInput.value = '';
  describeKey();
  if (!location.hash || location.hash === '#/' || location.hash === '#/welcome') location.hash = '#/books';
  else route();
});
document.getElementById('key-forget').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  describeKey();
  route();
  keyInput.focus();
});

// ---------------------------------------------------------------- routing

let cleanups = [];
function onLeave(fn) {
  cleanups.push(fn);
}
function every(ms, fn) {
  const timer = setInterval(() => {
    if (!document.hidden) fn();
  }, ms);
  onLeave(() => clearInterval(timer));
}

const routes = [
  [/^#\/books\/?$/, () => booksView()],
  [/^#\/books\/([^/]+)$/, (id) => bookView(decodeURIComponent(id))],
  [/^#\/coupons\/?$/, () => couponView(null)],
  [/^#\/coupons\/([^/]+)$/, (code) => couponView(decodeURIComponent(code))],
  [/^#\/checkout\/?(?:\?(.*))?$/, (query) => checkoutView(query)],
  [/^#\/events\/?(?:\?(.*))?$/, (query) => eventsView(query)],
  [/^#\/webhooks\/?$/, () => webhooksView()],
  [/^#\/keys\/?$/, () => keysView()],
];

function route() {
  for (const fn of cleanups) fn();
  cleanups = [];
  const hash = location.hash || '#/books';
  const section = hash.split(/[/?]/)[1] || 'books';
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  fill(view);
  if (!getKey()) {
    welcomeView();
    return;
  }
  for (const [re, render] of routes) {
    const m = hash.match(re);
    if (m) {
      render(...m.slice(1));
      return;
    }
  }
  put(h('h1', { tabindex: -1 }, 'Not found'), h('p', 'No such screen. ', h('a', { href: '#/books' }, 'Back to the books.')));
}

function title(text, ...extra) {
  const el = h('h1', { tabindex: -1 }, text, ...extra);
  document.title = `${typeof text === 'string' ? text : 'coupon-book'} · coupon-book console`;
  return el;
}

// The skip link moves focus to the content without touching the route.
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  view.focus();
});

window.addEventListener('hashchange', () => {
  if (location.hash && !location.hash.startsWith('#/')) return;
  route();
  const heading = view.querySelector('h1');
  if (heading) heading.focus({ preventScroll: false });
});

function welcomeView() {
  put(
    title('Welcome'),
    h('p', 'Paste an API key into the field at the top of the page to start. An admin key sees every screen; a narrower key sees what its scopes allow.'),
    h('p', 'The first admin key comes from ', h('code', 'COUPON_BOOK_BOOTSTRAP_ADMIN_KEY'), ' or ', h('code', 'coupon-book keys create --name ops --scope admin'), '.'));
}

// ---------------------------------------------------------------- start

describeKey();
route();


export { setKeyState, onLeave, every, route, title };
