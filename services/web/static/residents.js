// The residents' pages work without this file: every form posts and the answer is a page.
// With it: the problem-type list filters as one types, a photo too large is caught before
// it is sent, and the inbox shows new messages as they arrive (Server-Sent Events).
"use strict";

function filterKinds(input) {
  const list = document.querySelector(input.dataset.filter);
  const words = input.value.trim().toLowerCase();
  for (const item of list.querySelectorAll("li[data-words]")) {
    item.hidden = words !== "" && !item.dataset.words.toLowerCase().includes(words);
  }
  for (const group of list.querySelectorAll("section")) {
    group.hidden = group.querySelectorAll("li:not([hidden])").length === 0;
  }
}

const LONGEST_SIDE = 1600;

// A photo over the limit is redrawn smaller as JPEG where the browser can (createImageBitmap,
// canvas, DataTransfer); what is still too large is refused here, before it is sent.
async function shrinkPhoto(input) {
  const file = input.files && input.files[0];
  if (!file || file.size <= Number(input.dataset.max) || !window.createImageBitmap
      || !window.DataTransfer) { return; }
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, LONGEST_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.8));
    if (!blob) { return; }
    const smaller = new DataTransfer();
    smaller.items.add(new File([blob], file.name.replace(/\.\w+$/, "") + ".jpg",
      { type: "image/jpeg" }));
    input.files = smaller.files;
  } catch (error) { /* not an image the browser reads: the size check below decides */ }
}

function checkPhoto(input) {
  const file = input.files && input.files[0];
  const tooBig = Boolean(file && file.size > Number(input.dataset.max));
  const note = document.getElementById("photo-too-big");
  if (note) { note.hidden = !tooBig; }
  input.setCustomValidity(tooBig && note ? note.textContent : "");
  if (tooBig) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
}

function listenToInbox(list) {
  if (!window.EventSource) { return; }
  const note = document.querySelector("[data-live-note]");
  if (note) { note.hidden = false; }
  const source = new EventSource(list.dataset.stream);
  source.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (list.querySelector(`li[data-id="${CSS.escape(message.id)}"]`)) { return; }
    const item = document.createElement("li");
    item.dataset.id = message.id;
    const title = document.createElement("strong");
    title.textContent = message.title;
    item.append(title, document.createElement("br"), document.createTextNode(message.body));
    list.prepend(item);
    const empty = document.getElementById("inbox-empty");
    if (empty) { empty.remove(); }
  });
  source.addEventListener("gone", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  const search = document.querySelector("input[data-filter]");
  if (search) { search.addEventListener("input", () => filterKinds(search)); }
  const photo = document.querySelector("input[type=file][data-max]");
  if (photo) {
    photo.addEventListener("change", async () => {
      await shrinkPhoto(photo);
      checkPhoto(photo);
      photo.dataset.checked = "1";
    });
  }
  const inbox = document.querySelector("[data-stream]");
  if (inbox) { listenToInbox(inbox); }
});

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sending) { event.preventDefault(); return; }
  form.dataset.sending = "1";
});
