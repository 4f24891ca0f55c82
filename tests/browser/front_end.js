// A front end's session against the mock, from a page on another origin,
// through the official client bundled for the browser (build.js). Each step
// is shown on the page and kept in window.steps; window.done marks the end.
// tests/test_browser.py judges the steps, so a failure names the step.
'use strict';

const params = new URLSearchParams(location.search);
const MOCK = params.get('mock');
const CREDENTIALS = { email: params.get('email'), password: params.get('password') };
const WAIT_MS = 20000; // a bound on waiting for an event, never a pause

window.steps = {};
document.getElementById('origins').textContent = `page ${location.origin}, API ${MOCK}`;

function show(name, ok, detail) {
  window.steps[name] = { ok, detail };
  const item = document.createElement('li');
  item.dataset.step = name;
  item.dataset.ok = String(ok);
  item.innerHTML = `<strong></strong> <code></code>`;
  item.querySelector('strong').textContent = name;
  item.querySelector('code').textContent = JSON.stringify(detail);
  document.getElementById('steps').append(item);
}

function describe(err) {
  if (err && err.statusCode !== undefined) {
    return { statusCode: err.statusCode, type: err.type, message: err.message };
  }
  return { error: (err && err.name) || 'Error', message: String((err && err.message) || err) };
}

async function step(name, fn) {
  try {
    const detail = await fn();
    show(name, true, detail);
    return detail;
  } catch (err) {
    show(name, false, describe(err));
    return undefined;
  }
}

// Resolves with the first event of `type` that `wanted` accepts.
function nextEvent(es, type, wanted) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${type} event in ${WAIT_MS} ms`)), WAIT_MS);
    es.addEventListener(type, (message) => {
      const payload = JSON.parse(message.data);
      if (wanted(payload)) {
        clearTimeout(timer);
        resolve(payload);
      }
    });
  });
}

async function main() {
  const client = window.losantRest.createClient({ url: MOCK });
  const login = await step('auth.authenticateUser', async () => {
    const result = await client.auth.authenticateUser({ credentials: CREDENTIALS });
    client.setOption('accessToken', result.token);
    return { userId: result.userId, hasToken: typeof result.token === 'string' };
  });
  if (!login) return;

  const apps = await step('applications.get', async () => {
    const page = await client.applications.get({});
    return { count: page.count, ids: page.items.map((app) => app.id) };
  });
  if (!apps || !apps.ids.length) return;
  const applicationId = apps.ids[0];

  const device = await step('devices.post', async () => {
    const created = await client.devices.post({
      applicationId,
      device: { name: 'browser-thermostat', deviceClass: 'standalone',
        attributes: [{ name: 'temp', dataType: 'number' }] },
    });
    return { id: created.id, name: created.name };
  });
  if (!device) return;
  const deviceId = device.id;

  await step('device.stateStream', async () => {
    const es = await client.device.stateStream({ applicationId, deviceId, keepAliveInterval: 1 });
    try {
      const received = nextEvent(es, 'deviceState', (state) => state.data && state.data.temp === 21.5);
      await client.device.sendState({ applicationId, deviceId, deviceState: { data: { temp: 21.5 } } });
      const state = await received;
      return { readyState: es.readyState, data: state.data };
    } finally {
      es.close();
    }
  });

  await step('device.commandStream', async () => {
    const es = await client.device.commandStream({ applicationId, deviceId, keepAliveInterval: 1 });
    try {
      const received = nextEvent(es, 'deviceCommand', (command) => command.name === 'setPoint');
      await client.device.sendCommand({ applicationId, deviceId,
        deviceCommand: { name: 'setPoint', payload: { temp: 19 } } });
      const command = await received;
      return { name: command.name, payload: command.payload };
    } finally {
      es.close();
    }
  });

  // The mock runs with a small throttle scale, so a few more states hit the
  // per-device window; the client's error carries the status, and a plain
  // fetch (what a front end's back-off reads) sees the exposed Retry-After.
  await step('throttle.429', async () => {
    for (let sent = 0; sent < 100; sent += 1) {
      try {
        await client.device.sendState({ applicationId, deviceId, deviceState: { data: { temp: sent } } });
      } catch (err) {
        if (err.statusCode !== 429) throw err;
        const response = await fetch(`${MOCK}/applications/${applicationId}/devices/${deviceId}/state`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${client.getOption('accessToken')}`,
            'Content-Type': 'application/json' },
          body: JSON.stringify({ data: { temp: 0 } }),
        });
        return { clientStatus: err.statusCode, clientType: err.type, sentBefore: sent,
          fetchStatus: response.status, retryAfter: response.headers.get('Retry-After') };
      }
    }
    throw new Error('no 429 in 100 states');
  });

  // tests/test_browser.py set a fault rule on device.get before the page loaded.
  await step('fault.503', async () => {
    try {
      await client.device.get({ applicationId, deviceId });
    } catch (err) {
      return describe(err);
    }
    throw new Error('device.get answered without the injected fault');
  });
}

main()
  .catch((err) => show('page.crash', false, describe(err)))
  .finally(() => { window.done = true; document.body.dataset.done = 'true'; });
