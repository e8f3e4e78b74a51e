// Letters: a batch's progress bar (polls the status every second) and the live preview
// of the letter texts. Without JavaScript the batch page refreshes itself and the
// preview button submits the form into the iframe.
(function () {
  const script = document.getElementById("letters-js");
  const box = document.getElementById("batch-progress");
  if (box && ["queued", "running"].includes(box.dataset.status)) {
    const bar = document.getElementById("batch-bar");
    const text = document.getElementById("batch-text");
    const downloads = document.getElementById("batch-downloads");
    const tr = (key, values) => {
      let s = script.dataset[key] || "";
      for (const [k, v] of Object.entries(values)) s = s.replace(k, String(v));
      return s;
    };
    const timer = setInterval(async () => {
      let st;
      try {
        const r = await fetch(box.dataset.statusUrl, {headers: {Accept: "application/json"}});
        if (!r.ok) return;
        st = await r.json();
      } catch (e) { return; }
      bar.max = st.total; bar.value = st.done;
      if (st.status === "done") {
        clearInterval(timer);
        text.textContent = tr("i18nDone", {});
        downloads.hidden = false;
        location.reload();  // show the list of letters
      } else if (st.status === "failed") {
        clearInterval(timer);
        text.textContent = tr("i18nFailed", {});
      } else {
        let s = tr("i18nProgress", {"9999": st.done, "8888": st.total});
        if (st.eta_seconds !== null) s += " · " + tr("i18nEta", {"7777": st.eta_seconds});
        text.textContent = s;
      }
    }, 1000);
  }
  const form = document.getElementById("texts-form");
  const button = document.getElementById("preview-button");
  if (form && button) {
    let timer = null;
    const refresh = () => form.requestSubmit(button);
    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 700); });
    refresh();
  }
})();
