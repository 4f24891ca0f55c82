// The inspector page: a thin view over the control API (specs/control.yaml).
// The journal is polled with ?since=<last id>, so each poll carries only new
// rows; everything else refreshes on the same tick. No framework, no build.
'use strict';

const API = '/_mock';
const POLL_MS = 1000;
const MAX_ROWS = 500;
const WORLD_EVERY_TICKS = 5; // the world (devices' last state) refreshes less often
let lastRequestId = 0;
let ticks = 0;
let selectedRequest = null;

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === 'onclick') node.addEventListener('click', value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(child ?? ''));
  }
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    throw new Error((data && data.message) || `${method} ${path}: ${response.status}`);
  }
  return data;
}

function notify(message, isError) {
  const notice = $('#notice');
  notice.textContent = message;
  notice.className = isError ? 'error' : 'ok';
}

// ------------------------------------------------------------------ world

async function renderWorld() {
  const [world, overview] = await Promise.all([api('GET', '/world'), api('GET', '/overview')]);
  const logins = $('#logins');
  logins.replaceChildren(
    el('h3', {}, 'Logins'),
    el('ul', {}, ...(world.logins || []).map((login) =>
      el('li', {}, el('code', {}, login.email), ' / ', el('code', {}, login.password))))
  );
  const apps = $('#applications');
  // Re-rendered every few ticks: keep the applications the user opened open.
  const open = new Set([...apps.querySelectorAll('details[open]')].map((d) => d.dataset.applicationId));
  apps.replaceChildren(...overview.applications.map(renderApplication));
  for (const details of apps.querySelectorAll('details')) {
    if (open.has(details.dataset.applicationId)) details.open = true;
  }
  apps.dataset.count = String(overview.applications.length);
}

function renderApplication(app) {
  const devices = el('table', { class: 'devices' },
    el('thead', {}, el('tr', {}, el('th', {}, 'device'), el('th', {}, 'id'),
      el('th', {}, 'class'), el('th', {}, 'last state'))),
    el('tbody', {}, ...app.devices.map((device) => el('tr', { 'data-device-id': device.id },
      el('td', {}, device.name), el('td', {}, el('code', {}, device.id)),
      el('td', {}, device.deviceClass || ''),
      el('td', {}, formatState(device.lastState))))));
  const keys = el('ul', { class: 'keys' }, ...app.keys.map((key) =>
    el('li', {}, el('code', {}, key.key), ` ${key.filterType || ''} ${key.status || ''}`)));
  return el('details', { class: 'application', 'data-application-id': app.id },
    el('summary', {}, `${app.name} `, el('code', {}, app.id),
      ` (${app.deviceCount} devices, owner ${app.owner || app.ownerId})`),
    devices,
    el('h4', {}, 'Access keys'), keys);
}

function formatState(state) {
  const names = Object.keys(state || {});
  if (!names.length) return '—';
  return names.map((name) => `${name}=${JSON.stringify(state[name].value)}`).join(', ');
}

// ------------------------------------------------------------------ journal

async function pollJournal() {
  const page = await api('GET', `/requests?since=${lastRequestId}`);
  const body = $('#journal-table tbody');
  for (const entry of page.items) {
    lastRequestId = Math.max(lastRequestId, entry.id);
    body.prepend(journalRow(entry));
  }
  while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  // A row still waiting for its answer (a stream, a slow fault) is replaced
  // when a later poll sees it finished.
  for (const row of body.querySelectorAll('tr[data-pending]')) {
    const fresh = await api('GET', `/requests/${row.dataset.requestId}`).catch(() => null);
    if (fresh && fresh.status !== null) row.replaceWith(journalRow(fresh));
  }
  $('#journal-count').textContent = `(${body.rows.length} shown)`;
}

function journalRow(entry) {
  const row = el('tr', {
    'data-request-id': entry.id,
    'data-status': entry.status,
    class: entry.fault ? 'faulted' : (entry.status >= 400 ? 'failed' : ''),
    onclick: () => showRequest(entry.id),
  },
  el('td', {}, entry.id), el('td', {}, (entry.time || '').slice(11, 23)),
  el('td', {}, entry.method), el('td', { class: 'path' }, entry.path + (entry.query ? '?' + entry.query : '')),
  el('td', {}, entry.status === null ? '…' : entry.status),
  el('td', {}, entry.durationMs === undefined ? '' : entry.durationMs.toFixed(1)),
  el('td', {}, entry.subject || ''), el('td', {}, entry.fault ? `rule ${entry.fault}` : ''));
  if (entry.status === null) row.dataset.pending = '';
  return row;
}

async function showRequest(id) {
  selectedRequest = id;
  const entry = await api('GET', `/requests/${id}`);
  if (selectedRequest !== id) return;
  $('#request-detail').hidden = false;
  $('#request-detail').dataset.requestId = String(id);
  $('#request-title').textContent = `#${entry.id} ${entry.method} ${entry.path} → ${entry.status ?? 'no answer'}`;
  $('#request-body').textContent = pretty(entry.requestBody);
  $('#response-body').textContent = pretty(entry.responseBody);
  $('#request-truncated').textContent = entry.requestBodyTruncated ? '(truncated)' : '';
  $('#response-truncated').textContent = entry.responseBodyTruncated ? '(truncated)' : '';
}

