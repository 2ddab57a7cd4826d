/*! openproctor loader: privacy-first proctoring. Sends signed metadata only (never video,
 * audio, images, keystrokes or clipboard contents). Docs: docs/sdk.md */
(function () {
  "use strict";
  var script = document.currentScript;
  var previous = window.openproctor;
  if (previous && previous.version) return; // loaded twice: keep the first
  var VERSION = "0.1.0";
  var early = []; // raw signals captured before a session exists: {at (epoch ms), s}
  var current = null; // the running session
  var lastActivity = 0;

  // ---- signal capture: from the first moment, metadata only ---------------------------------
  function epoch() { return performance.timeOrigin + performance.now(); }
  function signal(kind, extra) {
    var s = { kind: kind };
    for (var k in extra) s[k] = extra[k];
    if (current) current.signal(epoch(), s); else if (early.length < 5000) early.push({ at: epoch(), s: s });
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
  on(window, "beforeprint", function () { signal("print", {}); });
  on(window, "online", function () { signal("network", { online: true }); });
  on(window, "offline", function () { signal("network", { online: false }); });
  on(document, "keydown", function (e) {
    // Only combinations (a modifier or an F-key) are named; ordinary typing is never recorded.
    var fkey = /^F\d{1,2}$/.test(e.key);
    if (e.ctrlKey || e.metaKey || e.altKey || fkey) {
      var mods = [e.ctrlKey && "Ctrl", e.altKey && "Alt", e.shiftKey && "Shift", e.metaKey && "Meta"].filter(Boolean);
      var key = e.key && e.key.length === 1 ? e.key.toUpperCase() : e.key;
      if (key && ["Control", "Alt", "Shift", "Meta"].indexOf(key) < 0) signal("shortcut", { combo: mods.concat([key]).join("+").slice(0, 32) });
    }
    activity("activity");
  });
  function activity(kind) {
    var t = epoch();
    if (t - lastActivity > 5000) { lastActivity = t; signal(kind, {}); }
  }
  on(document, "pointerdown", function () { activity("activity"); });
  on(document, "pointermove", function () { activity("pointer"); });
  on(document, "wheel", function () { activity("activity"); });
  var sizeTimer = 0;
  function size() {
    signal("window_size", { outer_w: window.outerWidth, outer_h: window.outerHeight, inner_w: window.innerWidth, inner_h: window.innerHeight });
  }
  on(window, "resize", function () { clearTimeout(sizeTimer); sizeTimer = setTimeout(size, 250); });
  function screens() { if (typeof screen.isExtended === "boolean") signal("screens", { extended: screen.isExtended }); }
  if (screen.addEventListener) on(screen, "change", screens);
  screens();
  size();

  // ---- environment summary (no fingerprinting beyond what the reviewer needs) ----------------
  function environment() {
    var ua = navigator.userAgent, m;
    var env = { browser: "Unknown", browser_version: "0", engine: "Unknown", platform: "Unknown", mobile: /Mobi|Android|iPhone|iPad/.test(ua), screens: screen.isExtended === true ? 2 : screen.isExtended === false ? 1 : null };
    if ((m = ua.match(/Edg\/([\d.]+)/))) { env.browser = "Edge"; env.browser_version = m[1]; env.engine = "Blink"; }
    else if ((m = ua.match(/(?:Headless)?Chrome\/([\d.]+)/))) {
      var brands = (navigator.userAgentData && navigator.userAgentData.brands || []).map(function (b) { return b.brand; });
      env.browser = brands.indexOf("Google Chrome") >= 0 ? "Chrome" : "Chromium"; env.browser_version = m[1]; env.engine = "Blink";
    } else if ((m = ua.match(/Firefox\/([\d.]+)/))) { env.browser = "Firefox"; env.browser_version = m[1]; env.engine = "Gecko"; }
    else if ((m = ua.match(/Version\/([\d.]+).*Safari/)) && /Macintosh|iPhone|iPad/.test(ua)) { env.browser = "Safari"; env.browser_version = m[1]; env.engine = "WebKit"; }
    else if (/AppleWebKit/.test(ua) && /Linux|X11/.test(ua)) { env.browser = "WebKitGTK"; env.browser_version = "unknown"; env.engine = "WebKit"; } // its UA's Safari version is a fixed compatibility token
    else if (/AppleWebKit/.test(ua)) { env.browser = "WebKit"; env.engine = "WebKit"; m = ua.match(/AppleWebKit\/([\d.]+)/); env.browser_version = m ? m[1] : "0"; }
    var uad = navigator.userAgentData;
    env.platform = ((uad && uad.platform) || navigator.platform || "Unknown").slice(0, 64) || "Unknown";
    if (uad && uad.mobile) env.mobile = true;
    return env;
  }

  // ---- persistence: unsent events survive a reload or a network drop (IndexedDB) ------------
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

  // ---- a session ----------------------------------------------------------------------------
  function deferred() { var d = {}; d.promise = new Promise(function (r, j) { d.resolve = r; d.reject = j; }); return d; }
  function fail(code, message) { var e = new Error(message); e.code = code; return e; }

  function Session(server, grant, db, stored, options) {
    var self = this, api = server + "/api/v1/sessions/" + grant.session_id;
    var listeners = [], unacked = (stored && stored.outbox) || [], sending = false, backoff = 0, retryTimer = 0;
    var started = deferred(), finished = deferred(), uploaded = deferred(), ready = deferred();
    var worker = null, finishing = false, ended = false;
    // Event times count from the session's start (the server refuses events stamped past the
    // deadline): a reload keeps its stored origin; a new device starts from the server's clock.
    var origin = stored && stored.origin ? stored.origin : epoch() - (grant.elapsed_ms || 0);
    this.id = grant.session_id;
    this.recordUrl = new URL(grant.record_url, server + "/").href; // the student's own record
    this.state = { ready: false, score: 1, flagged: false, flags: [], acknowledged: -1, error: null };
    this.examStarted = started.promise; this.examFinished = finished.promise;
    this.logUploaded = uploaded.promise; this.videoUploaded = uploaded.promise; // alias: no video exists
    [started, finished, uploaded].forEach(function (d) { d.promise.catch(function () {}); });
    this.ready = ready.promise;

    function emit(patch) {
      for (var k in patch) self.state[k] = patch[k];
      listeners.slice().forEach(function (fn) { try { fn(self.state); } catch (e) { /* a listener's error is its own */ } });
      window.dispatchEvent(new CustomEvent("openproctor:state", { detail: self.state }));
    }
    this.on = function (type, fn) { if (type === "state") { listeners.push(fn); fn(self.state); } return self; };
    this.off = function (type, fn) { listeners = listeners.filter(function (f) { return f !== fn; }); return self; };
    var pending = [];
    this.signal = function (at, s) {
      s.t = Math.max(0, at - origin);
      if (worker && self.state.ready) worker.postMessage({ type: "signals", signals: [s] }); else pending.push(s);
    };
    function broken(error) {
      emit({ error: error.message });
      ready.reject(error); started.reject(error); finished.reject(error); uploaded.reject(error);
    }

    function persist(events, chain) {
      unacked = unacked.concat(events);
      idb(db, "outbox", "readwrite", function (st) { events.forEach(function (e) { st.put({ sid: grant.session_id, seq: e.seq, e: e }); }); });
      idb(db, "sessions", "readwrite", function (st) { st.put({ sid: grant.session_id, origin: origin, chain: chain }); });
    }
    function acknowledge(seq) {
      unacked = unacked.filter(function (e) { return e.seq > seq; });
      emit({ acknowledged: seq });
      idb(db, "outbox", "readwrite", function (st) { st.delete(IDBKeyRange.bound([grant.session_id, 0], [grant.session_id, seq])); });
    }
    function schedule(delay) { clearTimeout(retryTimer); retryTimer = setTimeout(upload, delay); }
    function upload() {
      if (sending || !unacked.length) return;
      sending = true;
      var batch = unacked.slice(0, 200);
      fetch(api + "/events", { method: "POST", headers: { "content-type": "application/json", authorization: "Bearer " + grant.token }, body: JSON.stringify({ events: batch }) })
        .then(function (r) { return r.json().then(function (body) { return { status: r.status, body: body }; }); })
        .then(function (res) {
          sending = false;
          if (res.status === 200) {
            backoff = 0; acknowledge(res.body.acknowledged_seq);
            if (res.body.complete) complete(); else if (unacked.length) schedule(0);
          } else if (res.status === 409 && res.body.error.code === "sequence_gap") {
            // The server is behind what we hold: drop nothing, resend from where it expects.
            unacked.sort(function (a, b) { return a.seq - b.seq; }); backoff = 0; schedule(0);
          } else if (res.status === 429 || res.status >= 500) { retry(); }
          else { emit({ error: res.body.error.message }); }
        })
        .catch(function () { sending = false; retry(); });
    }
    function retry() { backoff = Math.min(backoff ? backoff * 2 : 1000, 30000); schedule(backoff * (0.75 + Math.random() / 2)); }
    function complete() {
      fetch(api + "/finish", { method: "POST", headers: { authorization: "Bearer " + grant.token } })
        .then(function (r) { if (!r.ok) throw fail("finish_failed", "the server did not accept the end of the session"); return r.json(); })
        .then(function (body) { idb(db, "sessions", "readwrite", function (st) { st.delete(grant.session_id); }); uploaded.resolve(body); }, retryComplete);
    }
    function retryComplete() { setTimeout(complete, 2000); }
    function flush() { // the page is going away: hand what is unsent to the browser, keepalive
      if (!unacked.length) return;
      var body = JSON.stringify({ events: unacked.slice(0, 100) });
      if (body.length < 60000) fetch(api + "/events", { method: "POST", keepalive: true, headers: { "content-type": "application/json", authorization: "Bearer " + grant.token }, body: body }).catch(function () {});
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

    this.start = function (manifest) {
      var base = server + "/sdk/v1/", a = manifest.assets, url = base + a.worker;
      try {
        if (new URL(url).origin === location.origin) worker = new Worker(url, { type: "module" });
        else worker = new Worker(URL.createObjectURL(new Blob(["import " + JSON.stringify(url) + ";"], { type: "text/javascript" })), { type: "module" });
      } catch (e) { broken(fail("worker_unavailable", "this browser cannot run the proctoring worker: " + e.message)); return self.ready; }
      worker.onerror = function (e) { broken(fail("boot_failed", "the proctoring worker failed to load" + (e.message ? ": " + e.message : ""))); };
      worker.onmessage = function (event) {
        var m = event.data;
        if (m.type === "ready") {
          emit({ ready: true, bootMs: m.bootMs, heapBytes: m.heapBytes }); ready.resolve(self);
          worker.postMessage({ type: "signals", signals: pending.splice(0) });
          started.resolve(self);
        } else if (m.type === "events") {
          persist(m.events, m.chain);
          if (m.events.some(function (e) { return e.type === "session_end"; })) { ended = true; finished.resolve(self); }
          schedule(0);
        } else if (m.type === "state") {
          emit({ score: m.live.score, flagged: m.live.flagged, flags: m.live.breakdown });
        } else if (m.type === "error") {
          broken(fail(m.code, "proctoring could not start: " + m.message));
        }
      };
      var unsent = unacked.filter(function (e) { return e.seq >= grant.chain.next_seq; }).sort(function (a, b) { return a.seq - b.seq; });
      var config = { session_id: grant.session_id, signing_key: grant.signing_key, policy: grant.policy, chain: options.chain, environment: options.environment, tally: grant.tally, pending: unsent };
      worker.postMessage({ type: "boot", mode: options.mode, origin: origin, assets: { runtime: base + a.runtime, stdlib: base + a.stdlib, lock: base + a.lock }, session: config });
      if (unacked.length) schedule(0);
      return self.ready;
    };
  }

  function notice(text, theme) {
    var box = document.createElement("div");
    box.setAttribute("role", "alert");
    var dark = theme === "dark";
    box.style.position = "fixed"; box.style.inset = "0"; box.style.zIndex = "2147483647";
    box.style.display = "flex"; box.style.alignItems = "center"; box.style.justifyContent = "center";
    box.style.padding = "2em"; box.style.font = "18px/1.5 system-ui, sans-serif";
    box.style.background = dark ? "#111" : "#fff"; box.style.color = dark ? "#fff" : "#111";
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

  function json(url, init) {
    return fetch(url, init).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw fail((body.error && body.error.code) || "http_" + r.status, (body.error && body.error.message) || "request failed with status " + r.status);
        return body;
      });
    }, function (e) { throw fail("network", "cannot reach the proctoring server: " + e.message); });
  }

  // ---- public API ---------------------------------------------------------------------------
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
      var sid = JSON.parse(atob(config.sessionToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
      grantRequest = json(server + "/api/v1/sessions/" + encodeURIComponent(sid) + "/resume", { method: "POST", headers: { authorization: "Bearer " + config.sessionToken, "content-type": "application/json" }, body: JSON.stringify({ institutionKey: config.institutionKey || null }) });
    } else {
      grantRequest = json(server + "/api/v1/sessions", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ integrationName: config.integrationName, jwt: config.jwt }) });
    }
    var manifest = json(server + "/sdk/v1/manifest.json");
    return Promise.all([grantRequest, manifest, openDb()]).then(function (r) {
      var grant = r[0], db = r[2], env = environment();
      if (env.mobile && !grant.policy.allow_mobile) {
        var no = fail("mobile_not_allowed", "This exam cannot be taken on a phone or tablet. Please open it on a computer.");
        notice(no.message, config.theme);
        throw no;
      }
      return Promise.all([
        idb(db, "sessions", "readonly", function (st) { return st.get(grant.session_id); }),
        idb(db, "outbox", "readonly", function (st) { return st.getAll(IDBKeyRange.bound([grant.session_id, 0], [grant.session_id, Infinity])); }),
      ]).then(function (saved) {
        var local = saved[0], outbox = (saved[1] || []).map(function (row) { return row.e; });
        var chain = local && local.chain && local.chain.next_seq > grant.chain.next_seq ? local.chain : grant.chain;
        var session = new Session(server, grant, db, { origin: local && local.origin, outbox: outbox }, { chain: chain, environment: env, mode: config.bundle || "fast" });
        current = session;
        early.splice(0).forEach(function (item) { session.signal(item.at, item.s); });
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

  // ---- script tag, auto-initialising (data-session-mode="lms") ------------------------------
  if (script && script.getAttribute("data-session-mode") === "lms") {
    var token = script.getAttribute("data-session-token");
    var parts = location.hash.slice(1).split("&"), rest = parts.filter(function (p) { return p.indexOf("openproctor_token=") !== 0; });
    if (rest.length < parts.length) { // read once, then removed from the address bar
      var found = parts.filter(function (p) { return p.indexOf("openproctor_token=") === 0; })[0];
      token = token || decodeURIComponent(found.slice("openproctor_token=".length));
      history.replaceState(null, "", location.pathname + location.search + (rest.join("&") ? "#" + rest.join("&") : ""));
    }
    if (token) {
      openproctor.session = init({ sessionToken: token, institutionKey: script.getAttribute("data-institution-key"), theme: script.getAttribute("data-theme"), bundle: script.getAttribute("data-bundle") || undefined });
      openproctor.session.catch(function (e) { window.dispatchEvent(new CustomEvent("openproctor:state", { detail: { error: e.message } })); });
    }
  }
})();
