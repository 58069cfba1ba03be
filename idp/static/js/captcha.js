// « Écouter la version audio » plays the player of the page, beside the field, instead
// of opening the recording alone; without JavaScript the link opens it, and the player
// works as well.
(function () {
  "use strict";
  var link = document.getElementById("captcha-audio-link");
  var player = document.getElementById("captcha-audio");
  if (!link || !player || typeof player.play !== "function") { return; }
  link.addEventListener("click", function (event) {
    event.preventDefault();
    player.currentTime = 0;
    var playing = player.play();
    if (playing && typeof playing.catch === "function") {
      playing.catch(function () { window.location.href = link.href; });
    }
  });
})();
