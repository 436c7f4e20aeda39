/* vitals live dashboard.
 *
 * Data: a Server-Sent Events stream (dashboard/stream) read with fetch, so the operator token
 * travels in the Authorization header and never in a URL; one snapshot a second. If the stream
 * fails, the page polls the JSON dashboard every 2 s and retries the stream every 15 s.
 * Tables and alerts refresh every 5 s; the 1 h, 24 h and 7 d ranges read the history store
 * (history?series=service|system, one-minute points, hourly for 7 d) when the server keeps one,
 * else the dashboard's one-minute trend points (?minutes=60 / ?minutes=1440), plus the newest
 * live point. The budgets panel reads ../health/performance/budgets.
 *
 * All URLs are relative to /metrics/dashboard, so the page works when the router is nested
 * under a prefix. Everything from the server is inserted as text, never as HTML.
 */
(() => {
  'use strict';

  const TOKEN_KEY = 'vitals.operatorToken';
  const LIVE_SPAN = 300; // seconds kept at one point a second
  const POLL_MS = 2000;
  const PANELS_MS = 5000;
  const ORGS_MS = 10000;
  const TRENDS_MS = 30000;
  const STREAM_RETRY_MS = 15000;
  const STREAM_STALL_MS = 20000;

  const $ = (id) => document.getElementById(id);
  const st = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    range: 300,
    live: [],
    trend: [],
    latest: null,
    charts: [],
    timers: [],
    abort: null,
    polling: null,
    lastEventAt: 0,
    started: false,
    stopped: false,
    rows: {},
    sorts: { routes: { key: 'count', dir: -1 }, orgs: { key: 'all', dir: -1 } },
  };
  // Read by the browser test; harmless otherwise.
  const probe = (window.__vitals = { points: 0, snapshots: 0, mode: 'connecting', rps: null });

  class AuthError extends Error {}
  class ForbiddenError extends Error {}

  // ---------- formatting ----------
  const dash = '—';
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const fmtRate = (v) => (!isNum(v) ? dash : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const fmtMs = (v) => (!isNum(v) ? dash : v >= 1000 ? (v / 1000).toFixed(2) + ' s' : v >= 10 ? v.toFixed(0) + ' ms' : v.toFixed(1) + ' ms');
  const fmtPct = (v) => (!isNum(v) ? dash : (v >= 10 ? v.toFixed(0) : v.toFixed(1)) + ' %');
  const fmtBytes = (v) => {
    if (!isNum(v)) return dash;
    if (v >= 2 ** 30) return (v / 2 ** 30).toFixed(2) + ' GiB';
    const mib = v / 2 ** 20;
    return (mib >= 100 ? mib.toFixed(0) : mib.toFixed(1)) + ' MiB';
  };
  const fmtAlloc = (v) => (!isNum(v) ? dash : v >= 2 ** 20 ? fmtBytes(v) : v >= 1024 ? (v / 1024).toFixed(1) + ' KiB' : Math.round(v) + ' B');
  const fmtInt = (v) => (!isNum(v) ? dash : Math.round(v).toLocaleString('en-US'));
  const fmtTime = (s) => {
    const d = new Date(s);
    return Number.isNaN(d.getTime()) ? String(s ?? dash) : d.toLocaleTimeString();
  };
  const humanize = (key) => String(key).replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/^./, (c) => c.toUpperCase());

  // ---------- DOM helpers (text only) ----------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c == null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const badge = (text, cls) => h('span', { class: 'badge ' + (cls || '') }, text);

  // ---------- HTTP ----------
  function headers(accept) {
    const hd = { Accept: accept };
    if (st.token) hd.Authorization = 'Bearer ' + st.token;
    return hd;
  }

  async function api(path) {
    const res = await fetch(path, { headers: headers('application/json'), cache: 'no-store' });
    if (res.status === 401) throw new AuthError('unauthorized');
    if (res.status === 403) {
      const p = await res.json().catch(() => ({}));
      throw new ForbiddenError(p.detail || 'forbidden');
    }
    const type = res.headers.get('content-type') || '';
    if (!type.includes('json')) throw new Error(path + ': HTTP ' + res.status);
    return res.json();
  }

  // ---------- charts ----------
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  const CHARTS = [
    { id: 'chart-rps', fmt: fmtRate, series: [{ key: 'rps', label: 'req/s', color: '--c1', fill: true }] },
    {
      id: 'chart-latency', fmt: fmtMs,
      series: [
        { key: 'p50', label: 'p50', color: '--c2' },
        { key: 'p95', label: 'p95', color: '--c1' },
        { key: 'p99', label: 'p99', color: '--c4' },
      ],
    },
    {
      id: 'chart-errors', fmt: fmtRate, right: { scale: 'pct', fmt: fmtPct },
      series: [
        { key: 's2xx', label: '2xx/s', color: '--c2' },
        { key: 's3xx', label: '3xx/s', color: '--c6' },
        { key: 's4xx', label: '4xx/s', color: '--c3' },
        { key: 's5xx', label: '5xx/s', color: '--c4' },
        { key: 'err', label: 'error rate', color: '--c5', scale: 'pct', fmt: fmtPct, dash: [5, 4] },
      ],
    },
    {
      id: 'chart-memory', fmt: fmtBytes,
      series: [
        { key: 'rss', label: 'RSS', color: '--c1', fill: true },
        { key: 'heap', label: 'heap', color: '--c2' },
      ],
    },
    { id: 'chart-cpu', fmt: fmtPct, series: [{ key: 'cpu', label: 'CPU', color: '--c3', fill: true }] },
    {
      id: 'chart-runtime', fmt: fmtPct, right: { scale: 'ms', fmt: fmtMs },
      series: [
        { key: 'busy', label: 'busy', color: '--c5' },
        { key: 'delay', label: 'sched. delay p99', color: '--c4', scale: 'ms', fmt: fmtMs },
      ],
    },
  ];

  function plotHeight() {
    return window.matchMedia('(max-width: 640px)').matches ? 160 : 180;
  }

  function xRange() {
    const now = Date.now() / 1000;
    return [now - st.range, now];
  }

  function yRange(_u, _min, max) {
    return [0, isNum(max) && max > 0 ? max * 1.15 : 1];
  }

  // Room for the longest tick label (about 7 px a character at 11 px) plus tick and gap.
  function axisSize(_u, values) {
    const longest = (values || []).reduce((n, v) => Math.max(n, String(v).length), 3);
    return Math.ceil(longest * 7) + 20;
  }

  function makeChart(def) {
    const card = $(def.id);
    const el = card.querySelector('.plot');
    el.textContent = '';
    const fg = cssVar('--muted');
    const grid = cssVar('--grid');
    const axis = (fmt, extra) => Object.assign({
      stroke: fg,
      grid: { stroke: grid, width: 1 },
      ticks: { stroke: grid, width: 1 },
      font: '11px system-ui, sans-serif',
      values: (_u, vals) => vals.map(fmt),
      size: axisSize,
    }, extra);
    const scales = { x: { time: true, range: () => xRange() }, y: { range: yRange } };
    const axes = [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' },
      axis(def.fmt),
    ];
    if (def.right) {
      scales[def.right.scale] = { range: yRange };
      axes.push(axis(def.right.fmt, { scale: def.right.scale, side: 1, grid: { show: false } }));
    }
    const series = [{}].concat(def.series.map((s) => {
      const color = cssVar(s.color);
      return {
        label: s.label,
        scale: s.scale || 'y',
        stroke: color,
        width: 1.5,
        dash: s.dash,
        fill: s.fill ? color + '22' : undefined,
        points: { show: false },
        spanGaps: false,
        value: (_u, v) => (s.fmt || def.fmt)(v),
      };
    }));
    const u = new uPlot({
      width: Math.max(200, el.clientWidth),
      height: plotHeight(),
      scales, axes, series,
      cursor: { drag: { x: false, y: false }, points: { size: 5 } },
      legend: { live: true },
    }, [[], ...def.series.map(() => [])], el);
    return { def, u, el, card, width: el.clientWidth };
  }

  function buildCharts() {
    for (const c of st.charts) c.u.destroy();
    st.charts = CHARTS.map(makeChart);
    render();
  }

  let resizeQueued = false;
  const resizer = new ResizeObserver(() => {
    if (resizeQueued) return;
    resizeQueued = true;
    requestAnimationFrame(() => {
      resizeQueued = false;
      for (const c of st.charts) {
        const w = c.el.clientWidth;
        if (w > 0 && w !== c.width) {
          c.width = w;
          c.u.setSize({ width: w, height: plotHeight() });
        }
      }
    });
  });

  function points() {
    if (st.range <= LIVE_SPAN) return st.live;
    const pts = st.trend.slice();
    const last = st.live[st.live.length - 1];
    if (last && (!pts.length || last.t > pts[pts.length - 1].t)) pts.push(last);
    return pts;
  }

  function render() {
    const pts = points();
    const xs = pts.map((p) => p.t);
    for (const c of st.charts) {
      const data = [xs].concat(c.def.series.map((s) => pts.map((p) => (isNum(p[s.key]) ? p[s.key] : null))));
      c.u.setData(data);
      // Between hovers the legend shows the newest values.
      if (xs.length && !(c.u.cursor.left >= 0)) c.u.setLegend({ idx: xs.length - 1 });
      const filled = data[1].filter((v) => v !== null).length;
      c.card.dataset.points = String(filled);
      c.card.dataset.history = String(st.range > LIVE_SPAN);
    }
    probe.points = st.live.length;
  }

  let renderQueued = false;
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  // ---------- live data ----------
  function pointFromSnapshot(s) {
    const sp = s.statusPerSecond || {};
    return {
      t: s.t / 1000,
      rps: s.requestsPerSecond,
      p50: s.p50Ms, p95: s.p95Ms, p99: s.p99Ms,
      err: isNum(s.errorRate) ? s.errorRate * 100 : null,
      s2xx: sp['2xx'], s3xx: sp['3xx'], s4xx: sp['4xx'], s5xx: sp['5xx'],
      rss: s.rssBytes, heap: s.heapBytes, cpu: s.cpuPercent,
      busy: isNum(s.busyRatio) ? s.busyRatio * 100 : null,
      delay: s.schedulingDelayP99Ms,
    };
  }

  function trimLive() {
    const from = Date.now() / 1000 - LIVE_SPAN - 5;
    let i = 0;
    while (i < st.live.length && st.live[i].t < from) i++;
    if (i) st.live.splice(0, i);
  }

  function onSnapshot(s) {
    st.latest = s;
    const p = pointFromSnapshot(s);
    const last = st.live[st.live.length - 1];
    if (last && p.t <= last.t) return;
    st.live.push(p);
    trimLive();
    probe.snapshots++;
    probe.rps = s.requestsPerSecond;
    updateKpis(s);
    scheduleRender();
  }

  function onHistory(list) {
    if (!Array.isArray(list)) return;
    const first = st.live.length ? st.live[0].t : Infinity;
    const older = list
      .map((p) => ({
        t: p.t / 1000, rps: p.requestsPerSecond, rss: p.rssBytes, heap: p.heapBytes, cpu: p.cpuPercent,
        busy: isNum(p.busyRatio) ? p.busyRatio * 100 : null, delay: p.schedulingDelayP99Ms,
      }))
      .filter((p) => p.t < first);
    st.live = older.concat(st.live);
    trimLive();
    scheduleRender();
  }

  function snapshotFromDashboard(d) {
    const rt = d.realTime || {};
    const lm = (d.performance || {}).lastMinute || {};
    const mem = rt.memory || {};
    const run = rt.runtime || {};
    const pressure = (d.protection || {}).pressure || {};
    return {
      t: Date.now(),
      requestsPerSecond: rt.requestsPerSecond,
      inFlight: rt.inFlightRequests,
      p50Ms: lm.p50Ms, p95Ms: lm.p95Ms, p99Ms: lm.p99Ms,
      errorRate: lm.errorRate,
      statusPerSecond: null,
      rssBytes: mem.rssBytes, heapBytes: mem.heapBytes,
      cpuPercent: (rt.cpu || {}).percent,
      busyRatio: run.busyRatio, schedulingDelayP99Ms: run.schedulingDelayP99Ms,
      leak: mem.leak,
      underPressure: pressure.underPressure,
      pressureReason: pressure.reason,
    };
  }

  function setKpi(id, value, text, cls) {
    const el = $(id);
    el.textContent = text;
    el.dataset.value = isNum(value) ? String(value) : '';
    el.className = 'v' + (cls ? ' ' + cls : '');
  }

  function updateKpis(s) {
    setKpi('kpi-rps', s.requestsPerSecond, fmtRate(s.requestsPerSecond));
    setKpi('kpi-p95', s.p95Ms, fmtMs(s.p95Ms));
    setKpi('kpi-p99', s.p99Ms, fmtMs(s.p99Ms));
    const err = isNum(s.errorRate) ? s.errorRate * 100 : null;
    setKpi('kpi-err', err, fmtPct(err), err >= 5 ? 'bad' : err >= 1 ? 'warn' : '');
    setKpi('kpi-inflight', s.inFlight, fmtInt(s.inFlight));
    setKpi('kpi-rss', s.rssBytes, fmtBytes(s.rssBytes));
    setKpi('kpi-heap', s.heapBytes, fmtBytes(s.heapBytes));
    setKpi('kpi-cpu', s.cpuPercent, fmtPct(s.cpuPercent));
    const busy = isNum(s.busyRatio) ? s.busyRatio * 100 : null;
    setKpi('kpi-busy', busy, fmtPct(busy), busy >= 90 ? 'bad' : busy >= 75 ? 'warn' : '');
    setKpi('kpi-delay', s.schedulingDelayP99Ms, fmtMs(s.schedulingDelayP99Ms));
    renderLeak(s.leak);
    renderPressureBadge(s.underPressure, s.pressureReason);
    $('updated').textContent = 'Updated ' + new Date(s.t).toLocaleTimeString();
  }

  const LEAK_TEXT = {
    insufficientData: ['leak check: gathering data', ''],
    belowThreshold: ['no leak', 'ok'],
    step: ['no leak (step)', 'ok'],
    sawtooth: ['no leak (sawtooth)', 'ok'],
    sustainedGrowth: ['leak suspected', 'bad'],
  };

  function renderLeak(leak) {
    const el = $('leak');
    if (!leak) { el.hidden = true; return; }
    let [text, cls] = LEAK_TEXT[leak.reason] || [String(leak.reason), ''];
    if (leak.leaking) { text = 'leak suspected'; cls = 'bad'; }
    if (isNum(leak.growthMibPerMin) && leak.reason !== 'insufficientData') {
      text += ' · ' + (leak.growthMibPerMin >= 0 ? '+' : '') + leak.growthMibPerMin.toFixed(1) + ' MiB/min';
    }
    el.textContent = text;
    el.className = 'badge ' + cls;
    el.title = leak.evidence || 'leak verdict: ' + leak.reason;
    el.hidden = false;
  }

  function renderPressureBadge(under, reason) {
    const el = $('pressure');
    if (under == null) { el.hidden = true; return; }
    el.textContent = under ? 'shedding load' + (reason ? ' · ' + reason : '') : 'no pressure';
    el.className = 'badge ' + (under ? 'bad' : 'ok');
    el.hidden = false;
  }

  // ---------- stream ----------
  function setMode(mode, text) {
    const el = $('mode');
    el.dataset.mode = mode;
    el.textContent = text || mode;
    probe.mode = mode;
  }

  function handleBlock(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    st.lastEventAt = Date.now();
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join('\n')); } catch (_) { return; }
    if (event === 'snapshot') onSnapshot(payload);
    else if (event === 'history') onHistory(payload);
  }

  async function readStream() {
    const ctrl = new AbortController();
    st.abort = ctrl;
    const url = 'dashboard/stream' + (st.live.length ? '' : '?history=1');
    const res = await fetch(url, { headers: headers('text/event-stream'), cache: 'no-store', signal: ctrl.signal });
    if (res.status === 401) throw new AuthError('unauthorized');
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error('stream: HTTP ' + res.status);
    }
    stopPolling();
    setMode('live', 'live');
    st.lastEventAt = Date.now();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        handleBlock(buf.slice(0, i));
        buf = buf.slice(i + 2);
      }
    }
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function streamLoop() {
    while (!st.stopped) {
      try {
        await readStream(); // ends after the server's stream lifetime: reconnect at once
      } catch (e) {
        if (st.stopped) return;
        if (e instanceof AuthError) return authLost();
        startPolling();
        await sleep(STREAM_RETRY_MS);
      }
    }
  }

  function watchdog() {
    if (probe.mode === 'live' && Date.now() - st.lastEventAt > STREAM_STALL_MS && st.abort) st.abort.abort();
  }

  // ---------- polling fallback ----------
  function startPolling() {
    if (st.polling || st.stopped) return;
    setMode('polling', 'polling every 2 s');
    const tick = async () => {
      try {
        const d = await api('dashboard?minutes=1');
        onSnapshot(snapshotFromDashboard(d));
        renderDashboard(d);
      } catch (e) {
        if (e instanceof AuthError) return authLost();
        setMode('offline', 'server unreachable');
      }
    };
    tick();
    st.polling = setInterval(tick, POLL_MS);
  }

  function stopPolling() {
    if (st.polling) clearInterval(st.polling);
    st.polling = null;
  }

  // ---------- panels ----------
  async function refreshDashboard() {
    const d = await api('dashboard?minutes=1');
    renderDashboard(d);
    return d;
  }

  async function refreshTrends() {
    if (st.range <= LIVE_SPAN) return;
    const stored = await historyTrend(st.range);
    if (stored) {
      st.trend = stored;
      render();
      return;
    }
    const minutes = st.range >= 86400 ? 1440 : 60;
    const d = await api('dashboard?minutes=' + minutes);
    st.trend = ((d.trends || {}).points || []).map((m) => {
      const t = Date.parse(m.timestamp) / 1000 + 30;
      return {
        t,
        rps: isNum(m.requests) ? m.requests / 60 : null,
        p95: m.p95Ms,
        err: m.requests > 0 ? (m.errors / m.requests) * 100 : 0,
        rss: m.rssBytes, heap: m.heapBytes, cpu: m.cpuPercent,
        busy: isNum(m.busyRatio) ? m.busyRatio * 100 : null,
      };
    });
    renderDashboard(d);
    render();
  }

  function renderDashboard(d) {
    const health = (d.health || {}).status;
    const hb = $('health');
    if (health) {
      hb.textContent = 'health: ' + health;
      hb.className = 'badge ' + health;
      const issues = (d.health.issues || []).map((i) => i.check + ': ' + (i.output || i.status));
      hb.title = issues.length ? issues.join('\n') : 'all checks pass';
      hb.hidden = false;
    }
    renderAlerts(d.alerts || {});
    renderRecommendations(d.recommendations || []);
    renderProtection(d.protection || {});
    if (!st.latest) updateKpis(snapshotFromDashboard(d));
    const leak = ((d.realTime || {}).memory || {}).leak;
    if (leak && leak.evidence) $('leak').title = leak.evidence;
  }

  function renderAlerts(alerts) {
    const box = $('alerts');
    const active = alerts.active || [];
    const resolved = alerts.recentlyResolved || [];
    const item = (a, isResolved) => h('div', { class: 'item ' + (isResolved ? 'resolved' : a.severity) },
      h('div', {}, badge(isResolved ? 'resolved' : a.severity, isResolved ? 'ok' : a.severity), ' ', h('strong', {}, a.type)),
      h('p', {}, a.message),
      h('div', { class: 'meta' },
        'value ' + fmtNum(a.value) + ' · threshold ' + fmtNum(a.threshold) +
        (isResolved ? ' · resolved ' + fmtTime(a.resolvedAt) : ' · firing since ' + fmtTime(a.firingSince))));
    const children = active.map((a) => item(a, false)).concat(resolved.map((a) => item(a, true)));
    box.replaceChildren(...(children.length ? children : [h('p', { class: 'empty-note' }, 'No active or recently resolved alerts.')]));
  }

  function fmtNum(v) {
    if (!isNum(v)) return dash;
    if (Math.abs(v) >= 2 ** 20) return fmtBytes(v);
    if (Number.isInteger(v)) return fmtInt(v);
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(2);
  }

  function renderRecommendations(recs) {
    const box = $('recommendations');
    const children = recs.map((r) => h('div', { class: 'item ' + r.priority },
      h('div', {}, badge(r.priority, r.priority), ' ', h('strong', {}, r.type)),
      h('p', {}, r.message),
      h('div', { class: 'meta' }, r.action)));
    box.replaceChildren(...(children.length ? children : [h('p', { class: 'empty-note' }, 'Nothing to recommend right now.')]));
  }

  // Protection layers: whatever keys the dashboard's `protection` object has.
  function renderValue(v, depth) {
    if (v == null) return dash;
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'number') return fmtNum(v);
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return fmtTime(v);
    if (typeof v !== 'object') return String(v);
    if (depth > 2) return JSON.stringify(v);
    if (Array.isArray(v)) {
      if (!v.length) return 'none';
      if (v.every((x) => x === null || typeof x !== 'object')) return v.map((x) => renderValue(x, depth + 1)).join(', ');
      return h('div', { class: 'list' }, v.map((x) => renderGroup(x && (x.name || x.id), x, depth + 1)));
    }
    return kv(v, depth + 1);
  }

  // Nested objects become rows labelled `parent · child`, so a panel stays two columns wide.
  function flatten(obj, prefix, depth, out) {
    for (const [k, v] of Object.entries(obj)) {
      const label = prefix ? prefix + ' · ' + humanize(k) : humanize(k);
      if (v && typeof v === 'object' && !Array.isArray(v) && depth < 3) flatten(v, label, depth + 1, out);
      else out.push([label, v]);
    }
    return out;
  }

  function kv(obj, depth) {
    const rows = flatten(obj, '', depth, []);
    if (!rows.length) return 'none';
    return h('dl', { class: 'kv' }, rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, renderValue(v, depth + 1))]));
  }

  function stateBadge(obj) {
    if (!obj || typeof obj !== 'object') return null;
    if ('underPressure' in obj) return badge(obj.underPressure ? 'shedding' : 'ok', obj.underPressure ? 'bad' : 'ok');
    if (typeof obj.state === 'string') {
      const s = obj.state.toLowerCase();
      return badge(obj.state, s === 'closed' ? 'ok' : s.includes('half') ? 'warn' : s === 'open' ? 'bad' : '');
    }
    return null;
  }

  function renderGroup(title, value, depth) {
    const rest = value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'name'))
      : value;
    return h('div', { class: 'item group' },
      h('h3', {}, title != null ? humanize(title) : '', ' ', stateBadge(value)),
      renderValue(rest, depth));
  }

  function renderProtection(p) {
    const box = $('protection');
    const entries = Object.entries(p);
    box.replaceChildren(...(entries.length
      ? entries.map(([k, v]) => renderGroup(k, v, 0))
      : [h('p', { class: 'empty-note' }, 'No protection layer reports here.')]));
  }

  // Sortable tables.
  function renderTable(id, rows, columns, pinned) {
    const table = $(id);
    st.rows[id] = { rows, columns, pinned };
    const sort = st.sorts[id];
    const sorted = rows.slice();
    if (sort) {
      sorted.sort((a, b) => {
        const x = a[sort.key], y = b[sort.key];
        if (x == null && y == null) return 0;
        if (x == null) return 1;
        if (y == null) return -1;
        return (typeof x === 'string' ? x.localeCompare(y) : x - y) * sort.dir;
      });
      for (const th of table.tHead.rows[0].cells) {
        th.setAttribute('aria-sort', th.dataset.key === sort.key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none');
      }
    }
    const all = sorted.concat(pinned || []);
    const body = all.map((r) => h('tr', { class: r.cls },
      columns.map((c) => h('td', { class: c.cls, title: c.title ? r[c.key] : null }, c.fmt ? c.fmt(r[c.key], r) : r[c.key] ?? dash))));
    table.tBodies[0].replaceChildren(...(body.length ? body
      : [h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, 'No requests yet.'))]));
  }

  function wireSorting(id) {
    $(id).tHead.addEventListener('click', (e) => {
      const th = e.target.closest('th');
      if (!th || !th.dataset.key) return;
      const cur = st.sorts[id];
      st.sorts[id] = { key: th.dataset.key, dir: cur && cur.key === th.dataset.key ? -cur.dir : (th.classList.contains('num') ? -1 : 1) };
      const saved = st.rows[id];
      if (saved) renderTable(id, saved.rows, saved.columns, saved.pinned);
    });
  }

  const num = (fmt) => ({ cls: 'num', fmt });

  async function refreshRoutes() {
    const s = await api('../health/performance/v2/stats');
    const span = (((s.windows || {}).lastMinute) || {}).spanSeconds || 60;
    const rows = (s.routes || []).map((r) => {
      const recent = r.lastFiveMinutes || null;
      return {
        method: r.method, route: r.route,
        count: r.sinceStart.count,
        rate: r.lastMinute ? r.lastMinute.count / span : 0,
        p95: recent ? recent.p95Ms : null,
        p99: recent ? recent.p99Ms : null,
        errors: r.sinceStart.errors,
        errorRate: r.sinceStart.errorRate * 100,
        // Per-request CPU and allocations, where the monitor measured (sampled) some.
        cpu: r.resources && r.resources.measured > 0 ? r.resources.cpuMsPerRequest : null,
        alloc: r.resources && r.resources.measured > 0 ? r.resources.allocatedBytesPerRequest : null,
      };
    });
    renderTable('routes', rows, [
      { key: 'method' }, { key: 'route', cls: 'path', title: true },
      { key: 'count', ...num(fmtInt) }, { key: 'rate', ...num(fmtRate) },
      { key: 'p95', ...num(fmtMs) }, { key: 'p99', ...num(fmtMs) },
      { key: 'errors', ...num(fmtInt) }, { key: 'errorRate', ...num(fmtPct) },
      { key: 'cpu', ...num(fmtMs) }, { key: 'alloc', ...num(fmtAlloc) },
    ]);
  }

  async function refreshSlow() {
    // The dashboard's own streams last a minute each: not what an operator looks for here.
    const s = await api('../health/performance/slow?limit=40');
    $('slow-hint').textContent = 'of the last ' + fmtInt(s.ringCapacity) + ' requests · slow above ' + fmtMs(s.slowThresholdMs);
    const rows = (s.requests || []).filter((r) => !r.path.endsWith('/metrics/dashboard/stream')).slice(0, 10).map((r) => ({
      time: r.timestamp, method: r.method, path: r.path, status: r.statusCode, duration: r.duration,
      org: r.organizationId ?? null, correlation: r.correlationId ?? null, trace: r.traceId ?? null,
      cls: r.isErrorResponse ? 'err' : null,
    }));
    renderTable('slow', rows, [
      { key: 'time', fmt: fmtTime }, { key: 'method' }, { key: 'path', cls: 'path', title: true },
      { key: 'status', cls: 'num status' }, { key: 'duration', ...num(fmtMs) },
      { key: 'org' }, { key: 'correlation', cls: 'mono', title: true }, { key: 'trace', cls: 'mono', title: true },
    ]);
  }

  async function refreshOrgs() {
    const o = await api('dashboard/organizations?limit=20');
    const row = (x, cls) => ({
      id: x.organizationId, m1: x.lastMinute.count, m5: x.lastFiveMinutes.count, all: x.sinceStart.count,
      p95: x.lastFiveMinutes.count ? x.lastFiveMinutes.p95Ms : null,
      errorRate: x.sinceStart.errorRate * 100, cls,
    });
    const pinned = [];
    if (o.overflow) {
      const r = row(o.overflow, 'overflow');
      r.id = 'beyond the ' + fmtInt(o.maxOrganizations) + ' tracked (overflow)';
      pinned.push(r);
    }
    $('orgs-hint').textContent = fmtInt(o.tracked) + ' tracked (max ' + fmtInt(o.maxOrganizations) + ')' +
      (o.omitted ? ' · ' + fmtInt(o.omitted) + ' quieter not shown' : '');
    renderTable('orgs', (o.organizations || []).map((x) => row(x, null)), [
      { key: 'id', cls: 'path', title: true }, { key: 'm1', ...num(fmtInt) }, { key: 'm5', ...num(fmtInt) },
      { key: 'all', ...num(fmtInt) }, { key: 'p95', ...num(fmtMs) }, { key: 'errorRate', ...num(fmtPct) },
    ], pinned);
  }

  // The application's own metrics (vitals_metrics registry): one row per series.
  async function refreshCustom() {
    const c = await api('dashboard/custom?limit=20');
    if (!c.enabled) {
      $('custom-hint').textContent = 'no registry: see "Your own metrics" in the README';
      renderTable('custom', [], customColumns);
      return;
    }
    const rows = [];
    let omitted = 0;
    for (const f of c.families || []) {
      omitted += f.seriesOmitted || 0;
      const unit = f.unit ? ' ' + f.unit : '';
      for (const s of f.series || []) {
        const hist = s.histogram;
        rows.push({
          name: f.name, type: f.type, unit,
          labels: Object.entries(s.labels || {}).map(([k, v]) => k + '=' + v).join(', '),
          value: s.value ?? null,
          p50: hist ? hist.p50 : null, p95: hist ? hist.p95 : null, p99: hist ? hist.p99 : null,
          count: hist ? hist.count : null,
          cls: s.overflow ? 'overflow' : null,
        });
      }
    }
    $('custom-hint').textContent = fmtInt(c.series) + ' series (max ' + fmtInt(c.limits.maxSeries) + ')' +
      ' · overflowed ' + fmtInt(c.overflowed) + ' · refused ' + fmtInt(c.refusedTotal) +
      (omitted ? ' · ' + fmtInt(omitted) + ' series not shown' : '');
    renderTable('custom', rows, customColumns);
  }
  const withUnit = (v, r) => (isNum(v) ? fmtNum(v) + r.unit : dash);
  const customColumns = [
    { key: 'name', cls: 'path', title: true }, { key: 'type' }, { key: 'labels', cls: 'path', title: true },
    { key: 'value', ...num(withUnit) }, { key: 'p50', ...num(withUnit) }, { key: 'p95', ...num(withUnit) },
    { key: 'p99', ...num(withUnit) }, { key: 'count', ...num(fmtInt) },
  ];

  // ---------- history store and budgets (feature `history`) ----------
  // The service and system series of the store over the range (1-minute points, hourly for
  // 7 days) in the charts' point shape; null when the server keeps no history.
  async function historyTrend(range) {
    if (st.history === false) return null;
    const now = Math.floor(Date.now() / 1000);
    const q = 'from=' + (now - range) + '&to=' + now + '&step=' + (range > 86400 ? '1h' : '1m');
    let service, system;
    try {
      [service, system] = await Promise.all([api('history?series=service&' + q), api('history?series=system&' + q)]);
    } catch (e) {
      if (e instanceof AuthError) throw e;
      st.history = false; // 503 (no store) or not served: the in-memory trend instead
      return null;
    }
    if (!service.points || !system.points) {
      st.history = false;
      return null;
    }
    st.history = true;
    const step = range > 86400 ? 3600 : 60;
    const byT = new Map();
    const at = (t) => {
      if (!byT.has(t)) byT.set(t, { t: t + step / 2 });
      return byT.get(t);
    };
    for (const p of service.points) {
      Object.assign(at(p.t), {
        rps: p.count / step, p50: p.p50, p95: p.p95, p99: p.p99,
        err: p.count > 0 ? (p.errors / p.count) * 100 : 0,
      });
    }
    const mean = (g) => (g && isNum(g.mean) ? g.mean : null);
    for (const p of system.points) {
      Object.assign(at(p.t), {
        rss: mean(p.rssBytes), heap: mean(p.heapBytes), cpu: mean(p.cpuPercent),
        busy: isNum(mean(p.busyRatio)) ? mean(p.busyRatio) * 100 : null,
        delay: mean(p.schedulingDelayMs),
      });
    }
    probe.historyPoints = byT.size;
    return [...byT.values()].sort((a, b) => a.t - b.t);
  }

  // Each budget: status, SLI over its window, objective, budget left and burn rates.
  async function refreshBudgets() {
    if (st.noBudgets) return;
    let b;
    try {
      b = await api('../health/performance/budgets');
    } catch (e) {
      if (e instanceof AuthError) throw e;
      b = {}; // not served (no `history` feature): the panel stays hidden
    }
    if (!b.configured) st.noBudgets = true;
    const list = b.budgets || [];
    $('budgets-card').hidden = !(b.configured || []).length;
    const at = isNum(b.evaluatedAtMinute) ? fmtTime(b.evaluatedAtMinute * 60000) : 'not yet';
    $('budgets-hint').textContent = 'evaluated at ' + at + ' · burn rate 1 spends the budget exactly over its window';
    const pct = (v, digits) => (isNum(v) ? (v * 100).toFixed(digits) + ' %' : dash);
    const statusCls = { ok: 'ok', ticket: 'warning', page: 'critical' };
    const rows = list.map((x) => h('tr', { 'data-budget': x.name },
      h('td', { class: 'path' }, x.name),
      h('td', {}, badge(x.status, statusCls[x.status] || '')),
      h('td', { class: 'num' }, pct(x.sli, 3)),
      h('td', { class: 'num' }, pct(x.objective, 2)),
      h('td', { class: 'num' }, pct(x.errorBudgetRemaining, 1)),
      ...(x.burnRates || []).map((r) => h('td', { class: 'num', title: fmtInt(r.bad) + ' bad of ' + fmtInt(r.total) }, fmtNum(r.rate)))));
    $('budgets').tBodies[0].replaceChildren(...rows);
    probe.budgets = list.length;
  }

  function guard(fn) {
    return async () => {
      try {
        await fn();
      } catch (e) {
        if (e instanceof AuthError) authLost();
        else if (!st.stopped) showNotice('Could not refresh: ' + e.message);
      }
    };
  }

  function showNotice(text) {
    const n = $('notice');
    n.textContent = text;
    n.hidden = !text;
  }

  // ---------- range ----------
  function setRange(seconds) {
    st.range = seconds;
    for (const b of document.querySelectorAll('.range button')) {
      b.setAttribute('aria-pressed', String(Number(b.dataset.range) === seconds));
    }
    if (seconds > LIVE_SPAN) {
      st.trend = [];
      guard(refreshTrends)();
    }
    render();
  }

  // ---------- auth and start ----------
  function showLogin(message) {
    $('main').hidden = true;
    document.querySelector('.range').hidden = true;
    setMode('offline', 'token needed');
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token').focus();
  }

  function authLost() {
    stopAll();
    st.token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin('The token was not accepted. Enter it again.');
  }

  function stopAll() {
    st.stopped = true;
    st.started = false;
    if (st.abort) st.abort.abort();
    stopPolling();
    for (const t of st.timers) clearInterval(t);
    st.timers = [];
  }

  function start() {
    if (st.started) return;
    st.started = true;
    st.stopped = false;
    $('login').hidden = true;
    $('main').hidden = false;
    document.querySelector('.range').hidden = false;
    $('logout').hidden = !st.token;
    buildCharts();
    for (const c of st.charts) resizer.observe(c.el);
    const routes = guard(refreshRoutes);
    const slow = guard(refreshSlow);
    const orgs = guard(refreshOrgs);
    const custom = guard(refreshCustom);
    const budgets = guard(refreshBudgets);
    const dashboard = guard(async () => { if (!st.polling) { await refreshDashboard(); showNotice(''); } });
    const trends = guard(refreshTrends);
    routes(); slow(); orgs(); custom(); budgets();
    st.timers.push(
      setInterval(() => { routes(); slow(); dashboard(); custom(); budgets(); }, PANELS_MS),
      setInterval(orgs, ORGS_MS),
      setInterval(trends, TRENDS_MS),
      setInterval(watchdog, 5000),
      setInterval(() => { trimLive(); if (probe.mode !== 'live') scheduleRender(); }, 1000),
    );
    streamLoop();
  }

  async function enter() {
    try {
      await refreshDashboard();
    } catch (e) {
      if (e instanceof AuthError) return showLogin(st.token ? 'The token was not accepted.' : '');
      if (e instanceof ForbiddenError) {
        setMode('offline', 'forbidden');
        return showNotice(e.message);
      }
      setMode('offline', 'server unreachable');
      showNotice('Could not load the dashboard: ' + e.message);
      setTimeout(enter, 5000);
      return;
    }
    start();
  }

  function wire() {
    $('login-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('token').value.trim();
      if (!token) return;
      st.token = token;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('token').value = '';
      enter();
    });
    $('logout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      location.reload();
    });
    for (const b of document.querySelectorAll('.range button')) {
      b.addEventListener('click', () => setRange(Number(b.dataset.range)));
    }
    wireSorting('routes');
    wireSorting('orgs');
    wireSorting('custom');
    window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (st.started) buildCharts();
    });
  }

  wire();
  enter();
})();
