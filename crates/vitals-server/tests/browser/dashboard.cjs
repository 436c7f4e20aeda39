// Drives Debian's Chromium through playwright-core against a running vitals-server; started by
// crates/vitals-server/tests/browser.rs, which reads the lines printed here:
//
//   READY {json}        the charts hold data (the test then sends traffic)
//   RATE {json}         the request-rate figure moved
//   RESULT {json}       everything checked; the process then exits 0
//   FAIL <reason>       something did not hold; the process then exits 1
//
// Environment: PLAYWRIGHT_CORE (path of the playwright-core package), CHROMIUM (executable),
// BASE_URL (http://127.0.0.1:PORT), OUT_DIR (where screenshots go), PROFILE_DIR (a fresh,
// empty user-data-dir), SCENARIO (`live` or `login`), TOKEN (for `login`), EXPECT_BUDGET (`live`:
// a budget the budgets panel must list).
'use strict';

const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const path = require('path');

const BASE = process.env.BASE_URL;
const OUT = process.env.OUT_DIR;
const SCENARIO = process.env.SCENARIO || 'live';
const URL = BASE + '/metrics/dashboard';

const say = (tag, value) => process.stdout.write(tag + ' ' + JSON.stringify(value) + '\n');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(cond, message) {
  if (!cond) throw new Error(message);
}

async function waitFor(page, fn, arg, timeout, what) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 200 });
  } catch (e) {
    throw new Error('timed out waiting for ' + what + ': ' + e.message.split('\n')[0]);
  }
}

const chartsHaveData = (min) =>
  [...document.querySelectorAll('.chart')].every((c) => Number(c.dataset.points || 0) >= min);

const kpi = (page, id) => page.$eval('#' + id, (el) => (el.dataset.value === '' ? null : Number(el.dataset.value)));

async function live(page, errors) {
  const response = await page.goto(URL, { waitUntil: 'domcontentloaded' });
  check(response.status() === 200, 'page status ' + response.status());
  check((response.headers()['content-type'] || '').startsWith('text/html'), 'page content type');
  await waitFor(page, () => !document.getElementById('main').hidden, null, 15000, 'the dashboard');
  await waitFor(page, chartsHaveData, 3, 20000, 'every chart to hold 3 points');
  await waitFor(page, () => window.__vitals.mode === 'live', null, 10000, 'the live stream');
  const baseline = await kpi(page, 'kpi-rps');
  const points = await page.$$eval('.chart', (cs) => Object.fromEntries(cs.map((c) => [c.id, Number(c.dataset.points)])));
  say('READY', { baseline, points, probe: await page.evaluate(() => window.__vitals) });

  // The test now sends traffic: the request rate must move.
  const target = (baseline || 0) + 5;
  await waitFor(page, (t) => Number(document.getElementById('kpi-rps').dataset.value || 0) >= t, target, 25000,
    'the request rate to pass ' + target);
  const moved = await kpi(page, 'kpi-rps');
  const chartMax = await page.evaluate(() => {
    const c = document.querySelector('#chart-rps .u-legend');
    return c ? c.textContent : '';
  });
  say('RATE', { baseline, moved, legend: chartMax });

  // Tables fill from their endpoints (refreshed every 5 s).
  await waitFor(page, () => [...document.querySelectorAll('#routes tbody td')].some((td) => td.textContent.includes('/api/orgs/')),
    null, 15000, 'the routes table to list /api/orgs/…');
  await waitFor(page, () => [...document.querySelectorAll('#orgs tbody td')].some((td) => td.textContent === 'acme'),
    null, 15000, 'the organizations table to list acme');
  await waitFor(page, () => document.querySelectorAll('#slow tbody tr td.mono').length > 0, null, 15000,
    'the slowest requests with their ids');
  const slowIds = await page.$$eval('#slow tbody tr', (rows) => rows.slice(0, 3).map((r) => [...r.cells].map((c) => c.textContent)));

  // Sorting: a click on "Requests" sorts by it, a second click flips the order.
  const sortHeader = '#routes th[data-key="count"]';
  await page.click('#routes th[data-key="route"]');
  check(await page.getAttribute('#routes th[data-key="route"]', 'aria-sort') === 'ascending', 'sort by route');
  await page.click(sortHeader);
  check(await page.getAttribute(sortHeader, 'aria-sort') === 'descending', 'sort by count, descending');
  const counts = await page.$$eval('#routes tbody tr', (rows) => rows.map((r) => Number(r.cells[2].textContent.replace(/,/g, ''))));
  check(counts.every((v, i) => i === 0 || counts[i - 1] >= v), 'routes sorted by count: ' + counts.join(' '));

  // Ranges: 1 h, 24 h and 7 d draw the minute (7 d: hourly) trend; back to 5 minutes.
  for (const range of ['3600', '86400', '604800', '300']) {
    await page.click('.range button[data-range="' + range + '"]');
    check(await page.getAttribute('.range button[data-range="' + range + '"]', 'aria-pressed') === 'true', 'range ' + range);
    await sleep(600);
  }
  // With a history store (EXPECT_BUDGET set by the test), those ranges read /metrics/history,
  // and the budgets panel lists the budget with its status.
  let budget = null;
  if (process.env.EXPECT_BUDGET) {
    await waitFor(page, () => (window.__vitals.historyPoints || 0) > 0, null, 15000, 'points from the history store');
    const row = '#budgets tbody tr[data-budget="' + process.env.EXPECT_BUDGET + '"]';
    await waitFor(page, (sel) => document.querySelector(sel) !== null && !document.getElementById('budgets-card').hidden,
      row, 20000, 'the budget ' + process.env.EXPECT_BUDGET + ' in the budgets panel');
    budget = await page.$eval(row, (r) => [...r.cells].map((c) => c.textContent));
    check(['ok', 'ticket', 'page'].includes(budget[1]), 'a budget status: ' + JSON.stringify(budget));
    check(budget.length === 12, 'status, SLI, objective, remaining and seven burn rates: ' + JSON.stringify(budget));
  }
  check(await page.$eval('#chart-rps', (c) => c.dataset.history) === 'false', 'back to the live range');

  // What the panels show.
  const panels = await page.evaluate(() => ({
    health: document.getElementById('health').textContent,
    pressure: document.getElementById('pressure').textContent,
    leak: document.getElementById('leak').textContent,
    protection: document.getElementById('protection').textContent.slice(0, 200),
    alerts: document.getElementById('alerts').textContent.slice(0, 200),
    recommendations: document.getElementById('recommendations').textContent.slice(0, 200),
  }));
  check(panels.protection.includes('Pressure'), 'the protection panel shows the pressure state');
  check(panels.leak.length > 0, 'the leak verdict is shown');

  await sleep(1500);
  await page.screenshot({ path: path.join(OUT, 'dashboard.png'), fullPage: true });
  const desktopOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(desktopOverflow <= 0, 'horizontal overflow at 1280 px: ' + desktopOverflow);

  await page.emulateMedia({ colorScheme: 'dark' });
  await sleep(1200);
  await page.screenshot({ path: path.join(OUT, 'dashboard-dark.png'), fullPage: false });
  await page.emulateMedia({ colorScheme: 'light' });

  await page.setViewportSize({ width: 390, height: 844 });
  await sleep(1500);
  const phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(OUT, 'dashboard-phone.png'), fullPage: true });
  check(phoneOverflow <= 0, 'horizontal overflow at 390 px: ' + phoneOverflow);
  const chartWidths = await page.$$eval('.chart canvas', (cs) => cs.map((c) => c.getBoundingClientRect().width));
  check(chartWidths.every((w) => w > 200 && w <= 390), 'charts fit the phone: ' + chartWidths.join(' '));

  return { baseline, moved, points, slowIds, panels, budget, desktopOverflow, phoneOverflow, probe: await page.evaluate(() => window.__vitals) };
}

