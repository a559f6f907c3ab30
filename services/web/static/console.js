// The console works without this file. With it: a form shows it is being sent and cannot be
// sent twice by a double click (a resend is harmless anyway: each form carries its own id).
"use strict";
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sending) { event.preventDefault(); return; }
  form.dataset.sending = "1";
  for (const button of form.querySelectorAll("button[type=submit]")) {
    button.setAttribute("aria-busy", "true");
  }
});
