// « J'ai oublié mon mot de passe » carries the identifier typed on the login page.
(function () {
  "use strict";
  var link = document.getElementById("forgot-password-link");
  var input = document.getElementById("identifier");
  if (!link || !input) { return; }
  var base = link.getAttribute("href").split("?")[0];
  function update() {
    link.setAttribute("href", input.value ? base + "?identifier=" + encodeURIComponent(input.value) : base);
  }
  input.addEventListener("input", update);
  update();
})();