async function login(page) {
  const response = await page.goto(URL, { waitUntil: 'domcontentloaded' });
  check(response.status() === 401, 'page status without a token: ' + response.status());
  await waitFor(page, () => !document.getElementById('login').hidden, null, 10000, 'the token form');
  const before = await page.evaluate(() => ({
    mainHidden: document.getElementById('main').hidden,
    kpis: [...document.querySelectorAll('.kpi .v')].map((v) => v.textContent),
    rows: document.querySelectorAll('tbody tr').length,
    canvases: document.querySelectorAll('canvas').length,
  }));
  check(before.mainHidden && before.rows === 0 && before.canvases === 0 && before.kpis.every((k) => k === '—'),
    'data rendered before the token: ' + JSON.stringify(before));

  await page.fill('#token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  await waitFor(page, () => document.getElementById('login-error').textContent.length > 0, null, 10000, 'the refusal');
  check(await page.evaluate(() => document.getElementById('main').hidden), 'a wrong token opened the dashboard');

  await page.fill('#token', process.env.TOKEN);
  await page.click('#login-form button[type=submit]');
  await waitFor(page, () => !document.getElementById('main').hidden, null, 10000, 'the dashboard after the token');
  await waitFor(page, chartsHaveData, 2, 20000, 'charts with data after the token');
  await waitFor(page, () => window.__vitals.mode === 'live', null, 10000, 'the live stream with the token');
  const stored = await page.evaluate(() => sessionStorage.getItem('vitals.operatorToken') !== null);
  check(stored, 'the token is kept in sessionStorage');
  // Reload: the token is remembered for the tab, no form.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitFor(page, () => !document.getElementById('main').hidden, null, 10000, 'the dashboard after a reload');
  return { before, probe: await page.evaluate(() => window.__vitals) };
}

(async () => {
  const context = await chromium.launchPersistentContext(process.env.PROFILE_DIR, {
    executablePath: process.env.CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    colorScheme: 'light',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const errors = [];
  const requests = [];
  let exitCode = 0;
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push('console: ' + m.text());
    });
    page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
    page.on('request', (r) => requests.push(r.url()));
    const result = SCENARIO === 'login' ? await login(page) : await live(page, errors);
    // The login scenario expects the browser's own notes about the 401 answers it provoked.
    const unexpected = errors.filter((e) => !(SCENARIO === 'login' && /status of 401/.test(e)));
    check(unexpected.length === 0, 'console errors: ' + JSON.stringify(unexpected));
    const foreign = requests.filter((u) => !u.startsWith(BASE + '/'));
    check(foreign.length === 0, 'requests outside the server: ' + JSON.stringify(foreign));
    const withToken = requests.filter((u) => /[?&]token=/.test(u));
    check(withToken.length === 0, 'token in a URL: ' + JSON.stringify(withToken));
    say('RESULT', Object.assign(result, { consoleErrors: errors, requests: requests.length }));
  } catch (e) {
    process.stdout.write('FAIL ' + e.message.replace(/\n/g, ' ') + ' | console: ' + JSON.stringify(errors) + '\n');
    exitCode = 1;
    try {
      const page = context.pages()[0];
      if (page) await page.screenshot({ path: path.join(OUT, 'dashboard-failure-' + SCENARIO + '.png'), fullPage: true });
    } catch (_) { /* best effort */ }
  } finally {
    await context.close();
  }
  process.exit(exitCode);
})();
