// Strength meter of the password change page: asks the server's zxcvbn
// (the same estimate as the policy, with the user's own data penalised).
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
    }).catch(function () {});
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
})();
