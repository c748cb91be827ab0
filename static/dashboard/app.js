/* Small enhancements; every page also works without JavaScript. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.body.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Times follow the browser's time zone until the person picks one in Settings.
  var body = document.body;
  var leaving = false;  // the person already went on to another page: never pull them back
  window.addEventListener("beforeunload", function () { leaving = true; });
  if (body.dataset.timeZoneSet === "0" && window.Intl && body.dataset.timeZoneUrl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      var data = new URLSearchParams({ time_zone: zone, detected: "on" });
      fetch(body.dataset.timeZoneUrl, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      }).then(function (response) {
        // Show the page's times in the new zone at once (only when it differs).
        if (response.ok && zone !== body.dataset.timeZone && !leaving) { window.location.reload(); }
      }).catch(function () {});
    }
  }

  // A form marked data-once is sent once: a double click or a second Enter does nothing.
  // (The server is safe anyway: the form's idempotency key makes a repeat a replay.)
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-once]")) { return; }
    if (form.dataset.submitted === "1") { event.preventDefault(); return; }
    form.dataset.submitted = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  // Back/forward cache: a restored page must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.dataset.submitted = "";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });

  // The superuser's business switcher submits on change.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // Close the account menu on Escape or a click elsewhere.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("details.usermenu[open]").forEach(function (d) { d.open = false; });
    }
  });
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.usermenu[open]").forEach(function (d) {
      if (!d.contains(event.target)) { d.open = false; }
    });
  });
})();
