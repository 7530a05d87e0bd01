// live.js: draws chart.LiveFigure's figures (internal/webui/chart) from their SSE
// streams. No inline code: it runs under script-src 'self'.
'use strict';
(() => {
  const fin = Number.isFinite;
  const SUF = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];

  // pick is the finite number at a dotted key ("totals.count"), or NaN.
  const pick = (o, key) => {
    for (const k of key.split('.')) {
      if (o === null || typeof o !== 'object' || !(k in o)) return NaN;
      o = o[k];
    }
    return typeof o === 'number' && fin(o) ? o : NaN;
  };

  // fmt: 3 significant digits, compact from 1,000 (1.23k).
  const fmt = (v) => {
    if (!fin(v)) return '–';
    for (const [s, u] of SUF) if (Math.abs(v) >= s * 0.9995) return +(v / s).toPrecision(3) + u;
    return '' + +v.toPrecision(3);
  };

  // top: the axis maximum, 4 steps of 1, 2 or 5 × 10^n.
  const top = (max) => {
    if (!(max > 0)) return 4;
    const m = 10 ** Math.floor(Math.log10(max / 4)), f = max / 4 / m;
    return 4 * m * (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10);
  };

  const start = (fig) => {
    if (fig.chartLive) return; // the script included twice
    fig.chartLive = true;
    const attr = (n) => fig.getAttribute(n) || '';
    const state = (s) => fig.setAttribute('data-state', s);
    const src = attr('data-live-src');
    if (!/^\/(?![/\\])/.test(src)) return; // same origin only
    const win = Math.min(3600, Math.max(5, parseInt(attr('data-live-window'), 10) || 60)) * 1000;
    const keys = attr('data-live-fields').split(',').map((k) => k.trim()).filter(Boolean);
    const svg = fig.querySelector('svg');
    if (!svg || !keys.length) return;
    const box = (svg.getAttribute('data-plot') || '').split(' ').map(Number);
    if (box.length !== 4 || !box.every(fin)) return;
    const [L, T, W, H] = box;
    const els = (tag) => keys.map((k) => [...fig.querySelectorAll(tag)].find((e) => e.getAttribute('data-field') === k));
    const paths = els('path'), outs = els('output');
    const ticks = [...fig.querySelectorAll('[data-tick]')];
    let pts = []; // {t: ms, v: [number or NaN per key]}, oldest first

    const draw = () => {
      const last = pts[pts.length - 1];
      let max = 0;
      for (const p of pts) for (const v of p.v) if (v > max) max = v;
      const y1 = top(max);
      for (const e of ticks) e.textContent = fmt((y1 * e.getAttribute('data-tick')) / 4);
      paths.forEach((path, i) => {
        if (!path) return;
        let d = '', pen = false;
        for (const p of pts) {
          const v = p.v[i];
          if (!fin(v)) { pen = false; continue; }
          const xy = (L + W * (1 - (last.t - p.t) / win)).toFixed(1) + ' ' + (T + H * (1 - Math.max(0, v) / y1)).toFixed(1);
          d += pen ? ' ' + xy : 'M' + xy + 'h0L'; // h0: a lone value shows as a dot
          pen = true;
        }
        path.setAttribute('d', d.replace(/L(?=M|$)/g, ''));
      });
      outs.forEach((o, i) => { if (o) o.textContent = fmt(last.v[i]); });
      fig.setAttribute('data-points', pts.length);
    };

    if (typeof EventSource !== 'function') return state('error');
    const es = new EventSource(src, { withCredentials: true });
    es.onopen = () => state('open');
    es.onerror = () => state('error');
    es.addEventListener('second', (ev) => {
      let o;
      try { o = JSON.parse(ev.data); } catch (_) { return; }
      if (!o || typeof o !== 'object' || Array.isArray(o)) return;
      const t = Date.parse(typeof o.time === 'string' && o.time) || Date.now();
      let i = pts.length; // in time order: an event may come late
      while (i > 0 && pts[i - 1].t > t) i--;
      pts.splice(i, 0, { t, v: keys.map((k) => pick(o, k)) });
      const cut = pts[pts.length - 1].t - win;
      pts = pts.filter((p) => p.t > cut).slice(-win / 100);
      draw();
    });
  };

  const init = () => document.querySelectorAll('[data-live-src]').forEach(start);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
