/* "Connect with a code": ask the server every `interval` seconds whether the sign-in is done.
 *
 * Progressive enhancement only: without JavaScript the page's "check now" button
 * posts the same question and the page is shown again. The server answers the
 * script with JSON: {state, message, final, interval, redirect}.
 */
"use strict";
(function () {
  const MAX_FAILURES = 3;  // our own server did not answer: stop and leave the button

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    const panel = document.getElementById("smtpconfig-device");
    if (!panel) return;
    const status = document.getElementById("smtpconfig-device-status");
    const check = document.getElementById("smtpconfig-device-check");
    const restart = document.getElementById("smtpconfig-device-restart");

    // The code, copied in one click where the browser allows it.
    const copy = document.getElementById("smtpconfig-copy-code");
    const code = document.getElementById("smtpconfig-user-code");
    if (copy && code && navigator.clipboard && window.isSecureContext) {
      copy.hidden = false;
      copy.addEventListener("click", function () {
        navigator.clipboard.writeText(code.textContent.trim()).then(function () {
          copy.textContent = copy.dataset.copied;
        });
      });
    }

    if (!check || panel.dataset.final === "true" || !window.fetch || !window.FormData) return;
    let interval = Number(panel.dataset.interval) || 5;
    let failures = 0;

    function finish() {
      check.hidden = true;
      if (restart) restart.hidden = false;
    }

    function poll() {
      fetch(check.action, {
        method: "POST",
        body: new FormData(check),  // carries the CSRF token
        credentials: "same-origin",
        headers: { "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" },
      })
        .then(function (response) {
          // 400 carries a JSON explanation (no sign-in under way for this profile).
          if (!response.ok && response.status !== 400) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (answer) {
          failures = 0;
          if (answer.state === "connected" && answer.redirect) {
            window.location.assign(answer.redirect);
            return;
          }
          status.textContent = answer.message;
          status.className = "smtpconfig-device-status smtpconfig-device-" + answer.state;
          if (answer.final) {
            finish();
            return;
          }
          interval = Number(answer.interval) || interval;
          window.setTimeout(poll, interval * 1000);
        })
        .catch(function () {
          failures += 1;
          if (failures >= MAX_FAILURES) {
            status.textContent = panel.dataset.failed;
            return;
          }
          window.setTimeout(poll, interval * 1000);
        });
    }

    window.setTimeout(poll, interval * 1000);
  });
})();
