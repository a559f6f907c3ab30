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

// Pages marked <main data-refresh="seconds"> (the queue, the deadline board, a broadcast being
// sent) reload their main part in the background at that interval, unless the person is
// typing in one of its fields; a fresh main part without the mark (a broadcast done) is the
// last one.
async function reloadMain() {
  const response = await fetch(window.location.href, { credentials: "same-origin" });
  if (!response.ok || response.redirected) { return; }
  const page = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = page.querySelector("main");
  if (fresh) { document.querySelector("main").replaceWith(fresh); }
}

function typing(main) {
  return document.activeElement && main.contains(document.activeElement)
    && document.activeElement.matches("input, select, textarea");
}

let live = null; // the open stream of a live board, if any

function refreshLater() {
  const main = document.querySelector("main[data-refresh]");
  if (!main || !window.fetch) { return; }
  const seconds = Number(main.dataset.refresh);
  setTimeout(async () => {
    if (!typing(main) && !document.hidden) {
      try { await reloadMain(); } catch (error) { /* offline for a moment: try again */ }
    }
    refreshLater();
  }, (live ? Math.max(seconds, 60) : seconds) * 1000); // live: only for the time left
}

// Boards marked <main data-live="url"> (the deadline board) follow the server's stream and
// reload their main part when a case in the person's scope changed. Without EventSource, or
// when the stream is refused (too many open), the timed refresh does it.
function listen() {
  const main = document.querySelector("main[data-live]");
  if (!main || !window.EventSource || !window.fetch) { return; }
  live = new EventSource(main.dataset.live);
  let busy = false, again = false;
  live.addEventListener("changed", async () => {
    if (busy) { again = true; return; } // a change during a reload: reload once more
    busy = true;
    do {
      again = false;
      if (typing(document.querySelector("main"))) { break; } // the timer catches up
      try { await reloadMain(); } catch (error) { break; }
    } while (again);
    busy = false;
  });
  live.addEventListener("error", () => {
    if (live && live.readyState === EventSource.CLOSED) { live = null; }
  });
}
document.addEventListener("DOMContentLoaded", () => { listen(); refreshLater(); });

// The broadcast form's area: the reach of another chosen area shows at once (the #reach part
// of the page for that area; without this the preview button asks for it).
document.addEventListener("change", async (event) => {
  const select = event.target;
  if (!select.matches("select[data-reach]") || !window.fetch) { return; }
  try {
    const url = "/broadcasts?node_id=" + encodeURIComponent(select.value);
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) { return; }
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.querySelector("#reach");
    const shown = document.querySelector("#reach");
    if (fresh && shown) { shown.replaceWith(fresh); }
  } catch (error) { /* the preview button still answers */ }
});
