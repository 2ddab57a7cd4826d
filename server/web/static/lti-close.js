// LTI Dynamic Registration is done: tell the LMS, which opened this page in a window or an
// iframe, to close it and show its own summary (the message carries no secret).
(function () {
  var target = window.opener || window.parent;
  function close() {
    if (target && target !== window) target.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
  }
  var button = document.getElementById("close");
  if (button) button.addEventListener("click", close);
  close();
})();
