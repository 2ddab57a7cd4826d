// openproctor: Constructor Proctor's SDK settings (docs/constructor-migration.md).
// loader.js imports this module only when init() receives keys it does not know itself, so
// integrations that never pass Constructor's settings never download it. Honoured:
// fullScreenWatchFocusAlert, experiment_watchWindowSize, beforeExamList. Every other key is
// accepted and reported once in the live state's `warnings`, saying why.

const HONOURED = { fullScreenWatchFocusAlert: "boolean", experiment_watchWindowSize: "boolean", beforeExamList: "boolean", disabledWorkers: "array" };
const NOT_DONE = {
  allowCameraSelection: "no camera is used: openproctor records browser metadata only",
  alwaysShowChat: "there is no proctor chat",
  desktopCheckFirst: "there is no screen-sharing check: the screen is never recorded",
  focusRespectsRules: "focus is judged by the exam's policy on the server (its rules: allow_to_use_websites and others)",
  identificationOnboardingBullets: "there is no photo onboarding: no ID or face photos are taken",
  openAgreementLinksInIframe: "the SDK shows no agreement links; userAgreementUrl is kept with the session",
};
const WORKERS = {
  ping: "heartbeat gaps are still scored: a page setting a student could change never lowers what counts; put disabledWorkers in the start token (signed by the LMS) or turn sdk_gap off in the exam's policy",
  watchUploading: "there is no video upload to watch; unsent events are kept and resent by themselves",
};
// A window smaller than this share of the screen is "too small" (Constructor names no size).
const SMALL_WIDTH = 2 / 3, SMALL_HEIGHT = 1 / 2;

function type(value) { return Array.isArray(value) ? "array" : typeof value; }

export function warnings(config, keys) {
  const found = [];
  for (const key of keys) {
    if (key in NOT_DONE) found.push({ key, message: "accepted, not done: " + NOT_DONE[key] });
    else if (!(key in HONOURED)) found.push({ key, message: "is not an SDK setting openproctor knows; it was ignored" });
    else if (type(config[key]) !== HONOURED[key]) found.push({ key, message: "must be " + (HONOURED[key] === "array" ? "a list" : "true or false") + "; it was ignored" });
  }
  if (Array.isArray(config.disabledWorkers)) {
    for (const name of config.disabledWorkers) {
      found.push({ key: "disabledWorkers." + name, message: WORKERS[name] ? "not switched off: " + WORKERS[name] : "is not a check openproctor has; it was ignored" });
    }
  }
  return found;
}

// A full-page layer in a shadow root (the exam page's styles cannot reach it), with a text and
// one button; it takes the focus and gives it back when closed.
function layer(theme, label, lines, button, onClose) {
  const host = document.createElement("div"), root = host.attachShadow({ mode: "open" });
  const dark = theme === "dark", box = document.createElement("div"), previous = document.activeElement;
  host.setAttribute("data-openproctor", label);
  box.setAttribute("role", "alertdialog"); box.setAttribute("aria-modal", "true"); box.setAttribute("aria-label", label);
  box.style.cssText = "position:fixed;inset:0;z-index:2147483647;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:1em;padding:2em;font:18px/1.5 system-ui,sans-serif;background:" + (dark ? "#111;color:#fff" : "#fff;color:#111");
  for (const line of lines) {
    const item = document.createElement(typeof line === "string" ? "p" : "ol");
    if (typeof line === "string") item.textContent = line;
    else line.forEach((text) => { const li = document.createElement("li"); li.textContent = text; item.appendChild(li); });
    box.appendChild(item);
  }
  const close = document.createElement("button");
  close.type = "button"; close.textContent = button;
  close.style.cssText = "font:inherit;padding:.5em 1.5em;cursor:pointer";
  const remove = () => { host.remove(); if (previous && previous.focus) previous.focus(); };
  close.addEventListener("click", () => { remove(); if (onClose) onClose(); });
  box.appendChild(close); root.appendChild(box);
  (document.body || document.documentElement).appendChild(host);
  close.focus();
  return { remove, host };
}

function seconds(ms) { const s = Math.max(1, Math.round(ms / 1000)); return s < 60 ? s + " s" : Math.round(s / 60) + " min"; }

// fullScreenWatchFocusAlert: when the student comes back after leaving the exam window or tab,
// a full-page notice says so (the event itself is recorded either way).
// The exam runs from examStarted (the core may still be booting) to examFinished.
function running(session) {
  let over = false;
  session.examFinished.then(() => { over = true; }, () => { over = true; });
  return () => session.state.started && !over && !session.state.error;
}

function watchFocus(session, theme) {
  let leftAt = 0, shown = null;
  const live = running(session);
  const leave = () => {
    const inFrame = document.activeElement && document.activeElement.tagName === "IFRAME";
    if (live() && !leftAt && !inFrame) leftAt = Date.now();
  };
  const back = () => {
    if (!leftAt || document.visibilityState === "hidden") return;
    const away = Date.now() - leftAt;
    leftAt = 0;
    if (!live() || shown) return;
    shown = layer(theme, "You left the exam", ["You left the exam window for " + seconds(away) + ". This is recorded, and a person may review it."], "Back to the exam", () => { shown = null; });
  };
  window.addEventListener("blur", leave);
  document.addEventListener("visibilitychange", () => (document.visibilityState === "hidden" ? leave() : back()));
  window.addEventListener("focus", back);
}

// experiment_watchWindowSize: a window much smaller than the screen gets a notice until it is
// large again.
function watchSize(session, theme) {
  let shown = null;
  const live = running(session);
  const check = () => {
    const small = window.innerWidth < screen.availWidth * SMALL_WIDTH || window.innerHeight < screen.availHeight * SMALL_HEIGHT;
    if (small && !shown && live()) {
      shown = layer(theme, "The exam window is too small", ["Your browser window is too small for this exam. Make it larger, or maximise it: a small window is against this exam's rules."], "I understand", () => { shown = null; });
    } else if (!small && shown) { shown.remove(); shown = null; }
  };
  window.addEventListener("resize", check);
  check();
}

// beforeExamList: the steps before the exam, shown first; examStarted waits for "Start".
function stepList(theme) {
  return new Promise((resolve) => {
    layer(theme, "Before your exam", [
      "Before your exam",
      ["Your browser is checked: it needs a current version with Web Workers and WebAssembly.", "Proctoring starts: this browser records only metadata (leaving the tab or window, full screen, copy and paste, connection), never your camera, microphone, screen, keystrokes or what you copy.", "Your exam opens."],
    ], "Start the exam", resolve);
  });
}

export function attach(session, config, keys) {
  const found = warnings(config, keys);
  if (found.length) session.warn(found);
  if (config.fullScreenWatchFocusAlert === true) watchFocus(session, config.theme);
  if (config.experiment_watchWindowSize === true) session.examStarted.then(() => watchSize(session, config.theme), () => {});
  return config.beforeExamList === true ? stepList(config.theme) : null;
}
