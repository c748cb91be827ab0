/* The sign-in form carries the browser's time zone, so the first page after it shows times in
   that zone without reloading itself (see wallets/dashboard/signals.py). */
(function () {
  "use strict";
  var field = document.getElementById("id_browser_time_zone");
  if (field && window.Intl) {
    field.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  }
})();
