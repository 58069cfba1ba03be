// Strength meter of the new password fields: asks the server's zxcvbn (the same
// estimate as the policy, with the person's own data penalised), and marks each rule
// listed under the field as met or not as the person types (docs/flows.md).
(function () {
  "use strict";
  var form = document.querySelector("form[data-strength-url]");
  if (!form) { return; }
  var input = form.querySelector("[data-strength-meter]");
  var box = document.getElementById("password-strength");
  var label = document.getElementById("password-strength-label");
  var meter = document.getElementById("password-strength-meter");
  var csrf = form.querySelector("input[name=csrf_token]");
  var timer = null;
  var STATES = ["fr-message--info", "fr-message--valid", "fr-message--error"];

  function mark(rule, met) {
    var line = form.querySelector("[data-rule='" + rule + "']");
    if (!line) { return; }
    STATES.forEach(function (state) { line.classList.remove(state); });
    if (input.value.length === 0) {
      line.classList.add("fr-message--info");
    } else {
      line.classList.add(met ? "fr-message--valid" : "fr-message--error");
    }
  }

  function update() {
    var body = new URLSearchParams();
    body.set("password", input.value);
    body.set("csrf_token", csrf ? csrf.value : "");
    fetch(form.dataset.strengthUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: {"X-CSRFToken": csrf ? csrf.value : ""}
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) { return; }
      box.hidden = input.value.length === 0;
      label.textContent = data.label;
      meter.value = data.score;
      Object.keys(data.rules || {}).forEach(function (rule) { mark(rule, data.rules[rule]); });
    }).catch(function () {});
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
})();
