// After a refused post the error summary takes the focus, so that a screen reader
// reads it first (RGAA 11.10, 11.11); its links put the focus in their field.
// Without JavaScript the summary is still the first thing of the form.
(function () {
  "use strict";
  var summary = document.querySelector("[data-error-summary]");
  if (!summary) { return; }
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) { return; }
    event.preventDefault();
    var label = document.querySelector("label[for='" + field.id + "']");
    (label || field).scrollIntoView();
    field.focus({preventScroll: true});
  });
})();
