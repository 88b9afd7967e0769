'use strict';
// Realistic event bodies for the load generator: ~200–500 bytes of JSON each, 36 event types with
// a skewed (Zipf-like) mix, USERS users with a few sessions each, client-sent eventIds of which
// DUPLICATE_RATE repeat an id sent before (→ 200 duplicate / `duplicate` batch items).
//
// Building a body must cost the load generator little: a pool of pre-serialized events (all
// fields but eventId) is made once; a body is `{"eventId":"<uuid>",` + a pooled remainder.
const { randomUUID } = require('node:crypto');

const EVENT_TYPES = [
  'page.view', 'page.scroll', 'button.click', 'search.query', 'product.view', 'cart.add', 'session.start',
  'app.open', 'form.submit', 'video.play', 'cart.remove', 'checkout.start', 'login', 'notification.open',
  'video.pause', 'share', 'like', 'comment', 'checkout.complete', 'purchase', 'signup', 'logout',
  'video.complete', 'email.open', 'email.click', 'app.background', 'error.client', 'feature.used',
  'settings.change', 'profile.update', 'file.upload', 'file.download', 'subscription.start',
  'subscription.cancel', 'ad.impression', 'rating.submit',
];

const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126.0 Mobile Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'ShopApp/4.12.3 (iOS 17.5; iPhone15,2)',
  'ShopApp/4.12.1 (Android 13; SM-S911B)',
];
const PATHS = ['/', '/home', '/products', '/products/4711', '/cart', '/checkout', '/search', '/account/settings', '/blog/how-we-scale', '/pricing'];
const REFERRERS = ['https://www.google.com/', 'https://news.ycombinator.com/', '', 'https://t.co/abc123', 'https://www.bing.com/search?q=event+analytics'];
const LOCALES = ['en-US', 'de-DE', 'fr-FR', 'es-ES', 'ja-JP', 'pt-BR'];
const PLATFORMS = ['web', 'ios', 'android'];

