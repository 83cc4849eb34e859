/* SMTP profile form: provider presets and the port that goes with a mode.
 *
 * Progressive enhancement only: without JavaScript the preset is applied on
 * the server when the host is left blank, and every button still works.
 */
"use strict";
(function () {
  const STANDARD_PORTS = { ssl: "465", starttls: "587" };

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  ready(function () {
    const data = document.getElementById("smtpconfig-presets");
    const presetSelect = document.getElementById("id_preset");
    if (!data || !presetSelect) return;
    const presets = {};
    JSON.parse(data.textContent).forEach(function (p) { presets[p.key] = p; });

    const field = function (name) { return document.getElementById("id_" + name); };
    const host = field("host"), port = field("port"), security = field("security");
    const username = field("username"), fromEmail = field("from_email");
    let portTypedByUser = false;
    if (port) port.addEventListener("input", function () { portTypedByUser = true; });

    // The login note of the chosen provider, shown in the picker's own help text.
    let note = document.getElementById("id_preset_helptext");
    if (!note) {
      note = document.createElement("div");
      note.className = "help";
      note.id = "id_preset_helptext";
      presetSelect.closest(".form-row").appendChild(note);
    }
    note.classList.add("smtpconfig-preset-note");
    note.setAttribute("aria-live", "polite");
    const defaultHelp = note.textContent;

    function showNote(preset) {
      note.textContent = "";
      if (!preset || !preset.login_note) {
        note.textContent = defaultHelp;
        return;
      }
      note.append(preset.login_note);
      if (preset.help_url) {
        const link = document.createElement("a");
        link.href = preset.help_url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        link.textContent = " " + (document.documentElement.lang === "ru" ? "Справка провайдера" : "Provider's help page");
        note.append(" ", link);
      }
    }

    presetSelect.addEventListener("change", function () {
      const preset = presets[presetSelect.value];
      showNote(preset);
      if (!preset) return;
      if (preset.host) {
        host.value = preset.host;
        port.value = preset.port;
        security.value = preset.security;
        portTypedByUser = false;
      }
      if (username && !username.value) {
        if (preset.username_rule === "address" && fromEmail && fromEmail.value) {
          username.value = fromEmail.value;
        } else if (preset.username_rule && preset.username_rule !== "address") {
          username.value = preset.username_rule;
        }
      }
    });

    // Follow the sender address into an empty user name when the provider logs in with it.
    if (fromEmail && username) {
      fromEmail.addEventListener("change", function () {
        const preset = presets[presetSelect.value];
        if (preset && preset.username_rule === "address" && !username.value) {
          username.value = fromEmail.value;
        }
      });
    }

    // Changing the mode offers its usual port, unless the user typed a port.
    if (security && port) {
      security.addEventListener("change", function () {
        const standard = STANDARD_PORTS[security.value];
        const isStandard = ["", "25", "465", "587", "2525"].indexOf(port.value) !== -1;
        if (standard && (!portTypedByUser || isStandard)) port.value = standard;
      });
    }

    showNote(presets[presetSelect.value]);
  });
})();
