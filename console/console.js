// CTI Server operator console. Plain browser JavaScript, no dependencies:
// the server embeds this file and serves it itself (no CDN, no bundler).
//
// The internal secret lives in sessionStorage (this tab only) and travels
// as `Authorization: Bearer`; never in a URL, a cookie or localStorage. The
// live stream opens the server's WebSocket view with a short-lived ticket.
'use strict';

(() => {
  const KEY = 'cti-console-secret';
  const REFRESH_MS = 2000;      // the overview
  const APPS_REFRESH_MS = 10000; // the apps list (one query over every app)
  const HISTORY = 60; // samples per chart: two minutes
  const STREAM_ROWS = 200;

  const $ = (sel, root = document) => root.querySelector(sel);
  const views = ['signin', 'overview', 'apps', 'stream', 'dead'];
  let timer = null;
  let apps = [];
  let appsTruncated = false; // the server lists the newest 1000
  let socket = null;
  let streamRun = 0;      // bumped by every start and stop: a late answer is dropped
  let lastSeq = null;     // the stream's last seq seen (reconnects resume after it)
  let reconnectTimer = null;
  const series = {};
  const lastTotals = {};  // per node: behind a load balancer requests reach any

  // -- helpers ---------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function badge(text, tone) {
    return el('span', { class: `badge ${tone}`, text });
  }

  const callTone = {
    ringing: 'info', active: 'ok', held: 'info', ended: 'idle',
    missed: 'warn', rejected: 'bad', voicemail: 'warn',
  };
  const dialpadTone = { connected: 'ok', registered: 'info', needs_reauth: 'warn' };

  function when(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
  }

  function duration(seconds) {
    const s = Math.floor(seconds);
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    return `${m}m ${s % 60}s`;
  }

  function toast(text) {
    const t = $('#toast');
    t.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.textContent = ''; }, 4000);
  }

  class HttpError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status;
    }
  }

  async function api(method, path, body, raw = false) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ''}` };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch { data = null; }
    }
    if (res.status === 401) {
      signOut('The secret was not accepted. Sign in again.');
      throw new HttpError(401, data);
    }
    if (!res.ok) throw new HttpError(res.status, data);
    return raw ? text : data;
  }

  // -- navigation --------------------------------------------------------------

  function show(view) {
    for (const v of views) $(`#view-${v}`).hidden = v !== view;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    document.title = `${view === 'signin' ? 'Sign in' : $(`#${view}-title`).textContent} · CTI Server console`;
  }

  function route() {
    const signedIn = !!sessionStorage.getItem(KEY);
    $('#nav').hidden = !signedIn;
    $('#sign-out').hidden = !signedIn;
    if (!signedIn) {
      stopTimer();
      show('signin');
      $('#secret').focus();
      return;
    }
    let view = location.hash.replace('#', '');
    if (!views.includes(view) || view === 'signin') view = 'overview';
    show(view);
    stopTimer();
    if (view === 'overview') startTimer(refreshOverview);
    if (view === 'apps') startTimer(refreshApps, APPS_REFRESH_MS);
    if (view === 'stream' || view === 'dead') loadAppChoices();
    if (view === 'dead' && $('#dead-app').value) loadDead();
  }

  // One refresh at a time: the next is due `every` ms after one ends.
  function startTimer(fn, every = REFRESH_MS) {
    const run = async () => {
      try { await fn(); } finally { if (timer === handle) handle.id = setTimeout(run, every); }
    };
    const handle = { id: null };
    timer = handle;
    run();
  }

  function stopTimer() {
    if (timer) clearTimeout(timer.id);
    timer = null;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    stopStream();
    for (const k of Object.keys(lastTotals)) delete lastTotals[k];
    for (const k of Object.keys(series)) delete series[k];
    $('#signin-error').textContent = message || '';
    if (location.hash !== '#signin') history.replaceState(null, '', '#signin');
    route();
  }

  // -- sign in -----------------------------------------------------------------

  async function signIn(ev) {
    ev.preventDefault();
    const secret = $('#secret').value;
    $('#signin-error').textContent = '';
    // Checked against an endpoint that needs it before it is kept.
    const res = await fetch('/internal/cluster', {
      headers: { Authorization: `Bearer ${secret}` }, cache: 'no-store',
    }).catch(() => null);
    if (!res || !res.ok) {
      $('#signin-error').textContent = !res ? 'The server cannot be reached.'
        : res.status === 429 ? 'Too many failed attempts. Wait a minute and try again.'
          : 'That secret is not accepted.';
      return;
    }
    sessionStorage.setItem(KEY, secret);
    $('#secret').value = '';
    if (!location.hash || location.hash === '#signin') location.hash = '#overview';
    else route();
  }

  // -- overview ------------------------------------------------------------------

  function sparkline(values) {
    const w = 200, h = 48;
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    if (values.length < 2) return svg;
    const max = Math.max(...values, 1e-9), min = Math.min(0, ...values);
    const step = w / (HISTORY - 1);
    const x0 = w - step * (values.length - 1);
    const pts = values.map((v, i) =>
      `${(x0 + i * step).toFixed(1)},${(h - 2 - ((v - min) / (max - min || 1)) * (h - 4)).toFixed(1)}`);
    const area = document.createElementNS(svg.namespaceURI, 'polygon');
    area.setAttribute('class', 'area');
    area.setAttribute('points', `${x0.toFixed(1)},${h} ${pts.join(' ')} ${w},${h}`);
    const line = document.createElementNS(svg.namespaceURI, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.append(area, line);
    return svg;
  }

  // One sample of a Prometheus text exposition (the first series of `name`).
  function promValue(text, name) {
    for (const line of (text || '').split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== '{' && rest[0] !== ' ') continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      return Number.isFinite(v) ? v : null;
    }
    return null;
  }

  function record(name, value) {
    const s = series[name] || (series[name] = []);
    s.push(value);
    if (s.length > HISTORY) s.shift();
    return s;
  }

  function tile(id, title, text, values, note) {
    const t = el('div', { class: 'tile', id: `tile-${id}`, role: 'group', 'aria-labelledby': `tile-${id}-h` },
      el('h3', { id: `tile-${id}-h`, text: title }),
      el('p', { class: 'value', text }),
      values ? sparkline(values) : null,
      note ? el('p', { class: 'muted', text: note }) : null);
    return t;
  }

  async function refreshOverview() {
    let health = null, metrics = null, cluster = null, prom = '';
    try {
      [health, metrics, cluster, prom] = await Promise.all([
        fetch('/health', { cache: 'no-store' }).then((r) => r.json().catch(() => null)).catch(() => null),
        api('GET', '/metrics'),
        api('GET', '/internal/cluster'),
        api('GET', '/metrics?format=prometheus', undefined, true),
      ]);
    } catch (e) {
      if (e.status !== 401) $('#ov-updated').textContent = `Refresh failed: ${e.message}`;
      return;
    }
    const healthy = health && health.status === 'healthy';
    const hb = $('#ov-health');
    hb.textContent = health ? (healthy ? 'Healthy' : 'Unhealthy') : 'Unreachable';
    hb.className = `badge ${healthy ? 'ok' : 'bad'}`;
    $('#ov-node').textContent = `Node ${metrics.node} · up ${duration(metrics.uptime_seconds)}`;
    $('#ov-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;

    const now = performance.now();
    let rate = 0;
    const prev = lastTotals[metrics.node];
    if (prev && now > prev.at)
      rate = Math.max(0, (metrics.total_requests - prev.requests) / ((now - prev.at) / 1000));
    // Arrival → applied, from the histogram's sum and count: the mean over
    // the events processed since the previous refresh (none: no figure).
    const latSum = promValue(prom, 'cti_event_processing_latency_seconds_sum');
    const latCount = promValue(prom, 'cti_event_processing_latency_seconds_count');
    let latency = null;
    if (prev && latCount !== null && prev.latCount !== null && latCount > prev.latCount)
      latency = ((latSum - prev.latSum) / (latCount - prev.latCount)) * 1000;
    lastTotals[metrics.node] = { at: now, requests: metrics.total_requests, latSum, latCount };
    if (latency !== null) record('latency', latency);
    const ev = metrics.event_processor || {};
    const ws = metrics.websocket || {};
    const tiles = [
      tile('requests', 'Requests per second', rate.toFixed(1), record('rate', rate)),
      tile('errors', 'Error rate (5xx, 5 min)', `${(metrics.error_rate * 100).toFixed(2)} %`,
        record('errors', metrics.error_rate * 100)),
      tile('queue', 'Queue length', String(ev.queue_length ?? '—'), record('queue', ev.queue_length || 0),
        `${ev.dead ?? 0} dead · ${ev.processed_last_minute ?? 0} processed in the last minute`),
      tile('latency', 'Processing latency', latency === null ? 'idle' : `${latency.toFixed(1)} ms`,
        series.latency || [],
        `arrival → applied, mean of the last ${REFRESH_MS / 1000} s · avg_processing_time_ms ${(ev.avg_processing_time_ms || 0).toFixed(2)}`),
      tile('websocket', 'WebSocket connections', String(ws.connections ?? 0), record('ws', ws.connections || 0),
        `${ws.messages_sent ?? 0} frames sent · ${ws.dropped_slow_consumers ?? 0} slow clients dropped`),
      tile('memory', 'Memory', `${(metrics.memory_usage_mb || 0).toFixed(1)} MiB`,
        record('memory', metrics.memory_usage_mb || 0),
        `${metrics.active_connections} HTTP connections · pool ${metrics.database_connection_pool.active} active`),
    ];
    $('#ov-tiles').replaceChildren(...tiles);

    const rows = (cluster.nodes && cluster.nodes.length ? cluster.nodes
      : [{ name: cluster.node, host: '', port: '', status: 'self', heartbeat_age_ms: null }])
      .map((n) => el('tr', {},
        el('td', {}, el('strong', { text: n.name }), n.name === cluster.node ? ' (this node)' : ''),
        el('td', { text: n.host ? `${n.host}:${n.port}` : '—' }),
        el('td', {}, badge(n.status, n.status === 'connected' || n.status === 'self' ? 'ok'
          : n.status === 'connecting' ? 'info' : 'bad')),
        el('td', { text: n.heartbeat_age_ms === null || n.heartbeat_age_ms === undefined ? '—'
          : `${(n.heartbeat_age_ms / 1000).toFixed(1)} s` }),
        el('td', { text: when(n.link_since) })));
    $('#ov-nodes tbody').replaceChildren(...rows);
  }

  // -- apps ----------------------------------------------------------------------

  function confirmDialog(text, okLabel, danger) {
    const d = $('#confirm');
    $('#confirm-text').textContent = text;
    const ok = $('#confirm-ok');
    ok.textContent = okLabel;
    ok.className = danger ? 'danger' : '';
    d.returnValue = '';
    const opener = document.activeElement;
    d.showModal();
    return new Promise((resolve) => {
      d.addEventListener('close', () => {
        if (opener && opener.isConnected) opener.focus();
        resolve(d.returnValue === 'ok');
      }, { once: true });
    });
  }

  async function act(label, fn) {
    try {
      await fn();
    } catch (e) {
      if (e.status !== 401) toast(`${label} failed: ${e.message}`);
    }
  }

  function appRow(a) {
    const dp = a.dialpad;
    const key = a.api_key || {};
    const toggle = el('button', {
      type: 'button', class: a.is_active ? 'danger' : '',
      text: a.is_active ? 'Disable' : 'Enable',
      'aria-label': `${a.is_active ? 'Disable' : 'Enable'} ${a.name}`,
      onclick: () => act('Changing the app', async () => {
        const ok = await confirmDialog(a.is_active
          ? `Disable “${a.name}”? Its API key stops working and its WebSocket clients are disconnected.`
          : `Enable “${a.name}” again?`, a.is_active ? 'Disable' : 'Enable', a.is_active);
        if (!ok) return;
        await api('PATCH', `/internal/apps/${a.id}`, { is_active: !a.is_active });
        toast(`${a.name} ${a.is_active ? 'disabled' : 'enabled'}`);
        refreshApps();
      }),
    });
    const rotate = el('button', {
      type: 'button', class: 'quiet', text: key.has_key ? 'Rotate key' : 'Create key',
      'aria-label': `${key.has_key ? 'Rotate the API key of' : 'Create an API key for'} ${a.name}`,
      onclick: () => act('Rotating the key', async () => {
        const ok = await confirmDialog(key.has_key
          ? `Rotate the API key of “${a.name}”? The current key stops working at once on every node.`
          : `Create an API key for “${a.name}”?`, key.has_key ? 'Rotate' : 'Create', key.has_key);
        if (!ok) return;
        const res = await api('POST', `/internal/apps/${a.id}/api-key`);
        showNewKey(res.api_key);
        refreshApps();
      }),
    });
    const connect = el('button', {
      type: 'button', class: 'quiet', text: dp && dp.status === 'connected' ? 'Reconnect Dialpad' : 'Connect Dialpad',
      'aria-label': `Connect ${a.name} to Dialpad`,
      onclick: () => act('Connecting Dialpad', async () => {
        const env = dp ? dp.environment : 'production';
        const ok = await confirmDialog(`Connect “${a.name}” to Dialpad (${env})? A Dialpad sign-in opens in a new window.`,
          'Continue', false);
        if (!ok) return;
        const res = await api('GET', `/auth/dialpad/connect?app_id=${encodeURIComponent(a.id)}` +
          `&environment=${encodeURIComponent(env)}&redirect=false`);
        const w = window.open('about:blank', '_blank');
        if (!w) {
          toast('The browser blocked the Dialpad window; allow pop-ups for this page.');
          return;
        }
        w.opener = null; // Dialpad's page gets no handle on the console
        w.location.href = res.location;
      }),
    });
    const ev = a.events || {};
    return el('tr', { 'data-app': a.id },
      el('td', {}, el('strong', { text: a.name }), el('span', { class: 'sub', text: a.id })),
      el('td', {}, badge(a.is_active ? 'active' : 'disabled', a.is_active ? 'ok' : 'bad')),
      el('td', {}, key.has_key ? el('code', { text: key.key_hint }) : el('span', { class: 'muted', text: 'none' })),
      el('td', { text: when(key.rotated_at || key.created_at) }),
      el('td', {}, dp ? badge(dp.status, dialpadTone[dp.status] || 'idle') : el('span', { class: 'muted', text: 'not connected' }),
        dp ? el('span', { class: 'sub', text: `${dp.environment}${dp.dialpad_org_id ? ` · org ${dp.dialpad_org_id}` : ''}` }) : null),
      el('td', {}, el('span', { text: `${ev.last_seq ?? 0} streamed` }),
        el('span', { class: 'sub', text: `${ev.pending ?? 0} pending · ${ev.failed ?? 0} retrying · ${ev.dead ?? 0} dead` })),
      el('td', { class: 'actions' }, toggle, rotate, connect));
  }

  function showNewKey(key) {
    const d = $('#new-key');
    const input = $('#new-key-value');
    input.value = key;
    $('#new-key-copied').textContent = '';
    const opener = document.activeElement;
    d.addEventListener('close', () => {
      input.value = '';
      if (opener && opener.isConnected) opener.focus();
    }, { once: true });
    d.showModal();
    input.select();
  }

  async function copyKey() {
    const input = $('#new-key-value');
    try {
      await navigator.clipboard.writeText(input.value);
    } catch {
      input.select();
      document.execCommand('copy');
    }
    $('#new-key-copied').textContent = 'Copied to the clipboard.';
  }

  // Replaces a table body's rows; the button that had the focus (found
  // again by its row's `key` attribute and its label) gets it back.
  function replaceKeepingFocus(body, rows, key) {
    const active = document.activeElement;
    const row = active && body.contains(active) ? active.closest(`tr[${key}]`) : null;
    const id = row ? row.getAttribute(key) : null;
    const label = active ? active.getAttribute('aria-label') : null;
    body.replaceChildren(...rows);
    if (id === null) return;
    const again = body.querySelector(`tr[${key}="${CSS.escape(id)}"]`);
    const target = again && [...again.querySelectorAll('button')].find((b) => b.getAttribute('aria-label') === label);
    (target || again?.querySelector('button'))?.focus();
  }

  async function fetchApps() {
    const res = await api('GET', '/internal/console/apps');
    apps = res.data || [];
    appsTruncated = !!res.truncated;
    return apps;
  }

  async function refreshApps() {
    // No redraw while a dialog is open: the operator is acting on a row.
    if ($('#confirm').open || $('#new-key').open) return;
    try {
      await fetchApps();
    } catch (e) {
      if (e.status !== 401) $('#apps-count').textContent = `Refresh failed: ${e.message}`;
      return;
    }
    $('#apps-count').textContent = appsTruncated ? `The newest ${apps.length} apps (there are more)`
      : `${apps.length} app${apps.length === 1 ? '' : 's'}`;
    const rows = apps.length ? apps.map(appRow)
      : [el('tr', {}, el('td', { class: 'empty', colspan: '7', text: 'No apps yet (POST /internal/apps).' }))];
    replaceKeepingFocus($('#apps-table tbody'), rows, 'data-app');
  }

  async function loadAppChoices() {
    try {
      await fetchApps();
    } catch {
      return;
    }
    for (const sel of [$('#stream-app'), $('#dead-app')]) {
      const current = sel.value;
      sel.replaceChildren(...apps.map((a) => el('option', { value: a.id, text: `${a.name} (${a.id.slice(0, 8)})` })));
      if (apps.some((a) => a.id === current)) sel.value = current;
    }
  }

  // -- live stream -------------------------------------------------------------------

  function streamState(text) {
    $('#stream-state').textContent = text;
  }

  function stopStream() {
    streamRun += 1;
    clearTimeout(reconnectTimer);
    if (socket) {
      socket.onclose = null;
      socket.close(1000);
    }
    socket = null;
    $('#stream-start').disabled = false;
    $('#stream-stop').disabled = true;
    streamState('Not connected');
  }

  function eventRow(f) {
    const c = f.call || {};
    const status = f.status || c.status || (f.voicemail ? 'voicemail' : '');
    return el('tr', { 'data-seq': String(f.seq), 'data-call': f.call_id ? String(f.call_id) : '' },
      el('td', { text: String(f.seq) }),
      el('td', { text: f.event }),
      el('td', { text: f.call_id ? String(f.call_id) : '—' }),
      el('td', { text: `${f.from_number || c.from_number || '—'} → ${f.to_number || c.to_number || '—'}` }),
      el('td', {}, status ? badge(status, callTone[status] || 'idle') : '—'),
      el('td', { text: when(f.timestamp) }));
  }

  async function startStream(ev) {
    ev.preventDefault();
    const app = $('#stream-app').value;
    if (!app) return;
    stopStream();
    lastSeq = null;
    $('#stream-table tbody').replaceChildren();
    $('#stream-start').disabled = true;
    $('#stream-stop').disabled = false;
    openStream(app, streamRun, 0);
  }

  // Opens the app's view (a fresh ticket each time); a view that closes by
  // itself (it expires after a while, or its node went away) is opened
  // again after the last seq seen, so no event is missed or shown twice.
  async function openStream(app, run, failures) {
    streamState(failures ? 'Reconnecting…' : 'Connecting…');
    let ticket;
    try {
      ticket = await api('POST', '/internal/console/stream-ticket', { app_id: app });
    } catch (e) {
      if (run !== streamRun) return;
      if (e.status === 401 || e.status === 404) {
        stopStream();
        streamState(`Could not connect: ${e.message}`);
      } else {
        retryStream(app, run, failures + 1, e.message);
      }
      return;
    }
    if (run !== streamRun) return; // stopped, signed out or restarted meanwhile
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const since = lastSeq === null ? '' : `&since=${lastSeq}`;
    const ws = new WebSocket(`${proto}//${location.host}/internal/console/stream?ticket=` +
      `${encodeURIComponent(ticket.ticket)}${since}`);
    socket = ws;
    ws.onmessage = (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch { return; }
      if (f.type === 'welcome') {
        failures = 0;
        if (lastSeq === null) lastSeq = f.seq;
        streamState(`Watching live · node ${f.node} · stream at seq ${f.seq}`);
      } else if (f.type === 'event') {
        if (lastSeq !== null && f.seq <= lastSeq) return;
        lastSeq = f.seq;
        const body = $('#stream-table tbody');
        body.prepend(eventRow(f));
        while (body.rows.length > STREAM_ROWS) body.deleteRow(-1);
      }
    };
    ws.onclose = (e) => {
      if (socket !== ws || run !== streamRun) return;
      socket = null;
      retryStream(app, run, failures + 1, `${e.code}${e.reason ? `: ${e.reason}` : ''}`);
    };
  }

  function retryStream(app, run, failures, why) {
    const wait = Math.min(30000, 500 * 2 ** Math.min(failures - 1, 6));
    streamState(`Disconnected (${why}); reconnecting in ${Math.round(wait / 1000)} s`);
    reconnectTimer = setTimeout(() => { if (run === streamRun) openStream(app, run, failures); }, wait);
  }

  // -- dead events ---------------------------------------------------------------------

  async function loadDead(ev) {
    if (ev) ev.preventDefault();
    const app = $('#dead-app').value;
    if (!app) return;
    $('#dead-state').textContent = 'Loading…';
    let res;
    try {
      res = await api('GET', `/internal/apps/${app}/events?state=dead&limit=100`);
    } catch (e) {
      $('#dead-state').textContent = `Could not load: ${e.message}`;
      return;
    }
    const data = res.data || [];
    $('#dead-state').textContent = `${data.length} dead event${data.length === 1 ? '' : 's'}${res.next_cursor ? ' (first 100)' : ''}`;
    const rows = data.length ? data.map((e) => el('tr', { 'data-event': e.id },
      el('td', { text: when(e.received_at) }),
      el('td', {}, el('span', { text: e.event_type }), el('span', { class: 'sub', text: e.dialpad_event_id })),
      el('td', { text: String(e.attempts) }),
      el('td', { class: 'error-text', text: e.last_error || '—' }),
      el('td', { class: 'actions' }, el('button', {
        type: 'button', text: 'Replay', 'aria-label': `Replay event ${e.dialpad_event_id}`,
        onclick: () => act('Replay', async () => {
          const ok = await confirmDialog(`Queue event ${e.dialpad_event_id} (${e.event_type}) for processing again?`,
            'Replay', false);
          if (!ok) return;
          await api('POST', `/internal/events/${e.id}/replay`);
          toast(`Event ${e.dialpad_event_id} queued again`);
          loadDead();
        }),
      }))))
      : [el('tr', {}, el('td', { class: 'empty', colspan: '5', text: 'No dead events for this app.' }))];
    replaceKeepingFocus($('#dead-table tbody'), rows, 'data-event');
    // The replayed row is gone: the focus goes back to the app picker.
    if (!$('#dead-table').contains(document.activeElement) && document.activeElement === document.body)
      $('#dead-app').focus();
  }

  // -- start ------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    $('#signin-form').addEventListener('submit', signIn);
    $('#sign-out').addEventListener('click', () => signOut('Signed out.'));
    $('#stream-form').addEventListener('submit', startStream);
    $('#stream-stop').addEventListener('click', stopStream);
    $('#dead-form').addEventListener('submit', loadDead);
    $('#new-key-copy').addEventListener('click', copyKey);
    // The skip link moves the focus only (the hash names the views).
    $('.skip').addEventListener('click', (e) => {
      e.preventDefault();
      $('#main').focus();
    });
    window.addEventListener('hashchange', () => {
      if (location.hash !== '#stream') stopStream();
      route();
      $('#main').focus();
    });
    route();
  });
})();
