// openproctor: the SDK panel the student sees (docs/sdk.md, "The student's panel").
// loader.js imports this module after a session starts unless init() was given theme "none"
// (an integrator who renders its own UI from session.on("state") and calls session.agree()).
// Everything lives in one open shadow root, styled by a constructed style sheet, so the exam
// page's styles cannot reach it and a strict CSP (no inline styles) does not block it.
//
// Its parts, each also a state an integrator can read: the notice and consent before the exam
// (with the system check), a small indicator (proctoring active, upload state), calm visible
// warnings announced to screen readers, declared breaks, and the end with the record link.

// English, and the keys of the other languages' catalogs (loader/i18n/<lang>.json, fetched only
// for the student's language; tests/unit/server/test_i18n.py checks them against these).
export const STRINGS = {
  agree: "I agree, start the exam",
  decline: "I do not agree",
  continue: "Continue to the exam",
  declined: "You did not agree, so the exam has not started and nothing more is recorded. Close this page, or ask your instructor for another way to take the exam.",
  check: "System check",
  record: "Your record: see exactly what was recorded",
  agreement: "Your institution's user agreement",
  active: "Proctoring active",
  allSent: "all sent",
  waiting: "events waiting: {n}",
  offline: "offline: kept here and sent when you are back",
  menu: "Proctoring details",
  notice: "What is recorded",
  takeBreak: "Take a break (left: {n})",
  onBreak: "You are on a break",
  breakRule: "Your break may last up to {m} minutes. Leaving the exam during it is not counted.",
  breakLeft: "Time left: {t}",
  breakOver: "Your break is longer than the allowed {m} minutes; the extra time is recorded.",
  endBreak: "End the break and return to the exam",
  submitted: "Your exam is submitted.",
  sending: "Your exam is finished; sending the last events…",
  seeRecord: "See exactly what was recorded",
  leftTab: "You left the exam tab for {d}; this is recorded and a person may review it.",
  leftWindow: "You left the exam window for {d}; this is recorded and a person may review it.",
  fullscreen: "You left full screen; this is recorded and a person may review it.",
  blocked_copy: "Copying is turned off in this exam; the attempt is recorded.",
  blocked_paste: "Pasting is turned off in this exam; the attempt is recorded.",
  blocked_context_menu: "The right-click menu is turned off in this exam; the attempt is recorded.",
  blocked_print: "Printing is turned off in this exam; the attempt is recorded.",
  clipboard: "Copying and pasting are recorded in this exam (never what you copied).",
  menuSeen: "Opening the right-click menu is recorded in this exam.",
  printSeen: "Printing is recorded in this exam.",
  wentOffline: "You are offline. Keep working: events are kept and sent when you are back online.",
  displays: "A second display is connected; this is recorded.",
  ok_browser: "Your browser is supported.",
  ok_worker: "Proctoring runs in this browser.",
  ok_storage: "Events are kept on this device if the connection drops.",
  ok_display: "One display is connected.",
  ok_fullscreen: "Full screen is available.",
  ok_server: "The proctoring server answers.",
  bad_worker: "Proctoring is still starting; wait a moment.",
  bad_storage: "This browser does not let the exam keep data (a private window?): if the connection drops and you close the tab, events not yet sent are lost. You can continue.",
  bad_display: "A second display is connected. It counts in this exam: disconnect it before you start, or continue knowingly.",
  bad_displayUnknown: "This browser does not tell whether a second display is connected.",
  bad_fullscreen: "Full screen is not available on this page, and leaving it counts in this exam. Ask your instructor, or continue knowingly.",
  bad_server: "Your device is offline. Events are kept and sent later; you can continue.",
  error: "Proctoring stopped working in this browser: {message}. Tell your instructor; reloading the page may help.",
};
let catalog = {};
function t(key, values) {
  const text = catalog[key] || STRINGS[key];
  return values ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole)) : text;
}

