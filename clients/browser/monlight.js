/* Monlight browser SDK: plain ES2018, no dependencies, no build step. See README.md. */
(function (root, factory) {
  const api = factory(root);
  if (typeof module === "object" && module.exports) module.exports = api;
  // Loaded twice (two script tags)? Keep the first instance: its listeners are the live ones.
  if (root) root.Monlight = root.Monlight || api;
})(typeof window !== "undefined" ? window : undefined, function (w) {
  const VERSION = "1.0.0";
  const MAX_STACK = 16384; // characters: the relay takes bodies up to 64 KiB
  const MAX_BODY = 60000; // characters of JSON per request, else the request is dropped
  const DUPLICATES = 5; // the same error more often than this within a minute is dropped
  const API = "/api/browser/";
  const SESSION_KEY = "monlight_session";
  const HISTOGRAM = "histogram";
  const TYPES = [HISTOGRAM, "counter", "gauge"];

  let cfg = null; // options of the first successful init
  let sid = ""; // anonymous per-tab session id
  let user = {};
  let contexts = {};
  let queue = [];
  let timer = 0;
  let rejected = 0; // consecutive 401 answers
  let dead = false; // after 3 × 401: disabled for this page
  let pausedUntil = 0; // Date.now() before which nothing is sent (after a 429)
  let own = false; // true while the SDK itself calls fetch (captureRequests skips those)
  let busy = false; // inside beforeSend: a captureError from there must not recurse
  let report = null; // sends the Web Vitals; null once done
  let hiding = false; // inside onHide: a full batch goes by beacon too
  const warned = {};
  const dupes = new Map();
  const stats = { sent: 0, dropped: 0, failed: 0, beforeSendErrors: 0 };

  // Every public entry point and listener runs through this: the SDK never throws into the page.
  const safe = (fn) =>
    function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        // swallowed
      }
    };
  const warn = (text) => {
    if (!warned[text]) console.warn("Monlight: " + (warned[text] = text));
  };
  const cut = (value, max) => String(value).slice(0, max);
  const now = () => performance.now();
  const iso = () => new Date().toISOString();
  const json = (value) => {
    try {
      return JSON.stringify(value);
    } catch (e) {
      // circular or BigInt: undefined, dropped
    }
  };
  const open = () => cfg && !dead && Date.now() >= pausedUntil;
  const drop = () => {
    stats.dropped++;
  };

  function sessionId() {
    let id;
    try {
      id = sessionStorage.getItem(SESSION_KEY);
    } catch (e) {
      // storage disabled: a fresh id per page load
    }
    if (!id) {
      const hex = (byte) => (byte + 256).toString(16).slice(1);
      id = Array.from(crypto.getRandomValues(new Uint8Array(16)), hex).join(""); // 32 hex digits
      try {
        sessionStorage.setItem(SESSION_KEY, id);
      } catch (e) {
        // as above
      }
    }
    return id;
  }

  // ---- transport -------------------------------------------------------------------------

  function answered(response) {
    const status = response.status;
    rejected = status === 401 ? rejected + 1 : 0;
    if (rejected > 2 && !dead) {
      dead = true;
      queue = [];
      clearInterval(timer);
      warn("key rejected (401): disabled");
    }
    if (status === 429) {
      // Readable only if the relay sends Access-Control-Expose-Headers: Retry-After; else 60 s.
      const after = response.headers.get("Retry-After");
      pausedUntil = Date.now() + (after && after >= 0 ? Math.min(after, 3600) * 1e3 : 6e4);
    }
  }

  // POST JSON with the key header: a promise that settles (never rejects) with the request.
  function post(path, body, keepalive) {
    own = true;
    const sent = new Promise((resolve) =>
      resolve(
        w.fetch(cfg.endpoint + path, {
          method: "POST",
          keepalive: keepalive,
          headers: { "Content-Type": "application/json", "X-Monlight-Key": cfg.dsn },
          body: body,
        }),
      ),
    ).then(safe(answered), () => {
      stats.failed++; // network error, CORS refusal, offline: swallowed
    });
    own = false;
    return sent;
  }

  // ---- errors ----------------------------------------------------------------------------

  function normalize(x, fallbackType) {
    if (x instanceof Error || (x && typeof x.message === "string" && typeof x.name === "string")) {
      return { type: x.name, message: x.message, stack: x.stack || "" };
    }
    return { type: fallbackType, message: typeof x === "string" ? x : json(x) || String(x), stack: "" };
  }

  function capture(error, context, level) {
    if (busy) return;
    if (!open() || !(Math.random() < cfg.sampleRate)) return drop();
    const stack = cut(error.stack, MAX_STACK);
    // Dedupe on type + message + first frame (a V8, Firefox or Safari frame ends in :line:col).
    const frame = stack.split("\n").find((line) => /:\d+:\d+\)?\s*$/.test(line));
    const key = [error.type, error.message, frame].join("\n");
    const t = Date.now();
    let seen = dupes.get(key);
    if (!seen || t - seen[1] > 6e4) {
      if (dupes.size > 100) dupes.clear();
      dupes.set(key, (seen = [0, t]));
    }
    if (++seen[0] > DUPLICATES) return drop();
    let event = {
      type: cut(error.type || "Error", 200),
      message: cut(error.message, 2048),
      stack: stack,
      url: cut(location.href, 500),
      user_agent: navigator.userAgent,
      session_id: sid,
      release: cfg.release,
      context: {
        ...user,
        ...contexts,
        ...(typeof context === "object" && context),
        environment: cfg.environment,
        level: level,
      },
      timestamp: iso(),
    };
    if (typeof cfg.beforeSend === "function") {
      busy = true;
      try {
        event = cfg.beforeSend(event);
      } catch (e) {
        stats.beforeSendErrors++;
        warn("beforeSend threw");
        event = null;
      }
      busy = false;
    }
    const body = event && typeof event === "object" && json(event);
    if (!body || body.length > MAX_BODY) return drop();
    stats.sent++;
    post(API + "errors", body, true);
  }

  // e.error is null for a cross-origin script without CORS ("Script error.").
  const onError = (e) =>
    capture(normalize(e.error == null ? e.message : e.error, "Error"), null, "error");

  // ---- metrics ---------------------------------------------------------------------------

  function metric(name, value, options) {
    options = options || {};
    if (!cfg || dead || !name || !Number.isFinite(value)) return;
    if (queue.length >= 1000) return drop(); // bounded while paused or offline
    queue.push({
      name: cut(name, 200),
      type: TYPES.indexOf(options.type) < 0 ? "gauge" : options.type,
      value: value,
      labels: { ...options.labels },
      timestamp: iso(),
    });
    if (queue.length >= cfg.maxBatch) flush(hiding);
  }

  // Sends the queue in batches of maxBatch; returns the promises of the fetches it made.
  function flush(beacon) {
    const sent = [];
    while (open() && queue.length) {
      const body = json({
        metrics: queue.splice(0, cfg.maxBatch),
        session_id: sid,
        url: location.origin + location.pathname, // no query, no fragment
      });
      if (!body || body.length > MAX_BODY) {
        drop();
        continue;
      }
      // A beacon cannot carry headers: the key goes in the query; text/plain needs no preflight.
      const url = cfg.endpoint + API + "metrics";
      const sendBeacon = () =>
        navigator.sendBeacon(
          url + "?key=" + encodeURIComponent(cfg.dsn),
          new Blob([body], { type: "text/plain" }),
        );
      if (!beacon || !safe(sendBeacon)()) sent.push(post(API + "metrics", body, !!beacon));
    }
    return sent;
  }

  // ---- captureRequests -------------------------------------------------------------------

  function timing(method, url, status, start) {
    metric("http_client_duration_ms", Math.round(now() - start), {
      type: HISTOGRAM,
      labels: {
        method: String(method || "GET").toUpperCase(),
        host: new URL(url, location.href).host, // only the host: never a path or query
        status: status ? ((status / 100) | 0) + "xx" : "error",
      },
    });
  }

  function wrapRequests() {
    const originalFetch = w.fetch;
    w.fetch = function (input, init) {
      const mine = own;
      const start = now();
      const result = originalFetch.apply(this, arguments);
      if (!mine) {
        try {
          const method = (init && init.method) || input.method;
          const url = input.url || input; // a Request, a string or a URL
          result.then(
            safe((response) => timing(method, url, response.status, start)),
            safe(() => timing(method, url, 0, start)),
          );
        } catch (e) {
          // never in the page's way
        }
      }
      return result;
    };
    const proto = XMLHttpRequest.prototype;
    const originalOpen = proto.open;
    const originalSend = proto.send;
    proto.open = function (method, url) {
      this._monlight = [method, url];
      return originalOpen.apply(this, arguments);
    };
    proto.send = function () {
      const request = this._monlight;
      const start = now();
      if (request) {
        this.addEventListener(
          "loadend",
          safe(() => timing(request[0], request[1], this.status, start)),
        );
      }
      return originalSend.apply(this, arguments);
    };
  }

  // ---- Web Vitals ------------------------------------------------------------------------

  function vitals() {
    const supported = (w.PerformanceObserver && PerformanceObserver.supportedEntryTypes) || [];
    // Paints of a page loaded in the background say nothing about what a user saw.
    const firstHidden = document.visibilityState === "hidden" ? 0 : Infinity;
    const values = {};
    const observers = [];
    const watch = (type, handle, options) => {
      if (supported.indexOf(type) < 0) return;
      const observer = new PerformanceObserver(safe((list) => list.getEntries().forEach(handle)));
      observer.observe({ type: type, buffered: true, ...options });
      observers.push([observer, handle]);
    };
    watch("paint", (entry) => {
      if (entry.name === "first-contentful-paint" && entry.startTime < firstHidden) {
        values.fcp = entry.startTime;
      }
    });
    // The browser stops emitting LCP entries at the first input: the last one is the LCP.
    watch("largest-contentful-paint", (entry) => {
      if (entry.startTime < firstHidden) values.lcp = entry.startTime;
    });
    // CLS: shifts without recent input, in session windows (1 s gap, 5 s max); the largest window.
    if (supported.indexOf("layout-shift") >= 0) values.cls = 0;
    let windowValue = 0;
    let windowStart = 0;
    let last = -1e9;
    watch("layout-shift", (entry) => {
      const t = entry.startTime;
      if (entry.hadRecentInput) return;
      if (t - last < 1000 && t - windowStart < 5000) {
        windowValue += entry.value;
      } else {
        windowValue = entry.value;
        windowStart = t;
      }
      last = t;
      values.cls = Math.max(values.cls, windowValue);
    });
    // INP: the worst latency of each interaction, then the (count / 50)-th worst (≈ p98).
    const interactions = new Map();
    const interaction = (entry) => {
      const id = entry.interactionId;
      if (id) interactions.set(id, Math.max(interactions.get(id) || 0, entry.duration));
    };
    watch("event", interaction, { durationThreshold: 40 });
    watch("first-input", interaction);

    return () => {
      observers.forEach((o) => o[0].takeRecords().forEach(o[1]));
      const latencies = [...interactions.values()].sort((a, b) => b - a);
      if (latencies.length) values.inp = latencies[(latencies.length / 50) | 0];
      const nav = performance.getEntriesByType("navigation")[0];
      if (nav && nav.responseStart > 0) {
        values.ttfb = Math.max(0, nav.responseStart - (nav.activationStart || 0));
      }
      for (const name in values) {
        const value = +values[name].toFixed(name === "cls" ? 4 : 1);
        metric("web_vitals_" + name, value, { type: HISTOGRAM });
      }
    };
  }

  function onHide(e) {
    if (e.type !== "pagehide" && document.visibilityState !== "hidden") return;
    const send = report;
    report = null; // once per page view
    hiding = true;
    if (send) safe(send)();
    flush(true);
    hiding = false;
  }

  // ---- public API ------------------------------------------------------------------------

  function init(options) {
    if (cfg || !w) return; // a second call is harmless
    options = options || {};
    if (!options.dsn || !options.endpoint) return warn("dsn and endpoint required");
    if (options.enabled === false) return;
    cfg = {
      ...options,
      endpoint: String(options.endpoint).replace(/\/+$/, ""),
      sampleRate: options.sampleRate == null ? 1 : +options.sampleRate,
      release: options.release && "" + options.release,
      maxBatch: Math.max(1, Math.min(250, options.maxBatch | 0 || 50)),
    };
    sid = sessionId();
    addEventListener("error", safe(onError));
    addEventListener(
      "unhandledrejection",
      safe((e) => capture(normalize(e.reason, "UnhandledRejection"), null, "error")),
    );
    timer = setInterval(safe(flush), +options.flushInterval || 1e4);
    if (options.captureRequests) safe(wrapRequests)();
    if (options.webVitals !== false) report = safe(vitals)();
    document.addEventListener("visibilitychange", safe(onHide));
    addEventListener("pagehide", safe(onHide));
  }

  return {
    VERSION: VERSION,
    init: safe(init),
    captureError: safe((error, context) => capture(normalize(error, "Error"), context, "error")),
    captureMessage: safe((message, level) =>
      capture(normalize(String(message), "Message"), null, level || "info"),
    ),
    setUser: safe((u) => {
      user = { ...(typeof u === "object" && u) };
      if (user.id != null) user.user_id = cut(user.id, 100);
      delete user.id;
    }),
    addContext: safe((key, value) => {
      contexts[key] = value;
    }),
    metric: safe(metric),
    flush: () => Promise.all(safe(flush)() || []).then(() => undefined),
    stats: () => ({
      ...stats,
      queued: queue.length,
      disabled: dead,
      pausedMs: Math.max(0, pausedUntil - Date.now()),
    }),
  };
});
