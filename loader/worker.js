// openproctor worker: boots Pyodide from the openproctor bundle (never a CDN), runs
// openproctor.core, and returns signed events and live state to the page. A module worker, so
// the exam page never stalls while Python starts or signs. It says `alive` as soon as it runs
// (the exam starts then, while Python boots); the loader holds signals until it reports
// `ready`, and sends none after `finished`: there is no queue here.
//
// Messages in:  {type: "boot", assets, mode, origin, session}, {type: "signals", signals},
//               {type: "finish", t, reason}
// Messages out: {type: "alive"}, {type: "ready", bootMs, heapBytes}, {type: "events", events,
//               chain}, {type: "state", live}, {type: "finished"}, {type: "error", code, message}

let session = null;
let origin = 0;
let ticker = null;
let lastLive = "";
const TICK_MS = 1000; // the core's clock: heartbeats and idle detection

const now = () => performance.timeOrigin + performance.now() - origin;

function fail(code, error) {
  const message = error && error.message ? error.message : String(error);
  self.postMessage({ type: "error", code, message });
}

async function boot(msg) {
  origin = msg.origin;
  const started = performance.now();
  const assets = msg.assets;
  const { loadPyodide } = await import(assets.runtime + "pyodide.mjs");
  const options = { indexURL: assets.runtime, lockFileURL: assets.lock, packages: [] };
  if (msg.mode !== "wheel") options.stdLibURL = assets.stdlib; // core precompiled inside
  const py = await loadPyodide(options);
  if (msg.mode === "wheel") {
    let loadError = null;
    await py.loadPackage("openproctor-core", {
      messageCallback: () => {},
      errorCallback: (text) => { loadError = text; },
    });
    if (loadError) throw new Error("loading the core wheel failed: " + loadError);
  }
  const core = py.pyimport("openproctor.core");
  session = core.BrowserSession(JSON.stringify(msg.session));
  const opening = JSON.parse(session.start());
  // Pyodide's WebAssembly heap (private API in 314; reported only when present).
  const heap = py._module && py._module.HEAP8 ? py._module.HEAP8.buffer.byteLength : null;
  self.postMessage({ type: "ready", bootMs: Math.round(performance.now() - started), heapBytes: heap });
  publish(opening);
  ticker = setInterval(() => handle([{ t: now(), kind: "tick" }]), TICK_MS);
}

function publish(events) {
  if (events.length) {
    self.postMessage({ type: "events", events, chain: JSON.parse(session.chain()) });
  }
  if (events.some((e) => e.type !== "heartbeat") || !lastLive) {
    const live = session.live();
    if (live !== lastLive) {
      lastLive = live;
      self.postMessage({ type: "state", live: JSON.parse(live) });
    }
  }
}

function handle(signals) {
  if (!signals.length || !session) return; // nothing to record them in after finish
  const out = JSON.parse(session.feed(JSON.stringify(signals)));
  publish(out.events);
}

self.postMessage({ type: "alive" });

self.onmessage = (event) => {
  const msg = event.data;
  try {
    if (msg.type === "boot") {
      boot(msg).catch((error) => fail("boot_failed", error));
    } else if (msg.type === "signals") {
      handle(msg.signals);
    } else if (msg.type === "finish" && session) {
      clearInterval(ticker);
      publish(JSON.parse(session.finish(msg.t, msg.reason || "finished")));
      session = null;
      self.postMessage({ type: "finished" });
    }
  } catch (error) {
    fail("worker_error", error);
  }
};
