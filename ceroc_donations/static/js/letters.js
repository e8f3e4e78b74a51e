// Letters: the queue's selection, a batch's progress bar, and the live preview of the texts.
// Every page works without JavaScript: the queue's "Which gifts" radios choose ticked or all
// matching, the batch page refreshes itself, the preview button submits into the iframe.
(function () {
  const fill = (template, values) => {
    let s = template || "";
    for (const [k, v] of Object.entries(values)) s = s.replace(k, String(v));
    return s;
  };

  // --- the queue: tick the page, select all matching (as the filter), live count ---------
  const queueForm = document.getElementById("queue-form");
  const selectPage = document.getElementById("select-page");
  if (queueForm && selectPage) {
    const ticks = Array.from(queueForm.querySelectorAll("input.tick"));
    const radioAll = document.getElementById("select-all");
    const radioTicked = document.getElementById("select-ticked");
    const banner = document.getElementById("select-all-banner");
    const allButton = document.getElementById("select-all-matching");
    const count = document.getElementById("selection-count");
    const matching = Number(queueForm.dataset.matching);
    const update = () => {
      const n = ticks.filter((t) => t.checked).length;
      const every = radioAll && radioAll.checked;
      selectPage.checked = every || (n > 0 && n === ticks.length);
      selectPage.indeterminate = !every && n > 0 && n < ticks.length;
      if (banner) banner.hidden = every || n !== ticks.length;
      count.textContent = every
        ? fill(queueForm.dataset.i18nAll, {"8888": matching})
        : fill(queueForm.dataset.i18nCount, {"9999": n, "8888": matching});
    };
    selectPage.hidden = false;
    selectPage.addEventListener("change", () => {
      for (const t of ticks) t.checked = selectPage.checked;
      // Every match is on this page: ticking the page is selecting all matching.
      if (radioAll && ticks.length === matching) radioAll.checked = selectPage.checked;
      if (!selectPage.checked && radioTicked) radioTicked.checked = true;
      update();
    });
    for (const t of ticks) {
      t.addEventListener("change", () => { if (radioTicked) radioTicked.checked = true; update(); });
    }
    if (allButton) {
      allButton.addEventListener("click", () => {
        for (const t of ticks) t.checked = true;
        radioAll.checked = true;
        update();
        radioAll.focus();
      });
    }
    if (radioAll) {
      radioAll.addEventListener("change", () => { for (const t of ticks) t.checked = true; update(); });
      radioTicked.addEventListener("change", update);
    }
    update();
  }

  // --- a batch's progress, read from the server every second ---------------------------
  const box = document.getElementById("batch-progress");
  if (box && ["queued", "running"].includes(box.dataset.status)) {
    const bar = document.getElementById("batch-bar");
    const text = document.getElementById("batch-text");
    const eta = document.getElementById("batch-eta");
    const downloads = document.getElementById("batch-downloads");
    const timer = setInterval(async () => {
      let st;
      try {
        const r = await fetch(box.dataset.statusUrl, {headers: {Accept: "application/json"}});
        if (!r.ok) return;
        st = await r.json();
      } catch (e) { return; }
      bar.max = Math.max(st.total, 1); bar.value = st.done;
      if (st.status === "done") {
        clearInterval(timer);
        text.textContent = fill(box.dataset.i18nDone, {});
        eta.textContent = "";
        downloads.hidden = false;
        location.reload();  // show the list of letters
      } else if (st.status === "failed") {
        clearInterval(timer);
        text.textContent = fill(box.dataset.i18nFailed, {});
        eta.textContent = "";
      } else {
        text.textContent = fill(box.dataset.i18nProgress, {"9999": st.done, "8888": st.total});
        eta.textContent = st.eta_text || "";
      }
    }, 1000);
  }

  // --- the texts' live preview: debounced, a stale answer never replaces a newer one ----
  const form = document.getElementById("texts-form");
  const frame = document.getElementById("letter-preview");
  const button = document.getElementById("preview-button");
  if (form && frame && button) {
    const status = document.getElementById("preview-status");
    let timer = null;
    let asked = 0;
    let shown = 0;
    const refresh = async () => {
      const mine = ++asked;
      if (status) status.textContent = status.dataset.i18nBusy || "";
      let html;
      try {
        const r = await fetch(button.getAttribute("formaction"), {
          method: "POST", body: new FormData(form), headers: {Accept: "text/html"},
        });
        html = await r.text();
      } catch (e) {
        if (mine === asked && status) status.textContent = status.dataset.i18nFailed || "";
        return;
      }
      if (mine < shown) return;  // an older request answered late
      shown = mine;
      frame.srcdoc = html;
      if (mine === asked && status) status.textContent = "";
    };
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 400); });
    button.addEventListener("click", (event) => { event.preventDefault(); refresh(); });
    refresh();
  }
})();
