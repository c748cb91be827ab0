// "Copy" buttons next to a value shown once (a new API key, an invitation link). Without
// JavaScript the buttons stay hidden and the read-only field can be selected and copied by hand.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var field = document.querySelector(button.getAttribute("data-copy"));
      var status = button.closest("section") && button.closest("section").querySelector("[data-copy-status]");
      if (!field) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var done = function (text) { if (status) { status.textContent = text; } };
        field.select();
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(field.value).then(function () { done("Copied."); },
            function () { done("Select the text and copy it."); });
        } else {
          try { done(document.execCommand("copy") ? "Copied." : "Select the text and copy it."); }
          catch (e) { done("Select the text and copy it."); }
        }
      });
    });
  });
}());
