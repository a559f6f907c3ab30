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
