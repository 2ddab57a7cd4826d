// The demo exam page's own script (external: the page runs under a strict CSP).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  function show(id, visible) { $(id).hidden = !visible; }
  function error(message) { $("error").textContent = message; show("error", true); }

  $("start").addEventListener("click", function () {
    $("start").disabled = true;
    fetch("/demo/lms/start", { method: "POST" })
      .then(function (r) { return r.json(); })
      .then(function (lms) {
        show("intro", false); show("exam", true);
        return window.openproctor.init({ serverOrigin: location.origin, integrationName: lms.integrationName, jwt: lms.jwt });
      })
      .then(function (session) {
        window.demoSession = session;
        session.on("state", function (state) {
          var flags = (state.flags || []).map(function (f) { return f.explanation; }).join("; ");
          $("status").textContent = state.ready
            ? "Proctoring active · live trust score " + state.score.toFixed(2) + (flags ? " · " + flags : "")
            : "Starting proctoring…";
        });
        $("finish").addEventListener("click", function () {
          $("finish").disabled = true;
          session.finish();
          session.logUploaded.then(function () {
            show("exam", false); show("done", true);
            $("results-link").href = session.recordUrl;
          }, function (e) { error(e.message); });
        });
      })
      .catch(function (e) { error(e.message); $("start").disabled = false; });
  });
})();
