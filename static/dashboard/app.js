/* Small enhancements; every page also works without JavaScript. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.body.classList.add("js");

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // Times follow the browser's time zone until the person picks one in Settings. The login page
  // sends it with the sign-in (static/dashboard/login.js), so the first page is already right; a
  // session without one (signed in elsewhere) sends it here, in the background, and never reloads
  // the page (that lost whatever was being typed): the times shown say their zone, the next page
  // uses the browser's.
  var body = document.body;
  if (body.dataset.timeZoneSet === "0" && window.Intl && body.dataset.timeZoneUrl) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      var data = new URLSearchParams({ time_zone: zone, detected: "on" });
      fetch(body.dataset.timeZoneUrl, {
        method: "POST", body: data, credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      }).then(function (response) {
        if (response.ok) { body.dataset.timeZoneSet = "1"; }
      }).catch(function () {});
    }
  }

  // Filtering with htmx: while new results load, the old rows are marked busy (dimmed, aria-busy)
  // and their "Download CSV" link waits, so that it never exports a filter no longer selected.
  function setBusy(target, busy) {
    if (!target || !target.setAttribute) { return; }
    if (busy) { target.setAttribute("aria-busy", "true"); } else { target.removeAttribute("aria-busy"); }
    target.querySelectorAll("a[data-testid=export-csv]").forEach(function (link) {
      if (busy) {
        link.setAttribute("aria-disabled", "true");
        link.setAttribute("tabindex", "-1");
        link.dataset.href = link.getAttribute("href");
        link.removeAttribute("href");
      } else if (link.dataset.href) {
        link.setAttribute("href", link.dataset.href);
        link.removeAttribute("aria-disabled");
        link.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("htmx:beforeRequest", function (event) { setBusy(event.detail.target, true); });
  document.addEventListener("htmx:afterRequest", function (event) {
    // After a swap the target is new (and not busy); after an error or an abort the old one is back.
    var target = event.detail.target;
    if (target && target.isConnected) { setBusy(target, false); }
  });

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
