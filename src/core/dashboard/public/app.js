// finpipe dashboard page: plain browser JS, no framework, no bundler. History comes from the
// JSON API (/api/*), live updates from the websocket (/ws). See docs/operations.md.
'use strict';
(function () {
  const LC = window.LightweightCharts;
  const token = new URLSearchParams(location.search).get('token');
  const $ = (id) => document.getElementById(id);
  const state = { symbol: null, window: null, candles: new Map(), trades: [], ready: false, ws: null, wsOpen: false, latencies: [] };
  const TAPE = 50;

  const chart = LC.createChart($('chart'), {
    autoSize: true,
    layout: { background: { color: '#111418' }, textColor: '#d8dde3' },
    grid: { vertLines: { color: '#1b2027' }, horzLines: { color: '#1b2027' } },
    timeScale: { timeVisible: true, secondsVisible: true },
  });
  const candleSeries = chart.addSeries(LC.CandlestickSeries, {});
  const volumeSeries = chart.addSeries(LC.HistogramSeries, { priceFormat: { type: 'volume' }, priceScaleId: '', color: '#3b4a5a' });
  volumeSeries.priceScale().applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const vwapSeries = chart.addSeries(LC.LineSeries, { color: '#f5b041', lineWidth: 1, priceLineVisible: false });

  function banner(text) {
    $('banner').hidden = !text;
    $('banner').textContent = text || '';
  }

  async function api(path) {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const res = await fetch(path, { headers, cache: 'no-store' });
    const body = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }

  const seconds = (ms) => Math.floor(ms / 1000);
  function bars(c) {
    const time = seconds(c.window_start);
    return {
      candle: { time, open: c.open, high: c.high, low: c.low, close: c.close },
      volume: { time, value: c.volume, color: c.close >= c.open ? '#1d4d47' : '#5a2a2a' },
      vwap: c.vwap === null || c.vwap === undefined ? { time } : { time, value: c.vwap },
    };
  }

  function drawAll() {
    const sorted = [...state.candles.values()].sort((a, b) => a.window_start - b.window_start);
    const byTime = new Map();
    for (const c of sorted) byTime.set(seconds(c.window_start), bars(c)); // sub-second windows: the last per second
    const all = [...byTime.values()];
    candleSeries.setData(all.map((b) => b.candle));
    volumeSeries.setData(all.map((b) => b.volume));
    vwapSeries.setData(all.map((b) => b.vwap));
  }

  function lastStart() {
    let last = -Infinity;
    for (const k of state.candles.keys()) if (k > last) last = k;
    return last;
  }

  function applyCandle(c) {
    const last = lastStart();
    state.candles.set(c.window_start, c);
    if (c.window_start >= last) {
      const b = bars(c);
      candleSeries.update(b.candle);
      volumeSeries.update(b.volume);
      vwapSeries.update(b.vwap);
    } else drawAll();
    if (typeof c.ts === 'number') {
      const ts = c.ts;
      requestAnimationFrame(() => {
        state.latencies.push(Date.now() - ts);
        if (state.latencies.length > 100000) state.latencies.shift();
      });
    }
  }

  function renderTape() {
    const rows = state.trades.map((t) => {
      const tr = document.createElement('tr');
      for (const text of [new Date(t.trade_timestamp).toISOString().slice(11, 23), String(t.price), String(t.volume)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.appendChild(td);
      }
      return tr;
    });
    $('tape').tBodies[0].replaceChildren(...rows);
  }

  function fill(select, values, label, selected) {
    select.replaceChildren(
      ...values.map((v) => {
        const o = document.createElement('option');
        o.value = String(v);
        o.textContent = label(v);
        o.selected = String(v) === String(selected);
        return o;
      }),
    );
  }

  const windowLabel = (ms) => (ms % 60000 === 0 ? `${ms / 60000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

  async function loadSymbol() {
    const { windows } = await api(`/api/windows?symbol=${encodeURIComponent(state.symbol)}`);
    if (windows.length === 0) {
      state.window = null;
      fill($('window'), [], windowLabel);
      throw new Error(`no candles for ${state.symbol} yet`);
    }
    if (!windows.includes(state.window)) state.window = windows[0];
    fill($('window'), windows, windowLabel, state.window);
    await loadHistory();
  }

  async function loadHistory() {
    const q = `symbol=${encodeURIComponent(state.symbol)}`;
    const [{ candles }, { trades }] = await Promise.all([
      api(`/api/candles?${q}&window=${state.window}&limit=10000`),
      api(`/api/trades?${q}&limit=${TAPE}`),
    ]);
    state.candles = new Map(candles.map((c) => [c.window_start, c]));
    older.done = false;
    state.trades = trades;
    drawAll();
    renderTape();
    subscribe();
    state.ready = true;
  }

  let starting = false;
  // Panning to the left edge loads older history, 2,000 candles at a time.
  const older = { loading: false, done: false };
  async function loadOlder() {
    if (older.loading || older.done || !state.ready || state.candles.size === 0) return;
    older.loading = true;
    const [symbol, windowMs] = [state.symbol, state.window];
    try {
      let oldest = Infinity;
      for (const k of state.candles.keys()) if (k < oldest) oldest = k;
      const q = `symbol=${encodeURIComponent(symbol)}&window=${windowMs}&to=${oldest}&limit=2000`;
      const { candles } = await api(`/api/candles?${q}`);
      if (symbol !== state.symbol || windowMs !== state.window) return;
      if (candles.length === 0) older.done = true;
      for (const c of candles) state.candles.set(c.window_start, c);
      if (candles.length) drawAll();
    } catch (error) {
      banner(`${error.message} — retrying`);
    } finally {
      older.loading = false;
    }
  }
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (range && range.from < 20) void loadOlder();
  });

  async function start() {
    if (starting) return; // one retry loop at a time (a websocket reconnect also calls this)
    starting = true;
    try {
      await startLoop();
    } finally {
      starting = false;
    }
  }

  async function startLoop() {
    for (let delay = 1000; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const { symbols } = await api('/api/symbols');
        if (symbols.length === 0) throw new Error('no data yet: the sink has not written any trades or candles (is the pipeline running?)');
        if (!symbols.includes(state.symbol)) state.symbol = symbols[0];
        fill($('symbol'), symbols, (s) => s, state.symbol);
        await loadSymbol();
        banner('');
        return;
      } catch (error) {
        state.ready = false;
        banner(`${error.message} — retrying`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  function subscribe() {
    if (state.ws && state.wsOpen && state.symbol)
      state.ws.send(JSON.stringify({ type: 'subscribe', symbol: state.symbol, window: state.window }));
  }

  function connect(delay) {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`;
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.onopen = () => {
      state.wsOpen = true;
      delay = 500;
      $('live').textContent = 'live';
      $('live').className = 'pill ok';
      subscribe();
      if (!state.ready) void start();
      else void loadHistory().catch((e) => banner(`${e.message} — retrying`)); // catch up on what was missed
    };
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type !== 'update') return;
      for (const c of message.candles) if (c.symbol === state.symbol && c.window_ms === state.window) applyCandle(c);
      const trades = message.trades.filter((t) => t.symbol === state.symbol);
      if (trades.length) {
        state.trades = [...trades.reverse(), ...state.trades].slice(0, TAPE);
        renderTape();
      }
    };
    ws.onclose = () => {
      state.wsOpen = false;
      $('live').textContent = `live: disconnected, reconnecting in ${(delay / 1000).toFixed(1)}s`;
      $('live').className = 'pill bad';
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }

  function span(text, cls) {
    const s = document.createElement('span');
    s.textContent = text;
    if (cls) s.className = cls;
    return s;
  }

  async function pollHealth() {
    try {
      const h = await api('/api/status');
      const parts = [];
      if (h.at === null) parts.push(span(h.pending));
      else {
        parts.push(span(`kafka ${h.kafka.reachable ? 'up' : `DOWN: ${h.kafka.error || ''}`}`, h.kafka.reachable ? 'good' : 'bad'));
        parts.push(span(`mysql ${h.mysql.reachable ? 'up' : `DOWN: ${h.mysql.error || ''}`}`, h.mysql.reachable ? 'good' : 'bad'));
        parts.push(span(`raw ${h.rawPerSec === null ? '-' : h.rawPerSec} trades/s`));
        const f = h.freshness || {};
        parts.push(span(`freshness p50 ${f.p50Ms == null ? '-' : `${f.p50Ms} ms`} p99 ${f.p99Ms == null ? '-' : `${f.p99Ms} ms`}`));
        parts.push(span(`dead letters ${h.deadLetters ?? 0}`, h.deadLetters ? 'bad' : ''));
        parts.push(span(`late trades ${h.lateTrades ?? 0}`));
        for (const s of h.stages.slice(0, 8)) parts.push(span(`${s.group}: lag ${s.lag}`, s.lag > 1000 ? 'bad' : ''));
      }
      if (h.live && h.live.error) parts.push(span(`live feed: ${h.live.error}`, 'bad'));
      $('health').replaceChildren(...parts);
    } catch (error) {
      $('health').replaceChildren(span(`health unavailable: ${error.message}`, 'bad'));
    }
  }

  $('symbol').onchange = () => {
    state.symbol = $('symbol').value;
    state.window = null;
    loadSymbol().catch((e) => banner(e.message));
  };
  $('window').onchange = () => {
    state.window = Number($('window').value);
    loadHistory().catch((e) => banner(e.message));
  };

  window.__finpipe = {
    ready: () => state.ready,
    live: () => state.wsOpen,
    symbol: () => state.symbol,
    window: () => state.window,
    lastCandle: () => (state.candles.size ? state.candles.get(lastStart()) : null),
    trades: () => state.trades.slice(),
    latencies: () => state.latencies.slice(),
    bars: () => candleSeries.data().length,
    scrollToOldest: () => chart.timeScale().scrollToPosition(-candleSeries.data().length, false),
  };

  void start();
  connect(500);
  void pollHealth();
  setInterval(pollHealth, 5000);
})();
