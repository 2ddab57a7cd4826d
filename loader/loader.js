/*! openproctor loader: privacy-first proctoring. Sends signed metadata only (never video,
 * audio, images, keystrokes or clipboard contents). Docs: docs/sdk.md */
// ES5 on purpose: it must parse in any browser, so one too old for the worker is told so in
// words (browser_unsupported), not by a syntax error; and it is served as written, untranspiled.
// worker.js is modern: only browsers with module workers run it.
(function () {
  "use strict";
  var script = document.currentScript;
  var previous = window.openproctor;
  if (previous && previous.version) return; // loaded twice: keep the first
  var VERSION = "__OPENPROCTOR_VERSION__"; // stamped by build.py (core's SDK_VERSION)
  var QUEUED_SIGNALS = 5000, ACTIVITY_MS = 5000, RESIZE_SETTLE_MS = 250, COMBO_CHARS = 32, BATCH_EVENTS = 200;
  var UNLOAD_EVENTS = 100, UNLOAD_BYTES = 60000; // keepalive bodies are capped at 64 KiB
  var RETRY_FIRST_MS = 1000, RETRY_MAX_MS = 30000; // backoff, jittered +-25 %
  var BOOT_TICK_MS = 2000; // while the core boots the page ticks: a slow boot is no SDK gap
  var CODE_FIELDS = "input[name=quizpassword],input[name=access_code]"; // Moodle's, Canvas's
  var queued = []; // the one queue: {at (epoch ms), s}, held until a worker is ready
  var current = null; // the running session
  var lastActivity = 0;
  var consenting = false; // consent is required and not given yet: nothing is recorded
  var blocked = {}; // policy.prevent: the actions this exam blocks (each attempt still recorded)

  // ---- signal capture: from the first moment, metadata only
  function epoch() { return performance.timeOrigin + performance.now(); }
  function signal(kind, extra) {
    if (consenting && kind !== "tick") return;
    var s = { kind: kind };
    for (var k in extra) s[k] = extra[k];
    if (queued.length < QUEUED_SIGNALS) queued.push({ at: epoch(), s: s });
    if (current && current.live()) current.drain();
  }
  function on(target, type, fn) { target.addEventListener(type, fn, { capture: true, passive: true }); }
  on(document, "visibilitychange", function () { signal("visibility", { hidden: document.visibilityState === "hidden" }); });
  on(window, "blur", function (e) {
    if (e.target !== window) return;
    var el = document.activeElement;
    signal("blur", { iframe: !!el && el.tagName === "IFRAME" });
  });
  on(window, "focus", function (e) { if (e.target === window) signal("focus", {}); });
  on(document, "fullscreenchange", function () { signal("fullscreen", { active: !!document.fullscreenElement }); });
  ["copy", "cut", "paste"].forEach(function (type) { on(document, type, function () { signal("clipboard", { action: type }); }); });
  on(document, "contextmenu", function () { signal("contextmenu", {}); });
  // prevent: a second, non-passive listener cancels what the exam blocks
  function block(type, what) {
    document.addEventListener(type, function (e) {
      if (blocked[what] && !consenting) { e.preventDefault(); window.dispatchEvent(new CustomEvent("openproctor:blocked", { detail: what })); }
    }, true);
  }
  block("copy", "copy"); block("cut", "copy"); block("paste", "paste"); block("contextmenu", "context_menu");
  document.addEventListener("keydown", function (e) { // Ctrl+P / Cmd+P: the print dialog is the only way we can stop
    if (blocked.print && !consenting && (e.ctrlKey || e.metaKey) && (e.key === "p" || e.key === "P")) { e.preventDefault(); signal("print", {}); window.dispatchEvent(new CustomEvent("openproctor:blocked", { detail: "print" })); }
  }, true);
  on(window, "beforeprint", function () { signal("print", {}); });
  on(window, "online", function () { signal("network", { online: true }); });
  on(window, "offline", function () { signal("network", { online: false }); });
  on(document, "keydown", function (e) {
    // Only combinations (a modifier or an F-key) are named; ordinary typing is never recorded.
    var fkey = /^F\d{1,2}$/.test(e.key);
    if (e.ctrlKey || e.metaKey || e.altKey || fkey) {
      var mods = [e.ctrlKey && "Ctrl", e.altKey && "Alt", e.shiftKey && "Shift", e.metaKey && "Meta"].filter(Boolean);
      var key = e.key && e.key.length === 1 ? e.key.toUpperCase() : e.key;
      if (key && ["Control", "Alt", "Shift", "Meta"].indexOf(key) < 0) signal("shortcut", { combo: mods.concat([key]).join("+").slice(0, COMBO_CHARS) });
    }
    activity("activity");
  });
  function activity(kind) {
    var t = epoch();
    if (t - lastActivity > ACTIVITY_MS) { lastActivity = t; signal(kind, {}); }
  }
  on(document, "pointerdown", function () { activity("activity"); });
  on(document, "pointermove", function () { activity("pointer"); });
  on(document, "wheel", function () { activity("activity"); });
  var sizeTimer = 0;
  function size() {
    signal("window_size", { outer_w: window.outerWidth, outer_h: window.outerHeight, inner_w: window.innerWidth, inner_h: window.innerHeight });
  }
  on(window, "resize", function () { clearTimeout(sizeTimer); sizeTimer = setTimeout(size, RESIZE_SETTLE_MS); });
  function screens() { if (typeof screen.isExtended === "boolean") signal("screens", { extended: screen.isExtended }); }
  if (screen.addEventListener) on(screen, "change", screens);
  screens();
  size();

  // ---- environment summary (no fingerprinting beyond what the reviewer needs)
  function environment() {
    var ua = navigator.userAgent, m;
    var env = { browser: "Unknown", browser_version: "0", engine: "Unknown", platform: "Unknown", mobile: /Mobi|Android|iPhone|iPad/.test(ua), screens: screen.isExtended === true ? 2 : screen.isExtended === false ? 1 : null };
    function is(browser, version, engine) { env.browser = browser; env.browser_version = version; env.engine = engine; }
    if ((m = ua.match(/Edg\/([\d.]+)/))) is("Edge", m[1], "Blink");
    else if ((m = ua.match(/(?:Headless)?Chrome\/([\d.]+)/))) {
      var brands = (navigator.userAgentData && navigator.userAgentData.brands || []).map(function (b) { return b.brand; });
      is(brands.indexOf("Google Chrome") >= 0 ? "Chrome" : "Chromium", m[1], "Blink");
    } else if ((m = ua.match(/Firefox\/([\d.]+)/))) is("Firefox", m[1], "Gecko");
    else if ((m = ua.match(/Version\/([\d.]+).*Safari/)) && /Macintosh|iPhone|iPad/.test(ua)) is("Safari", m[1], "WebKit");
    else if (/AppleWebKit/.test(ua) && /Linux|X11/.test(ua)) is("WebKitGTK", "unknown", "WebKit"); // its Safari version is a fixed token
    else if ((m = ua.match(/AppleWebKit\/([\d.]+)/))) is("WebKit", m[1], "WebKit");
    var uad = navigator.userAgentData;
    env.platform = ((uad && uad.platform) || navigator.platform || "Unknown").slice(0, 64) || "Unknown";
    if (uad && uad.mobile) env.mobile = true;
    return env;
  }

  // ---- persistence: unsent events survive a reload or a network drop (IndexedDB)
  function openDb() {
    return new Promise(function (resolve) {
      if (!window.indexedDB) return resolve(null);
      var req = indexedDB.open("openproctor", 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("outbox", { keyPath: ["sid", "seq"] });
        req.result.createObjectStore("sessions", { keyPath: "sid" });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { resolve(null); };
    });
  }
  function idb(db, store, mode, fn) {
    return new Promise(function (resolve) {
      if (!db) return resolve(null);
      var tx = db.transaction(store, mode), out = fn(tx.objectStore(store));
      tx.oncomplete = function () { resolve(out && "result" in out ? out.result : null); };
      tx.onerror = tx.onabort = function () { resolve(null); };
    });
  }

  // ---- a session
  function deferred() { var d = {}; d.promise = new Promise(function (r, j) { d.resolve = r; d.reject = j; }); return d; }
  function fail(code, message) { var e = new Error(message); e.code = code; return e; }

  function Session(server, grant, db, stored, options) {
    var self = this, api = server + "/api/v1/sessions/" + grant.session_id;
    var listeners = [], unacked = (stored && stored.outbox) || [], sending = false, backoff = 0, retryTimer = 0;
    var started = deferred(), finished = deferred(), uploaded = deferred(), ready = deferred(), alive = deferred();
    var worker = null, finishing = false, ended = false, gated = !!grant.gate;
    var policy = grant.policy, mine = (policy.accommodations || {})[grant.session_id] || {};
    var allowance = mine.breaks || policy.breaks || { count: 0, max_minutes: 0 };
    var taken = (grant.tally && grant.tally.breaks) || [], breakListeners = [];
    var mode = policy.consent || "required", agreed = deferred();
    if (mode !== "required" || (stored && stored.consented)) agreed.resolve();
    else { consenting = true; queued.length = 0; } // nothing the student does before agreeing is kept
    // Times count from the session's start: a reload keeps its origin, a new device the server's.
    var origin = stored && stored.origin ? stored.origin : epoch() - (grant.elapsed_ms || 0);
    this.id = grant.session_id;
    this.recordUrl = new URL(grant.record_url, server + "/").href; // the student's own record
    this.state = { ready: false, started: false, score: 1, flagged: false, flags: [], acknowledged: -1, error: null, warnings: [],
      consent: mode === "off" ? "off" : stored && stored.consented ? "given" : mode === "required" ? "pending" : "notice", notice: grant.notice || null,
      waiting: unacked.length, storage: !!db, onBreak: !!(taken.length && taken[taken.length - 1][1] === null), breaksLeft: Math.max(0, allowance.count - taken.length), breakMinutes: allowance.max_minutes, finished: false, uploaded: false };
    this.policy = policy;
    // The system check, as facts (the panel words them; an integrator with theme "none" reads
    // state.checks): true fine, false a problem, null the browser cannot tell.
    var counted = (policy.flags_enabled || []).filter(function (f) { return (mine.exempt_flags || []).indexOf(f) < 0; });
    function checks() {
      var found = { browser: true, worker: !!self.state.running, storage: !!db, server: navigator.onLine !== false };
      if (counted.indexOf("multiple_displays") >= 0) found.display = typeof screen.isExtended === "boolean" ? !screen.isExtended : null;
      if (counted.indexOf("fullscreen_exit") >= 0) found.fullscreen = !!document.fullscreenEnabled;
      return found;
    }
    this.state.checks = checks();
    this.counted = counted; // the flags that count for this candidate (the panel words them)
    this.examStarted = started.promise; this.examFinished = finished.promise;
    this.logUploaded = uploaded.promise; this.videoUploaded = uploaded.promise; // alias: no video exists
    [started, finished, uploaded, ready].forEach(function (d) { d.promise.catch(function () {}); });
    this.ready = ready.promise;

    function emit(patch) {
      for (var k in patch) self.state[k] = patch[k];
      listeners.slice().forEach(function (fn) { try { fn(self.state); } catch (e) { /* a listener's error is its own */ } });
      window.dispatchEvent(new CustomEvent("openproctor:state", { detail: self.state }));
    }
    this.on = function (type, fn) {
      if (type === "state") { listeners.push(fn); fn(self.state); } else if (type === "break") breakListeners.push(fn);
      return self;
    };
    this.off = function (type, fn) { listeners = listeners.filter(function (f) { return f !== fn; }); breakListeners = breakListeners.filter(function (f) { return f !== fn; }); return self; };
    // The student agrees to the notice (the SDK panel's "I agree", or an integrator's own UI
    // with theme "none"): a signed consent event names the notice shown.
    this.agree = function () {
      if (!/pending|notice/.test(self.state.consent) || ended) return;
      consenting = false;
      signal("consent", { notice: grant.notice.hash, mode: mode });
      size(); screens(); // the state at the start, dropped while the notice was open
      emit({ consent: "given" }); agreed.resolve();
    };
    this.decline = function () { // the student does not agree: the exam does not start
      if (self.state.consent !== "pending") return;
      emit({ consent: "declined" });
      agreed.reject(fail("consent_declined", "the student did not agree to the proctoring notice"));
      consenting = false; self.finish("closed");
    };
    function onBreak(active) {
      if (active === self.state.onBreak || !self.state.started || ended || (active && !self.state.breaksLeft)) return false;
      signal("break", { on: active });
      emit(active ? { onBreak: true, breakSince: Date.now(), breaksLeft: self.state.breaksLeft - 1 } : { onBreak: false, breakSince: null });
      breakListeners.slice().forEach(function (fn) { try { fn({ active: active, maxMinutes: allowance.max_minutes }); } catch (e) { /* its own */ } });
      return true;
    }
    this.takeBreak = function () { return onBreak(true); };
    this.endBreak = function () { return onBreak(false); };
    this.warn = function (list) { emit({ warnings: self.state.warnings.concat(list) }); };
    this.live = function () { return !!worker && self.state.ready && !ended; };
    this.drain = function () {
      worker.postMessage({ type: "signals", signals: queued.splice(0).map(function (q) { q.s.t = Math.max(0, q.at - origin); return q.s; }) });
    };
    function broken(error) {
      emit({ error: error.message, errorCode: error.code });
      [alive, ready, started, finished, uploaded].forEach(function (d) { d.reject(error); });
    }
    this.broken = broken;

    function persist(events, chain) {
      unacked = unacked.concat(events);
      emit({ waiting: unacked.length });
      idb(db, "outbox", "readwrite", function (st) { events.forEach(function (e) { st.put({ sid: grant.session_id, seq: e.seq, e: e }); }); });
      idb(db, "sessions", "readwrite", function (st) { st.put({ sid: grant.session_id, origin: origin, chain: chain, consented: self.state.consent === "given" }); });
    }
    function acknowledge(seq) {
      if (gated) { gated = false; gate(); } // the server holds our session_start now
      unacked = unacked.filter(function (e) { return e.seq > seq; });
      emit({ acknowledged: seq, waiting: unacked.length });
      idb(db, "outbox", "readwrite", function (st) { st.delete(IDBKeyRange.bound([grant.session_id, 0], [grant.session_id, seq])); });
    }
    function delay() { // 1 s, 2 s, 4 s ... 30 s
      backoff = Math.min(backoff ? backoff * 2 : RETRY_FIRST_MS, RETRY_MAX_MS);
      return backoff * (0.75 + Math.random() / 2);
    }
    function schedule(wait) { clearTimeout(retryTimer); retryTimer = setTimeout(upload, wait); }
    function upload() {
      if (sending || !unacked.length) return;
      sending = true;
      post(api + "/events", grant.token, { events: unacked.slice(0, BATCH_EVENTS) }).then(function (res) {
        sending = false;
        if (res.status === 200) {
          backoff = 0; acknowledge(res.body.acknowledged_seq);
          if (res.body.complete) complete(); else if (unacked.length) schedule(0);
        } else if (res.status === 409 && problem(res).code === "sequence_gap") {
          // The server is behind what we hold: drop nothing, resend from where it expects.
          unacked.sort(function (a, b) { return a.seq - b.seq; }); backoff = 0; schedule(0);
        } else if (transient(res.status)) { schedule(delay()); }
        else { emit({ error: problem(res).message }); } // refused: resending cannot help
      }, function () { sending = false; schedule(delay()); });
    }
    function gate() { // the exam's access code, which the server releases while this session runs
      post(api + "/access-code", grant.token).then(function (res) {
        var field = document.querySelector(options.codeField || CODE_FIELDS);
        if (res.status !== 200) return res.status < 500 && res.status !== 409 ? emit({ error: problem(res).message }) : ended || setTimeout(gate, delay());
        if (!field) { field = document.createElement("input"); field.readOnly = true; field.setAttribute("aria-label", "Access code for this exam"); document.body.prepend(field); }
        field.value = res.body.access_code;
      }, function () { setTimeout(gate, delay()); });
    }
    function complete() { // the whole log is stored: close the session
      post(api + "/finish", grant.token).then(function (res) {
        if (res.status === 200) {
          backoff = 0;
          idb(db, "sessions", "readwrite", function (st) { st.delete(grant.session_id); });
          emit({ uploaded: true }); uploaded.resolve(res.body);
        } else if (transient(res.status)) { setTimeout(complete, delay()); }
        else { var refused = problem(res); emit({ error: refused.message }); uploaded.reject(refused); }
      }, function () { setTimeout(complete, delay()); });
    }
    function flush() { // the page is going away: keepalive
      var events = unacked.slice(0, UNLOAD_EVENTS);
      if (events.length && JSON.stringify(events).length < UNLOAD_BYTES) post(api + "/events", grant.token, { events: events }, true).catch(function () {});
    }
    on(window, "pagehide", flush);
    on(document, "visibilitychange", function () { if (document.visibilityState === "hidden") flush(); });
    on(window, "online", function () { backoff = 0; schedule(0); });

    this.finish = function (reason) {
      if (!finishing) {
        finishing = true;
        ready.promise.then(function () { worker.postMessage({ type: "finish", t: epoch() - origin, reason: reason || "finished" }); });
      }
      return finished.promise;
    };

    function message(m) { // every message worker.js sends
      if (m.type === "ready") {
        emit({ ready: true, bootMs: m.bootMs, heapBytes: m.heapBytes });
        if (gated && grant.chain.next_seq) { gated = false; gate(); } // resumed: already started
        self.drain(); ready.resolve(self);
      } else if (m.type === "alive") { // the worker runs: the exam starts, the core boots on
        alive.resolve(self); self.state.running = true; emit({ checks: checks() });
        var go = function () { agreed.promise.then(function () { emit({ started: true }); started.resolve(self); }, function (e) { started.reject(e); }); };
        Promise.resolve(options.hold).then(go, go); // Constructor's beforeExamList: after "Start"
      } else if (m.type === "events") {
        persist(m.events, m.chain);
        var flagged = m.events.filter(function (e) { return counted.indexOf(e.type) >= 0; }).pop();
        if (flagged) emit({ lastFlag: { type: flagged.type, t: flagged.t, data: flagged.data } }); // for an integrator's own warnings
        if (m.events.some(function (e) { return e.type === "session_end"; })) { ended = true; emit({ finished: true }); finished.resolve(self); }
        schedule(0);
      } else if (m.type === "state") {
        emit({ score: m.live.score, flagged: m.live.flagged, flags: m.live.breakdown });
      } else if (m.type === "finished") { // free the worker's memory
        ended = true; worker.terminate(); emit({ finished: true }); finished.resolve(self);
      } else if (m.type === "error") {
        broken(fail(m.code, "proctoring could not start: " + m.message));
      }
    }

    this.start = function (manifest) {
      var base = server + "/sdk/v1/", a = manifest.assets, url = base + a.worker;
      blocked = {}; (policy.prevent || []).forEach(function (what) { blocked[what] = true; });
      try {
        if (new URL(url).origin === location.origin) worker = new Worker(url, { type: "module" });
        else worker = new Worker(URL.createObjectURL(new Blob(["import " + JSON.stringify(url) + ";"], { type: "text/javascript" })), { type: "module" });
      } catch (e) { broken(fail("worker_unavailable", "this browser cannot run the proctoring worker: " + e.message)); return alive.promise; }
      worker.onerror = function (e) { broken(fail("boot_failed", "the proctoring worker failed to load" + (e.message ? ": " + e.message : ""))); };
      worker.onmessage = function (event) { message(event.data); };
      var unsent = unacked.filter(function (e) { return e.seq >= grant.chain.next_seq; }).sort(function (a, b) { return a.seq - b.seq; });
      var config = { session_id: grant.session_id, signing_key: grant.signing_key, policy: grant.policy, chain: options.chain, environment: options.environment, tally: grant.tally, pending: unsent };
      worker.postMessage({ type: "boot", mode: options.mode, origin: origin, assets: { runtime: base + a.runtime, stdlib: base + a.stdlib, lock: base + a.lock }, session: config });
      if (unacked.length) schedule(0);
      var booting = setInterval(function () { if (self.state.ready || ended || self.state.error) clearInterval(booting); else signal("tick", {}); }, BOOT_TICK_MS);
      return alive.promise;
    };
  }

  function notice(text, theme) {
    var box = document.createElement("div");
    box.setAttribute("role", "alert");
    var dark = theme === "dark";
    box.style.cssText = "position:fixed;inset:0;z-index:2147483647;display:flex;align-items:center;justify-content:center;padding:2em;font:18px/1.5 system-ui,sans-serif;background:" + (dark ? "#111;color:#fff" : "#fff;color:#111");
    box.textContent = text;
    (document.body || document.documentElement).appendChild(box);
  }

  function moduleWorkers() { // an engine that supports them reads the `type` option
    var reads = false, probe = { get type() { reads = true; return "module"; } };
    try {
      var url = URL.createObjectURL(new Blob([""], { type: "text/javascript" }));
      new Worker(url, probe).terminate();
      URL.revokeObjectURL(url);
    } catch (e) { /* a CSP without blob: workers still read the option first */ }
    return reads;
  }

  // ---- requests
  function reply(r) { // {status, body}; body {} if not JSON
    return r.json().catch(function () { return {}; }).then(function (body) { return { status: r.status, body: body || {} }; });
  }
  function post(url, token, body, keepalive) {
    var headers = { "content-type": "application/json" };
    if (token) headers.authorization = "Bearer " + token;
    return fetch(url, { method: "POST", headers: headers, body: JSON.stringify(body || {}), keepalive: !!keepalive }).then(reply);
  }
  function transient(status) { return status === 408 || status === 429 || status >= 500; }
  function problem(res) { // the server's {error: {code, message}}
    var e = res.body.error || {};
    return fail(e.code || "http_" + res.status, e.message || "request failed with status " + res.status);
  }
  function needed(request) { // init cannot go on without it
    return request.then(function (res) { if (res.status >= 400) throw problem(res); return res.body; },
      function (e) { throw fail("network", "cannot reach the proctoring server: " + e.message); });
  }

  // ---- public API
  var OWN = " serverOrigin integrationName jwt theme sessionToken institutionKey bundle accessCodeField lang ";
  function init(config) {
    config = config || {};
    var server = (config.serverOrigin || (script && new URL(script.src).origin) || location.origin).replace(/\/$/, "");
    if (typeof Worker === "undefined" || typeof WebAssembly === "undefined" || !moduleWorkers()) {
      var old = fail("browser_unsupported", "This browser is too old for this proctored exam (it lacks module Web Workers or WebAssembly). Please use a current version of Chrome, Edge, Firefox or Safari.");
      notice(old.message, config.theme);
      return Promise.reject(old);
    }
    var grantRequest;
    if (config.sessionToken) {
      var sid;
      try { sid = JSON.parse(atob(config.sessionToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub; } catch (e) { /* below */ }
      if (typeof sid !== "string") return Promise.reject(fail("invalid_token", "sessionToken is not a session token"));
      grantRequest = post(server + "/api/v1/sessions/" + encodeURIComponent(sid) + "/resume", config.sessionToken, { institutionKey: config.institutionKey || null });
    } else {
      // The student's languages, for the notice and the panel (the JWT's language claim comes first).
      var languages = [config.lang].concat(navigator.languages || [navigator.language]).filter(function (l) { return typeof l === "string" && l; }).slice(0, 16);
      grantRequest = post(server + "/api/v1/sessions", null, { integrationName: config.integrationName, jwt: config.jwt, languages: languages });
    }
    var manifest = needed(fetch(server + "/sdk/v1/manifest.json").then(reply));
    return Promise.all([needed(grantRequest), manifest, openDb()]).then(function (r) {
      var grant = r[0], db = r[2], env = environment();
      if (env.mobile && !grant.policy.allow_mobile) {
        var no = fail("mobile_not_allowed", (grant.messages && grant.messages.mobile_not_allowed) || "This exam cannot be taken on a phone or tablet. Please open it on a computer.");
        notice(no.message, config.theme);
        throw no;
      }
      return Promise.all([
        idb(db, "sessions", "readonly", function (st) { return st.get(grant.session_id); }),
        idb(db, "outbox", "readonly", function (st) { return st.getAll(IDBKeyRange.bound([grant.session_id, 0], [grant.session_id, Infinity])); }),
      ]).then(function (saved) {
        var local = saved[0], outbox = (saved[1] || []).map(function (row) { return row.e; });
        var chain = local && local.chain && local.chain.next_seq > grant.chain.next_seq ? local.chain : grant.chain;
        var foreign = Object.keys(config).filter(function (k) { return OWN.indexOf(" " + k + " ") < 0; }), hold = null;
        var session = new Session(server, grant, db, { origin: local && local.origin, outbox: outbox, consented: local && local.consented }, { chain: chain, environment: env, mode: config.bundle || "fast", codeField: config.accessCodeField, hold: foreign.length && (hold = deferred()).promise });
        current = session;
        if (config.theme !== "none") { // the SDK panel: notice and consent, indicator, warnings, breaks
          var lang = grant.notice && grant.notice.lang, catalogs = r[1].assets.i18n || {};
          var panel = function (tries) {
            import(server + "/sdk/v1/" + r[1].assets.panel).then(function (m) { m.attach(session, { theme: config.theme, server: server, catalogUrl: catalogs[lang] ? server + "/sdk/v1/" + catalogs[lang] : null }); },
              function (e) { if (tries) panel(tries - 1); else if (session.state.consent === "pending") session.broken(fail("panel_unavailable", "the proctoring notice could not be shown: " + e.message)); });
          };
          panel(1);
        }
        if (hold) { // Constructor's SDK settings: compat.js honours or reports them
          import(server + "/sdk/v1/" + r[1].assets.compat).then(function (m) { hold.resolve(m.attach(session, config, foreign)); },
            function () { session.warn([{ key: foreign[0], message: "the Constructor settings could not be read (compat module not loaded)" }]); hold.resolve(); });
        }
        return session.start(r[1]);
      });
    });
  }

  var openproctor = { version: VERSION, init: init };
  window.openproctor = openproctor;
  // Replay calls made before this script arrived (the snippet in docs/sdk.md queues them).
  (previous && previous.q || []).forEach(function (call) {
    if (call[0] === "init") init(call[1]).then(call[2].resolve, call[2].reject);
  });

  // ---- script tag, auto-initialising (data-session-mode="lms")
  if (script && script.getAttribute("data-session-mode") === "lms") {
    var token = script.getAttribute("data-session-token");
    var found = null, rest = location.hash.slice(1).split("&").filter(function (p) {
      if (p.indexOf("openproctor_token=")) return true;
      found = p.slice(18);
    }).join("&");
    if (found !== null) { // read once, then removed from the address bar
      token = token || decodeURIComponent(found);
      history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
    }
    if (token) {
      openproctor.session = init({ sessionToken: token, institutionKey: script.getAttribute("data-institution-key"), theme: script.getAttribute("data-theme"), bundle: script.getAttribute("data-bundle") || undefined, accessCodeField: script.getAttribute("data-access-code-field") });
      openproctor.session.catch(function (e) { window.dispatchEvent(new CustomEvent("openproctor:state", { detail: { error: e.message } })); });
    }
  }
})();