/** Small deterministic PRNG (mulberry32): the same pool on every run and machine. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const userIdOf = (n) => `user_${String(n).padStart(6, '0')}`;

function payloadFor(type, r, pick) {
  const [group] = type.split('.');
  switch (group) {
    case 'page':
      return { path: pick(PATHS), referrer: pick(REFERRERS), durationMs: Math.floor(r() * 60_000) };
    case 'cart':
    case 'checkout':
    case 'purchase':
    case 'product':
      return { sku: `SKU-${Math.floor(r() * 90_000) + 10_000}`, quantity: 1 + Math.floor(r() * 3), priceCents: Math.floor(r() * 20_000), currency: 'EUR' };
    case 'search':
      return { query: pick(['running shoes', 'red dress size 38', 'usb-c cable', 'gift ideas', 'laptop stand']), results: Math.floor(r() * 500) };
    case 'video':
      return { videoId: `vid_${Math.floor(r() * 5000)}`, positionSec: Math.floor(r() * 3600), quality: pick(['720p', '1080p', '4k']) };
    case 'error':
      return { code: pick(['E_NETWORK', 'E_TIMEOUT', 'E_RENDER']), message: 'GET /api/cart failed', fatal: r() < 0.1 };
    default:
      return { target: pick(['primary-cta', 'nav-menu', 'footer-link', 'modal-close']), value: Math.floor(r() * 100) };
  }
}

class EventGenerator {
  /**
   * @param {object} o
   * @param {number} [o.users]           distinct users
   * @param {number} [o.poolSize]        pre-serialized events (cycled)
   * @param {number} [o.duplicateRate]   share of events that repeat an earlier eventId
   * @param {number} [o.seed]
   * @param {number} [o.now]             timestamps are in the minutes before this
   */
  constructor({ users = 20_000, poolSize = users, duplicateRate = 0.05, seed = 42, now = Date.now() } = {}) {
    const r = prng(seed);
    const pick = (list) => list[Math.floor(r() * list.length)];
    // Zipf-like type weights: the first types dominate, as page views do in real traffic.
    const weights = EVENT_TYPES.map((_, i) => 1 / (i + 1));
    const total = weights.reduce((a, b) => a + b, 0);
    const pickType = () => {
      let x = r() * total;
      for (let i = 0; i < EVENT_TYPES.length; i++) if ((x -= weights[i]) <= 0) return EVENT_TYPES[i];
      return EVENT_TYPES[0];
    };

    this.users = users;
    this.duplicateRate = duplicateRate;
    this.pool = [];
    for (let i = 0; i < poolSize; i++) {
      // Every user appears once per pool cycle (7919 is prime, so coprime with any users count
      // that is not its multiple): the traffic really spans `users` users.
      const userNo = (i * 7919) % users;
      const eventType = pickType();
      const event = {
        eventType,
        userId: userIdOf(userNo),
        sessionId: `sess_${userNo.toString(36)}_${Math.floor(r() * 4)}_${Math.floor(r() * 0xffffff).toString(16)}`,
        timestamp: new Date(now - Math.floor(r() * 300_000)).toISOString(),
        metadata: {
          platform: pick(PLATFORMS),
          userAgent: pick(USER_AGENTS),
          ip: `${10 + Math.floor(r() * 200)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`,
        },
        payload: payloadFor(eventType, r, pick),
      };
      if (event.metadata.platform !== 'web') event.metadata.appVersion = `4.${10 + Math.floor(r() * 3)}.${Math.floor(r() * 10)}`;
      if (r() < 0.5) event.metadata.locale = pick(LOCALES);
      if (r() < 0.3) event.priority = Math.floor(r() * 5);
      // `{"eventId":"…",` is prepended to this remainder.
      this.pool.push({ event, rest: JSON.stringify(event).slice(1) });
    }
    this.cursor = 0;
    this.recent = new Array(8192);
    this.recentCount = 0;
    this.rand = Math.random;
    this.sent = 0;
    this.duplicatesSent = 0;
  }

  /** A fresh eventId, or (duplicateRate of the time) one sent before. */
  nextId() {
    this.sent++;
    if (this.recentCount > 100 && this.rand() < this.duplicateRate) {
      this.duplicatesSent++;
      return { id: this.recent[Math.floor(this.rand() * Math.min(this.recentCount, this.recent.length))], duplicate: true };
    }
    const id = randomUUID();
    this.recent[this.recentCount++ % this.recent.length] = id;
    return { id, duplicate: false };
  }

  nextPooled() {
    const p = this.pool[this.cursor];
    this.cursor = (this.cursor + 1) % this.pool.length;
    return p;
  }

  /** One event as JSON text (the single-event request body). */
  single() {
    return `{"eventId":"${this.nextId().id}",${this.nextPooled().rest}`;
  }

  /** A batch request body of n events. */
  batch(n) {
    let body = '{"events":[';
    for (let i = 0; i < n; i++) {
      if (i > 0) body += ',';
      body += `{"eventId":"${this.nextId().id}",${this.nextPooled().rest}`;
    }
    return body + ']}';
  }

  /** A batch body plus what it contains (for the lag scenario, which tracks events). */
  batchWithEvents(n) {
    const events = [];
    let body = '{"events":[';
    for (let i = 0; i < n; i++) {
      const { id, duplicate } = this.nextId();
      const p = this.nextPooled();
      events.push({ id, duplicate, userId: p.event.userId });
      if (i > 0) body += ',';
      body += `{"eventId":"${id}",${p.rest}`;
    }
    return { body: body + ']}', events };
  }

  /**
   * An event object as the API would accept it, with its own timestamp (ms) — for data written
   * directly to storage (storage ceiling, analytics data set). Always a fresh id.
   */
  eventAt(timestampMs) {
    const { event } = this.nextPooled();
    return { eventId: randomUUID(), ...event, timestamp: new Date(timestampMs).toISOString(), priority: event.priority ?? 1 };
  }

  /** Size statistics of the pooled events with an eventId (bytes of JSON). */
  sizeStats() {
    const sizes = this.pool.map((p) => Buffer.byteLength(p.rest) + '{"eventId":"00000000-0000-0000-0000-000000000000",'.length);
    sizes.sort((a, b) => a - b);
    return {
      min: sizes[0],
      p50: sizes[Math.floor(sizes.length / 2)],
      mean: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
      max: sizes[sizes.length - 1],
      eventTypes: EVENT_TYPES.length,
      users: this.users,
      duplicateRate: this.duplicateRate,
    };
  }
}

module.exports = { EventGenerator, EVENT_TYPES, userIdOf };