const CSS = `
:host { all: initial; }
* { box-sizing: border-box; }
.p { --bg: #fff; --fg: #1a1a1a; --muted: #4a4a4a; --line: #767676; --accent: #0b5cad; --accent-fg: #fff; --warn: #8a4b00; --ok: #1d6b2c;
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); }
@media (prefers-color-scheme: dark) { .p.default { --bg: #1e1e1e; --fg: #f2f2f2; --muted: #c8c8c8; --line: #9a9a9a; --accent: #8cc4ff; --accent-fg: #0d0d0d; --warn: #ffc46b; --ok: #8fe0a0; } }
.p.dark { --bg: #1e1e1e; --fg: #f2f2f2; --muted: #c8c8c8; --line: #9a9a9a; --accent: #8cc4ff; --accent-fg: #0d0d0d; --warn: #ffc46b; --ok: #8fe0a0; }
.p.high-contrast { --bg: #000; --fg: #fff; --muted: #fff; --line: #fff; --accent: #ffff00; --accent-fg: #000; --warn: #ffff00; --ok: #7fff7f; }
.p.high-contrast button, .p.high-contrast .card, .p.high-contrast .dialog { border-width: 2px; }
.layer { position: fixed; inset: 0; z-index: 2147483646; background: rgba(0,0,0,.55); display: flex; align-items: flex-start; justify-content: center; overflow: auto; padding: 2rem 1rem; }
.dialog { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 8px; max-width: 42rem; width: 100%; padding: 1.5rem; }
h2 { font-size: 1.35rem; margin: 0 0 1rem; } h3 { font-size: 1.05rem; margin: 1.1rem 0 .3rem; }
ul { margin: .2rem 0; padding-left: 1.3rem; } li { margin: .15rem 0; }
.ok::before { content: "✓ "; color: var(--ok); } .bad::before { content: "! "; color: var(--warn); font-weight: 700; }
.check { list-style: none; padding-left: 0; }
a { color: var(--accent); }
.actions { display: flex; flex-wrap: wrap; gap: .75rem; margin-top: 1.25rem; }
button { font: inherit; padding: .55rem 1.1rem; border-radius: 6px; border: 1px solid var(--line); background: var(--bg); color: var(--fg); cursor: pointer; min-height: 44px; }
button.primary { background: var(--accent); color: var(--accent-fg); border-color: var(--accent); }
button:focus-visible, a:focus-visible, h2:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
h2:focus { outline: none; }
.aside { position: fixed; top: 1rem; right: 1rem; z-index: 2147483646; max-width: min(30rem, calc(100vw - 2rem)); max-height: calc(100vh - 8rem); overflow: auto; box-shadow: 0 2px 10px rgba(0,0,0,.25); }
.dock { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483645; display: flex; flex-direction: column; align-items: flex-end; gap: .5rem; max-width: min(24rem, calc(100vw - 2rem)); }
.card { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; box-shadow: 0 2px 10px rgba(0,0,0,.25); }
.toast:empty { display: none; }
.indicator { display: inline-flex; align-items: center; gap: .5rem; }
.dot { width: .7rem; height: .7rem; border-radius: 50%; background: var(--ok); display: inline-block; }
.menu[hidden] { display: none; } .menu { display: flex; flex-direction: column; gap: .5rem; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
@media (prefers-reduced-motion: no-preference) { .toast { transition: opacity .2s; } }
`;

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children || []) if (child) node.appendChild(child);
  return node;
}

export function duration(ms) {
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 60 ? s + " s" : Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
}

function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

export function systemCheck(session) {
  const found = session.state.checks || {};
  return Object.keys(found).map((key) => {
    const ok = found[key];
    return { key, ok: ok === true, text: ok === true ? t("ok_" + key) : ok === null ? t("bad_displayUnknown") : t("bad_" + key) };
  });
}

// The panel in the student's language: its catalog first (when not English), then the parts.
export function attach(session, options) {
  const go = () => render(session, options);
  if (!options.catalogUrl) return Promise.resolve(go());
  return fetch(options.catalogUrl).then((r) => (r.ok ? r.json() : {})).then((found) => { catalog = found || {}; }, () => {}).then(go);
}