function pretty(text) {
  if (text === null || text === undefined) return '(none)';
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
}

// ------------------------------------------------------------------ faults, throttles, jobs, clock

async function renderFaults() {
  const faults = await api('GET', '/faults');
  $('#fault-table tbody').replaceChildren(...faults.items.map((rule) => el('tr',
    { 'data-fault-id': rule.id, class: rule.expired ? 'expired' : '' },
    el('td', {}, rule.id), el('td', {}, el('code', {}, JSON.stringify(rule.match))),
    el('td', {}, rule.latencyMs ?? ''), el('td', {}, rule.status ?? ''),
    el('td', {}, rule.drop ? 'yes' : ''), el('td', {}, rule.probability),
    el('td', {}, rule.times ?? '∞'), el('td', {}, rule.hits),
    el('td', {}, el('button', { type: 'button', onclick: () => removeFault(rule.id) }, 'Remove')))));
}

async function removeFault(id) {
  await api('DELETE', `/faults/${id}`);
  await renderFaults();
}

function faultFromForm() {
  const value = (id) => $(id).value.trim();
  const match = {};
  if (value('#fault-operation')) match.operationId = value('#fault-operation');
  if (value('#fault-method')) match.method = value('#fault-method');
  if (value('#fault-path')) match.path = value('#fault-path');
  const rule = { match };
  for (const [field, id] of [['latencyMs', '#fault-latency'], ['status', '#fault-status'],
    ['probability', '#fault-probability'], ['times', '#fault-times']]) {
    if (value(id) !== '') rule[field] = Number(value(id));
  }
  if ($('#fault-drop').checked) rule.drop = true;
  return rule;
}

async function renderThrottles() {
  $('#throttle-state').textContent = JSON.stringify(await api('GET', '/throttles'), null, 2);
}

async function renderJobs() {
  const jobs = await api('GET', '/jobs');
  $('#job-table tbody').replaceChildren(...jobs.items.map((job) => el('tr', {},
    el('td', {}, el('code', {}, job.id)), el('td', {}, job.operationId),
    el('td', {}, job.status), el('td', {}, el('code', {}, job.applicationId || '')))));
}

async function renderClock() {
  const clock = await api('GET', '/clock');
  $('#clock-now').textContent = clock.now;
}

// ------------------------------------------------------------------ actions

function wire() {
  $('#reset-button').addEventListener('click', () => act(async () => {
    await api('POST', '/reset');
    $('#journal-table tbody').replaceChildren();
    await refreshAll();
    return 'World reset to the seeded state';
  }));
  $('#clock-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      await api('POST', '/clock', { advance: Number($('#clock-advance').value) });
      await Promise.all([renderClock(), renderJobs()]);
      return 'Clock advanced';
    });
  });
  $('#snapshot-download').addEventListener('click', () => act(async () => {
    const snapshot = await api('GET', '/snapshot');
    const blob = new Blob([JSON.stringify(snapshot, null, 2)], { type: 'application/json' });
    const link = el('a', { href: URL.createObjectURL(blob), download: 'losant-mock-snapshot.json' });
    document.body.append(link);
    link.click();
    link.remove();
    return 'Snapshot downloaded';
  }));
  $('#snapshot-upload').addEventListener('change', (event) => act(async () => {
    const file = event.target.files[0];
    if (!file) return '';
    const counts = await api('PUT', '/snapshot', await file.text());
    event.target.value = '';
    await refreshAll();
    return `Snapshot imported (${Object.values(counts).reduce((a, b) => a + b, 0)} records)`;
  }));
  $('#journal-clear').addEventListener('click', () => act(async () => {
    await api('DELETE', '/requests');
    $('#journal-table tbody').replaceChildren();
    $('#request-detail').hidden = true;
    return 'Journal cleared';
  }));
  $('#fault-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act(async () => {
      const rule = await api('POST', '/faults', faultFromForm());
      await renderFaults();
      return `Fault rule ${rule.id} added`;
    });
  });
}

async function act(action) {
  try {
    const message = await action();
    if (message) notify(message, false);
  } catch (err) {
    notify(String(err.message || err), true);
  }
}

async function refreshAll() {
  await Promise.all([renderWorld(), renderFaults(), renderThrottles(), renderJobs(),
    renderClock(), pollJournal()]);
}

async function tick() {
  if ($('#journal-follow').checked) {
    try {
      ticks += 1;
      await Promise.all([pollJournal(), renderFaults(), renderThrottles(), renderJobs(),
        renderClock(), ticks % WORLD_EVERY_TICKS === 0 ? renderWorld() : null]);
      document.body.dataset.live = 'ok';
    } catch (err) {
      document.body.dataset.live = 'error';
      notify(`Lost the mock: ${err.message || err}`, true);
    }
  }
  setTimeout(tick, POLL_MS);
}

wire();
refreshAll()
  .then(() => { document.body.dataset.ready = 'true'; })
  .catch((err) => notify(String(err.message || err), true))
  .finally(() => setTimeout(tick, POLL_MS));
