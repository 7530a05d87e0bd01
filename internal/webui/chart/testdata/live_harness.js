// live_harness.js runs ../static/live.js (its path is the first argument) against a
// minimal DOM built from a figure's markup, as the Go test parsed it, and a scripted
// EventSource. Input (stdin, JSON): {tree, loading, twice, steps: [{type, data}]}.
// Output (stdout, JSON): the EventSources opened and, after each step, what the script
// left on the page.
'use strict';
const fs = require('fs');
const vm = require('vm');

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const code = fs.readFileSync(process.argv[2], 'utf8');

class El {
  constructor(n) {
    this.tagName = n.name;
    this.attrs = { ...(n.attrs || {}) };
    this.children = (n.children || []).map((c) => new El(c));
    this.text = n.text || '';
  }
  getAttribute(k) { return Object.prototype.hasOwnProperty.call(this.attrs, k) ? this.attrs[k] : null; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  get textContent() { return this.children.length ? this.children.map((c) => c.textContent).join('') : this.text; }
  set textContent(v) { this.children = []; this.text = String(v); }
  appendChild(c) { this.children.push(c); return c; }
  matches(sel) {
    const m = /^([a-z]*)(?:\[([a-z-]+)\])?$/.exec(sel);
    if (!m) throw new Error('the harness does not support the selector ' + sel);
    return (!m[1] || this.tagName === m[1]) && (!m[2] || m[2] in this.attrs);
  }
  querySelectorAll(sel) {
    const out = [];
    const walk = (e) => { for (const c of e.children) { if (c.matches(sel)) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
}

const body = new El({ name: 'body', children: [input.tree] });
const onLoad = [];
const document = {
  readyState: input.loading ? 'loading' : 'complete',
  querySelectorAll: (sel) => body.querySelectorAll(sel),
  addEventListener: (type, fn) => { if (type === 'DOMContentLoaded') onLoad.push(fn); },
  createElementNS: (ns, name) => new El({ name }),
};

const sources = [];
class EventSource {
  constructor(url, opts) { this.url = url; this.opts = opts; this.listeners = {}; sources.push(this); }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  emit(type, ev) {
    if (typeof this['on' + type] === 'function') this['on' + type](ev);
    for (const fn of this.listeners[type] || []) fn(ev);
  }
}

const context = vm.createContext({ document, EventSource });
vm.runInContext(code, context, { filename: 'live.js' });
if (input.twice) vm.runInContext(code, context, { filename: 'live.js' });
document.readyState = 'interactive';
for (const fn of onLoad) fn();

const snapshot = () => body.querySelectorAll('figure').map((fig) => {
  const byField = (tag) => Object.fromEntries(fig.querySelectorAll(tag).map((e) => [e.getAttribute('data-field'), tag === 'path' ? e.getAttribute('d') : e.textContent]));
  return {
    state: fig.getAttribute('data-state'),
    points: fig.getAttribute('data-points'),
    paths: byField('path'),
    outputs: byField('output'),
    ticks: fig.querySelectorAll('text').filter((e) => e.getAttribute('data-tick') !== null).map((e) => e.textContent),
  };
});

const snapshots = [];
for (const step of input.steps || []) {
  for (const s of sources) s.emit(step.type, { type: step.type, data: step.data });
  snapshots.push(snapshot());
}
process.stdout.write(JSON.stringify({
  sources: sources.map((s) => ({ url: s.url, withCredentials: !!(s.opts && s.opts.withCredentials) })),
  snapshots,
}));
