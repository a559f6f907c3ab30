// The console works without this file: every form posts and the answer is a page. With it,
// the forms marked data-live post in the background and the answer's main part replaces this
// page's, so an action's outcome shows without a reload; a form cannot be sent twice by a
// double click (a resend is harmless anyway: each form carries its own id).
"use strict";

async function postInPlace(form) {
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const main = page.querySelector("main");
  if (!main) { window.location.assign(response.url); return; }
  document.querySelector("main").replaceWith(main);
  document.title = page.title;
  if (response.ok && response.url) { history.replaceState(null, "", response.url); }
  const status = main.querySelector("[role=status], [role=alert]");
  if (status) { status.setAttribute("tabindex", "-1"); status.focus(); }
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sending) { event.preventDefault(); return; }
  form.dataset.sending = "1";
  for (const button of form.querySelectorAll("button[type=submit]")) {
    button.setAttribute("aria-busy", "true");
  }
  if (form.dataset.live !== undefined && window.fetch) {
    event.preventDefault();
    postInPlace(form).catch(() => form.submit());
  }
});

// Pages marked <main data-refresh="seconds"> (the queue, the deadline board) reload their main
// part in the background at that interval, unless the person is typing in one of its fields.
function refreshLater() {
  const main = document.querySelector("main[data-refresh]");
  if (!main || !window.fetch) { return; }
  setTimeout(async () => {
    const busy = document.activeElement && main.contains(document.activeElement)
      && document.activeElement.matches("input, select, textarea");
    if (!busy && !document.hidden) {
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin" });
        if (response.ok && !response.redirected) {
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          const fresh = page.querySelector("main[data-refresh]");
          if (fresh) { document.querySelector("main").replaceWith(fresh); }
        }
      } catch (error) { /* offline for a moment: try again at the next interval */ }
    }
    refreshLater();
  }, Number(main.dataset.refresh) * 1000);
}
document.addEventListener("DOMContentLoaded", refreshLater);