function render(session, options) {
  const theme = ["dark", "high-contrast", "default"].includes(options.theme) ? options.theme : "default";
  const host = el("div", { "data-openproctor-panel": "" });
  const root = host.attachShadow({ mode: "open" });
  const frame = el("div", { class: "p " + theme, lang: (session.state.notice && session.state.notice.lang) || "en" });
  if (root.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", { text: CSS })); // older engines; a strict CSP may block this
  }
  root.appendChild(frame);
  (document.body || document.documentElement).appendChild(host);

  const flags = new Set(session.counted), policy = session.policy; // counted: loader.js
  let dialog = null, returnFocus = null, lastToast = 0;

  // ---- the dock: live warnings (announced), the end card, the indicator and its menu
  const toast = el("div", { class: "card toast", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  const end = el("div", { class: "card", role: "status", hidden: true });
  const status = el("span");
  const toggle = el("button", { type: "button", class: "indicator", "aria-expanded": "false", "aria-controls": "openproctor-menu", onclick: () => openMenu(toggle.getAttribute("aria-expanded") !== "true") },
    [el("span", { class: "dot", "aria-hidden": "true" }), status]);
  const breakButton = el("button", { type: "button", "data-action": "take-break", onclick: () => { openMenu(false); session.takeBreak(); } });
  const menu = el("div", { class: "menu card", id: "openproctor-menu", hidden: true, role: "group", "aria-label": t("menu") }, [
    el("button", { type: "button", text: t("notice"), onclick: () => { openMenu(false); showNotice(false); } }),
    breakButton,
    el("a", { href: session.recordUrl, target: "_blank", rel: "noopener", text: t("record") }),
  ]);
  frame.appendChild(el("div", { class: "dock" }, [toast, end, menu, toggle]));
  function openMenu(open) { menu.hidden = !open; toggle.setAttribute("aria-expanded", String(open)); }

  function say(text) {
    if (!policy.visible_warnings) return;
    toast.textContent = text;
    const at = (lastToast = Date.now());
    setTimeout(() => { if (lastToast === at) toast.textContent = ""; }, 10000);
  }

  const problem = el("div", { class: "card", role: "alert", hidden: true });
  frame.querySelector(".dock").prepend(problem);
  function refresh(state) {
    if (state.error && problem.hidden) { problem.hidden = false; problem.textContent = t("error", { message: state.error }); }
    const queued = state.waiting > 0 ? (navigator.onLine === false ? t("waiting", { n: state.waiting }) + ", " + t("offline") : t("waiting", { n: state.waiting })) : t("allSent");
    status.textContent = t("active") + " · " + queued;
    breakButton.hidden = !(state.breaksLeft > 0 && state.started && !state.onBreak && !state.finished);
    breakButton.textContent = t("takeBreak", { n: state.breaksLeft });
    if (state.finished) {
      end.hidden = false;
      end.replaceChildren(el("p", { text: state.uploaded ? t("submitted") : t("sending") }), el("a", { href: session.recordUrl, target: "_blank", rel: "noopener", text: t("seeRecord") }));
      toggle.hidden = true; menu.hidden = true;
    }
    if (state.onBreak && !dialog) showBreak();
    if (checks && dialog) listChecks();
  }

  // ---- dialogs: one at a time, focus taken on open and given back on close, never trapped
  // modal: a layer over the exam (consent, a break); otherwise a card beside it that blocks
  // nothing (the notice with consent "notice": shown, no click needed)
  function open(label, children, modal = true) {
    close();
    returnFocus = document.activeElement;
    const heading = el("h2", { id: "openproctor-title", tabindex: "-1", text: label });
    const box = el("div", { class: modal ? "dialog" : "dialog aside", role: modal ? "dialog" : "region", "aria-modal": modal ? "true" : false, "aria-labelledby": "openproctor-title" }, [heading, ...children]);
    dialog = modal ? el("div", { class: "layer" }, [box]) : box;
    frame.appendChild(dialog);
    if (modal) heading.focus();
    return box;
  }
  function close() {
    if (!dialog) return;
    dialog.remove(); dialog = null;
    if (returnFocus && returnFocus.focus && document.contains(returnFocus)) returnFocus.focus();
  }

  function showNotice(asking) {
    const notice = session.state.notice || { title: t("notice"), sections: [], links: {} };
    const parts = notice.sections.map((section) => el("section", {}, [el("h3", { text: section.heading }), el("ul", {}, section.items.map((item) => el("li", { text: item })))]));
    const links = [el("li", {}, [el("a", { href: session.recordUrl, target: "_blank", rel: "noopener", text: t("record") })])];
    if (notice.links && notice.links.agreement) links.push(el("li", {}, [el("a", { href: notice.links.agreement, target: "_blank", rel: "noopener", text: t("agreement") })]));
    parts.push(el("ul", {}, links));
    if (asking) {
      checks = el("ul", { class: "check" });
      parts.push(el("section", {}, [el("h3", { text: t("check") }), checks]));
      listChecks();
    }
    const actions = el("div", { class: "actions" });
    if (asking === "required") {
      actions.append(
        el("button", { type: "button", class: "primary", "data-action": "agree", text: t("agree"), onclick: () => { session.agree(); close(); } }),
        el("button", { type: "button", "data-action": "decline", text: t("decline"), onclick: () => { session.decline(); showDeclined(); } }),
      );
    } else {
      actions.append(el("button", { type: "button", class: "primary", "data-action": "continue", text: t("continue"), onclick: close }));
    }
    parts.push(actions);
    open(notice.title, parts, asking === "required");
  }
  let checks = null;
  function listChecks() {
    const found = systemCheck(session), text = found.map((c) => c.text).join("|");
    if (checks && checks.dataset.text !== text) {
      checks.dataset.text = text;
      checks.replaceChildren(...found.map((c) => el("li", { class: c.ok ? "ok" : "bad", text: c.text })));
    }
  }
  function showDeclined() { open(t("decline"), [el("p", { text: t("declined") })]); }

  let breakTimer = 0;
  function showBreak() {
    const limit = (session.state.breakMinutes || 0) * 60000, since = session.state.breakSince || Date.now();
    const left = el("p", {}), over = el("p", { role: "status", "aria-live": "polite" });
    open(t("onBreak"), [el("p", { text: t("breakRule", { m: session.state.breakMinutes }) }), left, over,
      el("div", { class: "actions" }, [el("button", { type: "button", class: "primary", "data-action": "end-break", text: t("endBreak"), onclick: () => session.endBreak() })])]);
    const tick = () => {
      const remaining = limit - (Date.now() - since);
      left.textContent = t("breakLeft", { t: clock(remaining) });
      if (remaining < 0 && !over.textContent) over.textContent = t("breakOver", { m: session.state.breakMinutes });
    };
    tick();
    clearInterval(breakTimer);
    breakTimer = setInterval(tick, 1000);
  }
  session.on("break", (b) => { if (!b.active) { clearInterval(breakTimer); close(); } });

  // ---- visible warnings: from the browser's own events, so they appear at once
  const running = () => session.state.started && !session.state.finished && !session.state.error;
  const away = () => running() && !session.state.onBreak;
  let hiddenAt = 0, blurAt = 0, wasFull = !!document.fullscreenElement;
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") { if (away()) hiddenAt = Date.now(); blurAt = 0; return; }
    if (hiddenAt && away() && flags.has("tab_switch")) say(t("leftTab", { d: duration(Date.now() - hiddenAt) }));
    hiddenAt = 0;
  });
  window.addEventListener("blur", (e) => {
    const into = document.activeElement && document.activeElement.tagName === "IFRAME";
    if (e.target === window && away() && !into && document.visibilityState !== "hidden") blurAt = Date.now();
  });
  window.addEventListener("focus", (e) => {
    if (e.target !== window) return;
    if (blurAt && !hiddenAt && away() && flags.has("focus_loss") && Date.now() - blurAt >= 1000) say(t("leftWindow", { d: duration(Date.now() - blurAt) }));
    blurAt = 0;
  });
  document.addEventListener("fullscreenchange", () => {
    const full = !!document.fullscreenElement;
    if (wasFull && !full && away() && flags.has("fullscreen_exit")) say(t("fullscreen"));
    wasFull = full;
  });
  window.addEventListener("openproctor:blocked", (e) => { if (running()) say(t("blocked_" + e.detail)); });
  const prevented = new Set(policy.prevent || []);
  const seen = (what, flag, text) => () => { if (running() && !prevented.has(what) && flags.has(flag)) say(text); };
  document.addEventListener("copy", seen("copy", "copy_paste", t("clipboard")));
  document.addEventListener("cut", seen("copy", "copy_paste", t("clipboard")));
  document.addEventListener("paste", seen("paste", "copy_paste", t("clipboard")));
  document.addEventListener("contextmenu", seen("context_menu", "context_menu", t("menuSeen")));
  window.addEventListener("beforeprint", seen("print", "print_attempt", t("printSeen")));
  window.addEventListener("offline", () => { if (running()) say(t("wentOffline")); refresh(session.state); });
  window.addEventListener("online", () => refresh(session.state));
  if (screen.addEventListener) screen.addEventListener("change", () => { if (running() && screen.isExtended && flags.has("multiple_displays")) say(t("displays")); });

  // ---- the notice first
  if (session.state.consent === "pending") showNotice("required");
  else if (session.state.consent === "notice") {
    session.agree(); // shown without a click: recorded as shown
    showNotice("notice");
  }
  session.on("state", refresh);
  return { host, showNotice };
}
