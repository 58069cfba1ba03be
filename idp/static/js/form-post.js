// response_mode=form_post (OAuth 2.0 Form Post Response Mode): the browser posts the
// authorization response to the module at once; the button is there without JavaScript.
(function () {
  "use strict";
  var form = document.getElementById("form-post-response");
  if (form) { form.submit(); }
})();
