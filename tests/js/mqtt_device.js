// A device on the mock's MQTT broker, connected and subscribed exactly as the
// official Node client (losant-mqtt, lib/mqtt.js and lib/device.js) does it with
// MQTT.js: clientId = device id, username/password = access key/secret, subscribe
// to losant/ID/command on every connect, publish state as the client's LJSON
// (dates become {"$date": ISO}) with QoS 0 (its default qosPublish).
//
// usage: node mqtt_device.js HOST PORT DEVICE_ID KEY SECRET
// Prints one JSON line per event; exits after the first command arrives.
'use strict';
const mqtt = require('mqtt');

const [host, port, id, key, secret] = process.argv.slice(2);
const commandTopic = `losant/${id}/command`;
const stateTopic = `losant/${id}/state`;
const emit = (event, detail) => console.log(JSON.stringify({ event, detail }));

// losant-mqtt's lib/ljson.js stringify: Date values as {"$date": ISO}.
const ljson = (value) => JSON.stringify(value, function(k, v) {
  const orig = this[k];
  if (orig && typeof orig.toISOString === 'function') { return { $date: orig.toISOString() }; }
  return v;
});

const client = mqtt.connect(`mqtt://${host}`, {
  clientId: id, username: key, password: secret, port: Number(port), reconnectPeriod: 0
});
client.on('connect', () => {
  emit('connected');
  client.subscribe(commandTopic, (err, granted) => {
    emit('subscribed', { err: err ? String(err) : null, granted });
    const payload = { time: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)), data: { battery: 77 } };
    client.publish(stateTopic, ljson(payload), { qos: 0 }, (perr) => {
      emit('published', { err: perr ? String(perr) : null });
    });
  });
});
client.on('message', (topic, message) => {
  if (topic !== commandTopic) { return; }
  emit('command', JSON.parse(message.toString()));
  client.end(false, () => { emit('closed'); process.exit(0); });
});
client.on('error', (err) => { emit('error', String(err)); process.exit(1); });
setTimeout(() => { emit('timeout'); process.exit(2); }, 60000);
