'use strict';
// Ingestion ceiling (contract §7): a bare Fastify server that validates the same payload with the
// product's own JSON Schema (dist/ingestion/schemas/event.schema.js, compiled by Fastify's AJV as
// a route schema) and answers 202 with a response of the same shape — no Redis, no auth, no
// logging, no Nest. Same body limits as the product (32 KiB per event, 5 MiB per batch).
const path = require('node:path');
const fastify = require('fastify');
const { eventSchema, MAX_EVENT_BYTES, MAX_BATCH_EVENTS } = require(path.join(__dirname, '..', '..', 'dist', 'ingestion', 'schemas', 'event.schema.js'));

const app = fastify({ logger: false, bodyLimit: 5 * 1024 * 1024, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });

app.post('/api/v1/events', { bodyLimit: MAX_EVENT_BYTES, schema: { body: eventSchema } }, async (req, reply) => {
  reply.code(202);
  return { success: true, data: { eventId: req.body.eventId, accepted: true, duplicate: false } };
});

const batchSchema = {
  type: 'object',
  required: ['events'],
  properties: { events: { type: 'array', minItems: 1, maxItems: MAX_BATCH_EVENTS, items: eventSchema } },
};
app.post('/api/v1/events/batch', { schema: { body: batchSchema } }, async (req, reply) => {
  const events = req.body.events;
  reply.code(202);
  return {
    success: true,
    data: {
      accepted: events.length,
      duplicates: 0,
      rejected: 0,
      total: events.length,
      results: events.map((e, index) => ({ index, eventId: e.eventId, status: 'accepted' })),
    },
  };
});

app.get('/ready', async () => ({ ok: true }));

app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' }).catch((err) => {
  console.error(err);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => app.close().then(() => process.exit(0)));
