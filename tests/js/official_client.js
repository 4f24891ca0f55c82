#!/usr/bin/env node
// Drives the official Losant JavaScript REST client (losant-rest, unmodified)
// through the session a front end would run, against the mock.
//
//   node tests/js/official_client.js <base url> <email> <password>
//
// Prints one JSON line per step: {"step": ..., "ok": true|false, "detail": ...}.
// The script reports what the client got back; tests/test_official_js_client.py
// judges it, so a failure there names the step. A step whose prerequisite
// failed reports ok=false with "prerequisite missing: ..." rather than crashing
// the rest of the session.
'use strict';

const api = require('losant-rest');

const [baseUrl, email, password] = process.argv.slice(2);
if (!baseUrl || !email || !password) {
  process.stderr.write('usage: official_client.js <base url> <email> <password>\n');
  process.exit(2);
}

const STREAM_WAIT_MS = 5000;
// Nothing here should take long; a hung request must not hang the test run.
setTimeout(() => {
  emit('script.timeout', false, { message: 'session did not finish in 45 s' });
  process.exit(3);
}, 45000).unref();

function emit(step, ok, detail) {
  process.stdout.write(JSON.stringify({ step, ok, detail: detail === undefined ? null : detail }) + '\n');
}

// The client turns an HTTP error into an Error carrying the platform's body
// fields (type, ...) and statusCode; anything else (a TypeError, a socket
// error) is reported by name so the test output says what broke.
function describeError(err) {
  if (err && err.statusCode !== undefined) {
    return { statusCode: err.statusCode, type: err.type, message: err.message };
  }
  return { error: (err && err.name) || 'Error', message: String((err && err.message) || err) };
}

function need(value, what) {
  if (value === undefined || value === null) {
    throw new Error('prerequisite missing: ' + what);
  }
  return value;
}

async function step(name, fn) {
  try {
    const detail = await fn();
    emit(name, true, detail);
    return detail;
  } catch (err) {
    emit(name, false, describeError(err));
    return undefined;
  }
}

// Only the fields the tests look at, so the output stays readable.
function deviceSummary(device) {
  return {
    id: device.id,
    name: device.name,
    description: device.description,
    deviceClass: device.deviceClass,
    tags: device.tags,
    attributes: (device.attributes || []).map((a) => ({ name: a.name, dataType: a.dataType })),
    creationDate: device.creationDate,
  };
}

function keySummary(key) {
  return {
    id: key.id,
    key: key.key,
    name: key.name,
    hasSecret: typeof key.secret === 'string' && key.secret.length > 0,
    filterType: key.filterType,
    deviceIds: key.deviceIds,
  };
}

function listSummary(list) {
  return {
    count: list.count,
    totalCount: list.totalCount,
    names: (list.items || []).map((item) => item.name),
    ids: (list.items || []).map((item) => item.id),
  };
}

