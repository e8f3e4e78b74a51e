// Keeping what people type. Three jobs, none needing a library:
// 1. After a submit refused as expired (CSRF), the server re-shows the form page with the
//    typed fields in #restored-form; they are put back into the page's form here.
// 2. A receipt larger than the server takes is caught before it is sent: a JPEG or PNG
//    photo is made smaller with a canvas, anything else is refused with a message.
// 3. A form marked data-keep-form keeps a copy of its typed fields in sessionStorage while
//    it is sent; if the server still refuses the upload (413), its page leads back to the
//    form with ?too_large=1 and the copy is put back.
(function () {
  "use strict";
  const KEY = "ceroc-form:" + location.pathname;

  function samePage(form) {
    try {
      return new URL(form.action, location.href).pathname === location.pathname;
    } catch (e) {
      return false;
    }
  }

  function fill(form, values) {
    const used = {};
    for (const el of form.elements) {
      const name = el.name;
      if (!name || !(name in values) || el.type === "file" || el.type === "password") continue;
      if (el.type === "hidden" || el.type === "submit" || el.tagName === "BUTTON") continue;
      const list = values[name];
      if (el.type === "checkbox" || el.type === "radio") {
        el.checked = list.includes(el.value);
      } else if (el.multiple) {
        for (const option of el.options) option.selected = list.includes(option.value);
      } else {
        const i = used[name] || 0;
        if (i < list.length) el.value = list[i];
        used[name] = i + 1;
      }
    }
  }

  function typed(form) {
    const values = {};
    for (const [name, value] of new FormData(form)) {
      if (typeof value !== "string" || name === "csrf_token" || /password/i.test(name)) continue;
      (values[name] = values[name] || []).push(value);
    }
    return values;
  }

  const forms = Array.from(document.querySelectorAll("form[method=post], form[method=POST]"));
  const restored = document.getElementById("restored-form");
  if (restored) {
    const values = JSON.parse(restored.dataset.values);
    forms.filter(samePage).forEach((form) => fill(form, values));
  }

  const tooLarge = new URLSearchParams(location.search).has("too_large");
  for (const form of document.querySelectorAll("form[data-keep-form]")) {
    if (tooLarge) {
      try {
        const copy = sessionStorage.getItem(KEY);
        if (copy) fill(form, JSON.parse(copy));
      } catch (e) { /* storage off: the message by the field still says what happened */ }
    }
    form.addEventListener("submit", (event) => {
      const busy = form.querySelector("input[type=file][data-busy]");
      const over = form.querySelector("input[type=file][data-too-big]");
      if (busy || over) {
        event.preventDefault();
        (busy || over).focus();
        return;
      }
      try {
        sessionStorage.setItem(KEY, JSON.stringify(typed(form)));
      } catch (e) { /* full or off: the form is sent all the same */ }
    });
  }
  // A form opened afresh drops an old copy (the too-large page itself keeps it).
  if (!tooLarge && document.querySelector("form[data-keep-form]")) {
    try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
  }

  function sizeText(bytes) {
    const mb = bytes / (1024 * 1024);
    return mb >= 1 ? mb.toFixed(1) + " MB" : Math.max(1, Math.round(bytes / 1024)) + " KB";
  }

  function blob(canvas, quality) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  // The largest JPEG under *limit*: at most 2560 px on the long side, then smaller steps.
  async function shrink(file, limit) {
    const image = await createImageBitmap(file);
    let scale = Math.min(1, 2560 / Math.max(image.width, image.height));
    let quality = 0.85;
    for (let step = 0; step < 10; step++) {
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(image.width * scale));
      canvas.height = Math.max(1, Math.round(image.height * scale));
      const context = canvas.getContext("2d");
      context.fillStyle = "#fff"; // a transparent PNG gets a white page, not a black one
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      const out = await blob(canvas, quality);
      if (out && out.size <= limit) {
        const name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
        return new File([out], name, { type: "image/jpeg", lastModified: Date.now() });
      }
      scale *= 0.75;
      quality = Math.max(0.6, quality - 0.05);
    }
    return null;
  }

  for (const input of document.querySelectorAll("input[type=file][data-max-bytes]")) {
    const field = input.closest("[data-receipt-field]") || input.parentElement;
    const status = field.querySelector("#receipt-status") || field.querySelector("[aria-live]");
    const request = parseInt(input.dataset.maxRequest, 10);
    let limit = parseInt(input.dataset.maxBytes, 10);
    // The whole request must fit too: leave room for the other fields.
    if (request) limit = Math.min(limit, request - 64 * 1024);

    function say(text, problem) {
      if (!status) return;
      status.textContent = text;
      status.classList.toggle("error", Boolean(problem));
    }

    input.addEventListener("change", async () => {
      delete input.dataset.tooBig;
      input.setCustomValidity("");
      say("", false);
      const file = input.files && input.files[0];
      if (!file || file.size <= limit) return;
      const photo = file.type === "image/jpeg" || file.type === "image/png";
      if (photo && window.createImageBitmap && window.DataTransfer) {
        input.dataset.busy = "1";
        say(status.dataset.scaling || "…", false);
        let smaller = null;
        try {
          smaller = await shrink(file, limit);
        } catch (e) {
          smaller = null;
        }
        delete input.dataset.busy;
        if (smaller) {
          const list = new DataTransfer();
          list.items.add(smaller);
          input.files = list.files;
          say((status.dataset.scaled || "{before} → {after}")
            .replace("{before}", sizeText(file.size)).replace("{after}", sizeText(smaller.size)), false);
          return;
        }
      }
      input.dataset.tooBig = "1";
      const message = (status.dataset.tooBig || "{size} > {max}")
        .replace("{size}", sizeText(file.size)).replace("{max}", sizeText(limit));
      input.setCustomValidity(message);
      say(message, true);
    });
  }

  // "Remove" beside a kept receipt: the file field is then asked for again where required.
  for (const box of document.querySelectorAll("[data-receipt-remove]")) {
    box.addEventListener("change", () => {
      const input = box.closest("[data-receipt-field]").querySelector("input[type=file]");
      if (input && input.dataset.required) input.required = box.checked;
    });
  }
})();
