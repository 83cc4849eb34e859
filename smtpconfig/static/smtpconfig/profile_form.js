/* SMTP profile form: provider presets, the port that goes with a mode, and only the
 * fields of the chosen sign-in method.
 *
 * Progressive enhancement only: without JavaScript the preset is applied on
 * the server when the host is left blank, every sign-in field stays visible
 * under a heading that names its method, and every button still works.
 */
"use strict";
(function () {
  const STANDARD_PORTS = { ssl: "465", starttls: "587" };
  // The sign-in fields a preset fills in (see Preset.sign_in()).
  const SIGN_IN_FIELDS = ["auth_method", "oauth_provider", "oauth_tenant", "oauth_grant"];
  const SIGN_IN_EVENT = "smtpconfig:sign-in";
  // The SSL/TLS mode was set by a script (setting .value fires no "change").
  const MODE_EVENT = "smtpconfig:mode";

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // Posts the form as if `button` submitted it, and reads the admin's JSON answer.
  // 429 (too many tests this minute) carries a JSON explanation too.
  function postForm(form, button) {
    const data = new FormData(form);
    data.append(button.name, button.value);
    // The button's own view (formaction), else the page.
    return fetch(button.formAction || form.action || window.location.href, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "XMLHttpRequest", "Accept": "application/json" },
    }).then(function (response) {
      if (!response.ok && response.status !== 429) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  function fromTemplate(id) {
    const template = document.getElementById(id);
    return template ? template.content.cloneNode(true) : document.createTextNode("");
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

    // A sign-in field the admin set is kept; one a preset set (or left as the page came)
    // takes the next preset's value. Setting .value fires no event, so only the admin does.
    const signInSetByUser = {};
    SIGN_IN_FIELDS.forEach(function (name) {
      const input = field(name);
      if (!input) return;
      const mark = function () { signInSetByUser[name] = true; };
      input.addEventListener("input", mark);
      input.addEventListener("change", mark);
    });
    function fillSignIn(preset) {
      const values = preset.sign_in || {};
      Object.keys(values).forEach(function (name) {
        const input = field(name);
        if (input && !signInSetByUser[name]) input.value = values[name];
      });
      document.dispatchEvent(new CustomEvent(SIGN_IN_EVENT));
    }

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
      if (preset.port_note) note.append(" ", preset.port_note);
      if (preset.help_url) {
        const link = document.createElement("a");
        link.href = preset.help_url;
        link.target = "_blank";
        link.rel = "noopener noreferrer";
        const linkText = document.getElementById("smtpconfig-help-link-text");
        link.textContent = linkText ? linkText.textContent : preset.help_url;
        note.append(" ", link);
      }
    }

    // The region picker offers only the chosen provider's regions, and hides otherwise.
    const regionSelect = field("preset_region");
    const regionRow = regionSelect && regionSelect.closest(".form-row");
    function showRegions(preset) {
      if (!regionSelect) return;
      const label = preset ? preset.label : null;
      let any = false;
      regionSelect.querySelectorAll("optgroup").forEach(function (group) {
        const match = group.label === label;
        group.hidden = !match;
        group.disabled = !match;
        any = any || match;
      });
      if (regionRow) regionRow.hidden = !any;
      const chosen = regionSelect.selectedOptions[0];
      if (!any || (chosen && chosen.parentElement.tagName === "OPTGROUP" && chosen.parentElement.hidden)) {
        regionSelect.value = "";
      }
    }
    if (regionSelect) {
      regionSelect.addEventListener("change", function () {
        if (regionSelect.value) host.value = regionSelect.value;
      });
    }

    // The user name a preset fills in: the sender address, a literal (SendGrid's "apikey"),
    // or nothing.
    function usernameFor(preset) {
      if (!preset || !preset.username_rule) return "";
      if (preset.username_rule === "address") return fromEmail ? fromEmail.value : "";
      return preset.username_rule;
    }
    // Like the sign-in fields: a user name a preset filled in (marked here, or the one the
    // page came with when it is the current preset's) takes the next preset's value; one the
    // admin typed is kept.
    if (username) {
      const initial = presets[presetSelect.value];
      if (initial && username.value && username.value === usernameFor(initial)) {
        username.dataset.presetFilled = "1";
      }
      username.addEventListener("input", function () { delete username.dataset.presetFilled; });
    }
    function fillUsername(value) {
      if (!username || (username.value && !username.dataset.presetFilled)) return;
      username.value = value;
      if (value) username.dataset.presetFilled = "1";
      else delete username.dataset.presetFilled;
    }

    presetSelect.addEventListener("change", function () {
      const preset = presets[presetSelect.value];
      showNote(preset);
      showRegions(preset);
      if (!preset) return;
      if (preset.host) {
        host.value = (regionSelect && regionSelect.value) || preset.host;
        port.value = preset.port;
        security.value = preset.security;
        security.dispatchEvent(new CustomEvent(MODE_EVENT));
        portTypedByUser = false;
      }
      fillSignIn(preset);
      if (preset.host) fillUsername(usernameFor(preset));
    });

    // Follow the sender address into the user name when the provider logs in with it.
    if (fromEmail && username) {
      fromEmail.addEventListener("change", function () {
        const preset = presets[presetSelect.value];
        if (preset && preset.username_rule === "address") fillUsername(fromEmail.value);
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
    showRegions(presets[presetSelect.value]);
    note.addEventListener("smtpconfig:preset", function (event) {
      showNote(presets[event.detail]);
      showRegions(presets[event.detail]);
    });
  });

  // Certificate checks mean nothing without TLS: hidden while the mode is None (without
  // JavaScript they stay, their help saying so). Hidden fields keep their values.
  ready(function () {
    const security = document.getElementById("id_security");
    if (!security) return;
    const rows = ["verify_certificate", "ca_certificate"].map(function (name) {
      const input = document.getElementById("id_" + name);
      return input && input.closest(".form-row");
    }).filter(Boolean);
    function update() {
      rows.forEach(function (row) { row.hidden = security.value === "none"; });
    }
    security.addEventListener("change", update);
    security.addEventListener(MODE_EVENT, update);
    update();
  });

  // Only the chosen sign-in method's fields: its fieldsets (classes set in the admin's
  // fieldsets), the tenant for Microsoft, the endpoints for another provider, and the client
  // secret's hint for app-only or a connected account. Hidden fields keep their values.
  ready(function () {
    const field = function (name) { return document.getElementById("id_" + name); };
    const method = field("auth_method");
    if (!method) return;
    const provider = field("oauth_provider"), grant = field("oauth_grant");
    const secret = field("oauth_client_secret");
    const secretHelp = document.getElementById("id_oauth_client_secret_helptext");
    const tenantInput = field("oauth_tenant");
    const tenantRow = tenantInput && tenantInput.closest(".form-row");

    function showAll(selector, visible) {
      document.querySelectorAll(selector).forEach(function (element) { element.hidden = !visible; });
    }

    function update() {
      const oauth2 = method.value === "oauth2";
      const providerValue = provider ? provider.value : "";
      showAll("fieldset.smtpconfig-for-password", method.value === "password");
      showAll("fieldset.smtpconfig-for-oauth2", oauth2);
      showAll("fieldset.smtpconfig-for-custom", oauth2 && providerValue === "custom");
      // The saved profile's "OAuth2 account" panel (Connect account) goes with the method.
      showAll("#smtpconfig-oauth", oauth2);
      if (tenantRow) tenantRow.hidden = providerValue !== "microsoft";
      if (secret && secretHelp && grant) {
        const hint = secret.getAttribute("data-help-" + grant.value);
        if (hint) secretHelp.textContent = hint;
      }
    }

    [method, provider, grant].forEach(function (input) {
      if (input) input.addEventListener("change", update);
    });
    document.addEventListener(SIGN_IN_EVENT, update);
    update();
  });

  // "Detect settings": candidates for the sender address, shown in the page; "Use these
  // settings" fills the form here. Without JavaScript both are ordinary submit buttons.
  ready(function () {
    const slot = document.getElementById("smtpconfig-discovery-slot");
    const form = slot && slot.closest("form");
    if (!form || !window.fetch) return;
    const field = function (name) { return document.getElementById("id_" + name); };

    function fill(values) {
      field("host").value = values.host;
      field("port").value = values.port;
      field("security").value = values.security;
      field("security").dispatchEvent(new CustomEvent(MODE_EVENT));
      const username = field("username");
      if (username && !username.value && values.username) {
        username.value = values.username;
        username.dataset.presetFilled = "1";
      }
      const preset = field("preset");
      if (preset) {
        // Show the provider's login note, without letting it overwrite the values above.
        preset.value = values.preset || "";
        const note = document.getElementById("id_preset_helptext");
        if (note) note.dispatchEvent(new CustomEvent("smtpconfig:preset", { detail: preset.value }));
      }
      field("host").focus();
    }

    slot.addEventListener("click", function (event) {
      const button = event.target.closest('button[name="_use_settings"]');
      if (!button) return;
      event.preventDefault();
      fill(JSON.parse(button.value));
      slot.querySelectorAll('button[name="_use_settings"]').forEach(function (b) {
        b.classList.toggle("default", b === button);
      });
    });

    form.addEventListener("submit", function (event) {
      const button = event.submitter;
      if (!button || button.name !== "_detect") return;
      event.preventDefault();
      button.disabled = true;
      slot.replaceChildren(fromTemplate("smtpconfig-progress-template"));
      postForm(form, button)
        .then(function (result) {
          slot.innerHTML = result.html;  // rendered and escaped by the server
          const panel = document.getElementById("smtpconfig-discovery");
          if (panel) panel.focus();
        })
        .catch(function () {
          slot.replaceChildren(fromTemplate("smtpconfig-failed-template"));
        })
        .finally(function () { button.disabled = false; });
    });
  });

  // The test buttons: run the test without leaving the page, with a progress state.
  // Without JavaScript (or if anything here fails) the buttons submit the form as usual.
  ready(function () {
    const slot = document.getElementById("smtpconfig-report-slot");
    const form = slot && slot.closest("form");
    if (!form || !window.fetch || !window.FormData) return;
    const TEST_BUTTONS = ["_send_test", "_check_connection"];

    function submitNormally(button) {
      // Resubmit with the same button, so the server renders errors in the page.
      const marker = document.createElement("input");
      marker.type = "hidden";
      marker.name = button.name;
      marker.value = button.value;
      form.appendChild(marker);
      if (button.formAction) form.action = button.formAction;
      HTMLFormElement.prototype.submit.call(form);
    }

    form.addEventListener("submit", function (event) {
      const button = event.submitter;
      if (!button || TEST_BUTTONS.indexOf(button.name) === -1) return;
      event.preventDefault();
      const buttons = form.querySelectorAll(TEST_BUTTONS.map(function (n) {
        return 'input[name="' + n + '"]';
      }).join(","));
      buttons.forEach(function (b) { b.disabled = true; });
      slot.replaceChildren(fromTemplate("smtpconfig-progress-template"));
      slot.setAttribute("aria-busy", "true");
      slot.scrollIntoView({ block: "nearest" });

      postForm(form, button)
        .then(function (result) {
          if (!result.form_valid) {
            submitNormally(button);
            return;
          }
          if (result.error) {
            const note = document.createElement("p");
            note.className = "errornote smtpconfig-test-error";
            note.textContent = result.error;
            slot.replaceChildren(note);
          } else {
            slot.innerHTML = result.html;  // rendered and escaped by the server
            const report = document.getElementById("smtpconfig-report");
            if (report) report.focus();
          }
        })
        .catch(function () {
          slot.replaceChildren(fromTemplate("smtpconfig-failed-template"));
        })
        .finally(function () {
          slot.removeAttribute("aria-busy");
          buttons.forEach(function (b) { b.disabled = false; });
        });
    });
  });
})();