async function main() {
  const client = api.createClient({ url: baseUrl });
  const s = {}; // results later steps build on

  // --- the user signs in ---------------------------------------------------
  await step('auth.authenticateUser', async () => {
    const res = await client.auth.authenticateUser({ credentials: { email, password } });
    client.setOption('accessToken', res.token);
    s.userId = res.userId;
    return { userId: res.userId, hasToken: typeof res.token === 'string' && res.token.length > 0 };
  });

  await step('me.get', async () => {
    need(s.userId, 'user token');
    const me = await client.me.get();
    return { id: me.id, email: me.email };
  });

  // --- applications ----------------------------------------------------------
  await step('applications.get', async () => {
    need(s.userId, 'user token');
    return listSummary(await client.applications.get({ sortField: 'name', sortDirection: 'asc' }));
  });

  await step('applications.post', async () => {
    need(s.userId, 'user token');
    const app = await client.applications.post({
      application: { name: 'JS Client Fleet', description: 'made by losant-rest' },
    });
    s.appId = app.id;
    return { id: app.id, name: app.name, description: app.description };
  });

  await step('application.get', async () => {
    const app = await client.application.get({ applicationId: need(s.appId, 'application') });
    return { id: app.id, name: app.name };
  });

  await step('application.patch', async () => {
    const app = await client.application.patch({
      applicationId: need(s.appId, 'application'),
      application: { description: 'patched by losant-rest' },
    });
    return { id: app.id, name: app.name, description: app.description };
  });

  // --- devices ---------------------------------------------------------------
  const newDevices = [
    { key: 'thermoA', name: 'thermo-a', deviceClass: 'standalone', floor: '3' },
    { key: 'thermoB', name: 'thermo-b', deviceClass: 'standalone', floor: '4' },
    { key: 'gateway', name: 'gateway-1', deviceClass: 'gateway', floor: '3' },
  ];
  for (const spec of newDevices) {
    await step('devices.post:' + spec.name, async () => {
      const device = await client.devices.post({
        applicationId: need(s.appId, 'application'),
        device: {
          name: spec.name,
          deviceClass: spec.deviceClass,
          tags: [{ key: 'floor', value: spec.floor }, { key: 'site', value: 'plant-1' }],
          attributes: [
            { name: 'temp', dataType: 'number' },
            { name: 'label', dataType: 'string' },
          ],
        },
      });
      s[spec.key] = device;
      return deviceSummary(device);
    });
  }

  // The advanced query goes out JSON-stringified: ?query=%7B%22%24or%22...
  await step('devices.get:advancedQuery', async () => {
    return listSummary(await client.devices.get({
      applicationId: need(s.appId, 'application'),
      query: {
        $and: [
          { $or: [{ name: 'thermo-a' }, { name: { $eq: 'gateway-1' } }, { name: 'thermo-b' }] },
          { tags: { $tagKey: 'floor', $tagValue: '3' } },
        ],
      },
      sortField: 'name',
    }));
  });

  // Arrays and objects go out in qs bracket form:
  // deviceClass[0]=gateway&deviceClass[1]=peripheral, tagFilter[0][key]=floor...
  await step('devices.get:deviceClassArray', async () => {
    return listSummary(await client.devices.get({
      applicationId: need(s.appId, 'application'),
      deviceClass: ['gateway', 'peripheral'],
    }));
  });

  await step('devices.get:tagFilter', async () => {
    return listSummary(await client.devices.get({
      applicationId: need(s.appId, 'application'),
      tagFilter: [{ key: 'floor', value: '4' }, { key: 'site' }],
      sortField: 'name',
    }));
  });

  await step('devices.get:filterGlob', async () => {
    return listSummary(await client.devices.get({
      applicationId: need(s.appId, 'application'),
      filterField: 'name',
      filter: 'thermo-*',
      sortField: 'name',
      sortDirection: 'desc',
      perPage: 1,
      page: 1,
    }));
  });

  await step('device.get', async () => {
    const device = await client.device.get({
      applicationId: need(s.appId, 'application'),
      deviceId: need(s.thermoA, 'device thermo-a').id,
    });
    return deviceSummary(device);
  });

  await step('device.patch', async () => {
    const device = await client.device.patch({
      applicationId: need(s.appId, 'application'),
      deviceId: need(s.thermoA, 'device thermo-a').id,
      device: {
        description: 'north wall',
        tags: [{ key: 'floor', value: '3' }, { key: 'site', value: 'plant-1' }, { key: 'zone', value: 'north' }],
      },
    });
    return deviceSummary(device);
  });

  // losant-rest 2.8.1 predates tagsAsObject and the deviceAttributes resource,
  // so these go through the client's own transport (client.request: the same
  // axios call, headers and qs serialiser every generated method uses).
  const devicePath = () => '/applications/' + need(s.appId, 'application') +
    '/devices/' + need(s.thermoA, 'device thermo-a').id;

  await step('device.get:tagsAsObject', async () => {
    const device = await client.request({
      method: 'GET', url: devicePath(), headers: {}, params: { tagsAsObject: true },
    });
    return { id: device.id, tags: device.tags };
  });

  await step('device.patch:tagsAsObject', async () => {
    const device = await client.request({
      method: 'PATCH',
      url: devicePath(),
      headers: {},
      params: { tagsAsObject: true },
      data: { tags: [{ key: 'floor', value: '3' }, { key: 'site', value: 'plant-1' }, { key: 'zone', value: 'south' }] },
    });
    return { id: device.id, tags: device.tags };
  });

  await step('deviceAttributes.post', async () => {
    const attribute = await client.request({
      method: 'POST',
      url: devicePath() + '/attributes',
      headers: {},
      data: { name: 'humidity', dataType: 'number', description: 'relative, %' },
    });
    return { name: attribute.name, dataType: attribute.dataType, description: attribute.description };
  });

  await step('deviceAttributes.get', async () => {
    const list = await client.request({ method: 'GET', url: devicePath() + '/attributes', headers: {} });
    return {
      count: list.count,
      totalCount: list.totalCount,
      names: (list.items || []).map((a) => a.name),
    };
  });

  // --- the device signs in with an access key --------------------------------
  await step('applicationKeys.post', async () => {
    const key = await client.applicationKeys.post({
      applicationId: need(s.appId, 'application'),
      applicationKey: {
        name: 'thermo-a key',
        description: 'thermo-a only',
        filterType: 'whitelist',
        deviceIds: [need(s.thermoA, 'device thermo-a').id],
      },
    });
    s.key = key;
    return keySummary(key);
  });

  // name is optional in applicationKeyPost; a key made without one must still
  // come back as a valid applicationKey.
  await step('applicationKeys.post:withoutName', async () => {
    const key = await client.applicationKeys.post({
      applicationId: need(s.appId, 'application'),
      applicationKey: { description: 'unnamed key' },
    });
    return keySummary(key);
  });

  const deviceClient = api.createClient({ url: baseUrl });
  await step('auth.authenticateDevice', async () => {
    const res = await deviceClient.auth.authenticateDevice({
      credentials: {
        deviceId: need(s.thermoA, 'device thermo-a').id,
        key: need(s.key, 'access key').key,
        secret: s.key.secret,
      },
    });
    deviceClient.setOption('accessToken', res.token);
    s.deviceToken = res.token;
    return {
      applicationId: res.applicationId,
      deviceId: res.deviceId,
      deviceClass: res.deviceClass,
      hasToken: typeof res.token === 'string' && res.token.length > 0,
    };
  });

  const asDevice = () => {
    need(s.deviceToken, 'device token');
    return { applicationId: need(s.appId, 'application'), deviceId: need(s.thermoA, 'device thermo-a').id };
  };
  // Anchor explicit state times on the mock's own clock (it may run ahead of
  // this machine's when a test moved it).
  const anchor = () => Date.parse(need(s.thermoA, 'device thermo-a').creationDate);

  await step('device.sendState:single', async () => {
    const { applicationId, deviceId } = asDevice();
    return deviceClient.device.sendState({
      applicationId, deviceId, deviceState: { data: { temp: 21.5, label: 'boot' } },
    });
  });

  await step('device.sendState:array', async () => {
    const { applicationId, deviceId } = asDevice();
    const t0 = anchor();
    return deviceClient.device.sendState({
      applicationId,
      deviceId,
      deviceState: [
        { time: t0 - 120000, data: { temp: 18 } },
        { time: new Date(t0 - 60000).toISOString(), data: { temp: 19, label: 'warming' } },
      ],
    });
  });

  await step('device.getState', async () => {
    const { applicationId, deviceId } = asDevice();
    const states = await deviceClient.device.getState({ applicationId, deviceId, limit: 10 });
    return states.map((st) => ({ time: st.time, data: st.data }));
  });

  await step('device.getCompositeState', async () => {
    const { applicationId, deviceId } = asDevice();
    return deviceClient.device.getCompositeState({ applicationId, deviceId });
  });

  await step('data.timeSeriesQuery', async () => {
    const t0 = anchor();
    const result = await client.data.timeSeriesQuery({
      applicationId: need(s.appId, 'application'),
      query: {
        start: t0 - 180000,
        end: t0 + 3600000,
        resolution: 60000,
        aggregation: 'MAX',
        attributes: ['temp'],
        deviceIds: [need(s.thermoA, 'device thermo-a').id],
      },
    });
    return result;
  });

  await step('data.lastValueQuery', async () => {
    return client.data.lastValueQuery({
      applicationId: need(s.appId, 'application'),
      query: { attribute: 'temp', deviceTags: [{ key: 'site', value: 'plant-1' }] },
    });
  });

  // --- commands --------------------------------------------------------------
  await step('device.sendCommand', async () => {
    return client.device.sendCommand({
      applicationId: need(s.appId, 'application'),
      deviceId: need(s.thermoA, 'device thermo-a').id,
      deviceCommand: { name: 'setPoint', payload: { target: 20, unit: 'C' } },
    });
  });

  await step('device.getCommand', async () => {
    const { applicationId, deviceId } = asDevice();
    const commands = await deviceClient.device.getCommand({ applicationId, deviceId, limit: 5 });
    return commands.map((c) => ({ name: c.name, payload: c.payload, time: c.time }));
  });

  // --- events ----------------------------------------------------------------
  await step('events.post', async () => {
    const event = await client.events.post({
      applicationId: need(s.appId, 'application'),
      event: {
        level: 'warning',
        subject: 'Overheat on thermo-a',
        message: 'temp above 21',
        deviceId: need(s.thermoA, 'device thermo-a').id,
        eventTags: { floor: '3' },
      },
    });
    s.event = event;
    return { id: event.id, level: event.level, state: event.state, subject: event.subject, deviceId: event.deviceId };
  });

  await step('events.get:advancedQuery', async () => {
    const list = await client.events.get({
      applicationId: need(s.appId, 'application'),
      query: { $and: [{ level: { $in: ['warning', 'error'] } }, { subject: { $startsWith: 'Overheat' } }] },
      state: 'new',
    });
    return { count: list.count, totalCount: list.totalCount, ids: (list.items || []).map((e) => e.id) };
  });

  await step('event.patch', async () => {
    const event = await client.event.patch({
      applicationId: need(s.appId, 'application'),
      eventId: need(s.event, 'event').id,
      event: { state: 'acknowledged', comment: 'on it' },
    });
    return { id: event.id, state: event.state, updates: (event.updates || []).map((u) => u.comment) };
  });

  await step('events.get:state', async () => {
    const list = await client.events.get({ applicationId: need(s.appId, 'application'), state: 'acknowledged' });
    return { count: list.count, ids: (list.items || []).map((e) => e.id) };
  });

  // --- application readme ----------------------------------------------------
  await step('application.readmePatch', async () => {
    const readme = await client.application.readmePatch({
      applicationId: need(s.appId, 'application'),
      readme: { content: '# JS Client Fleet\n\nThermostats on floors 3 and 4.' },
    });
    return { content: readme.content };
  });

  await step('application.readme', async () => {
    const readme = await client.application.readme({ applicationId: need(s.appId, 'application') });
    return { content: readme.content };
  });

  // --- errors reach the caller as the client's error -------------------------
  await step('error.deviceNotFound', async () => {
    try {
      await client.device.get({ applicationId: need(s.appId, 'application'), deviceId: '0123456789abcdef01234567' });
    } catch (err) {
      return describeError(err);
    }
    throw new Error('device.get of a missing device resolved instead of rejecting');
  });

  // --- live state over SSE ---------------------------------------------------
  await step('device.stateStream', async () => {
    const { applicationId, deviceId } = asDevice();
    const es = await client.device.stateStream({ applicationId, deviceId, keepAliveInterval: 1 });
    try {
      const received = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no deviceState event within ' + STREAM_WAIT_MS + ' ms')), STREAM_WAIT_MS);
        es.addEventListener('deviceState', (message) => {
          const state = JSON.parse(message.data);
          if (state.data && state.data.label === 'streamed') {
            clearTimeout(timer);
            resolve(state);
          }
        });
      });
      await deviceClient.device.sendState({
        applicationId, deviceId, deviceState: { data: { temp: 24.25, label: 'streamed' } },
      });
      const state = await received;
      return { readyState: es.readyState, event: state };
    } finally {
      es.close();
    }
  });
}

main()
  .catch((err) => emit('script.crash', false, describeError(err)))
  .finally(() => process.exit(0));
