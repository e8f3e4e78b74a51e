// Search-as-you-type donor picker: arrow keys move, Enter picks, Escape closes.
// Answers can come back out of order when typing fast: only the answer to the latest
// request is shown, and Enter picks only from results for the text as it is now; when
// they are not there yet, Enter searches at once and a second Enter picks.
(function () {
  const input = document.getElementById("donor-search");
  const list = document.getElementById("donor-results");
  const chosen = document.getElementById("chosen-donors");
  if (!input || !list || !chosen) return;
  let active = -1, timer = null, items = [];
  let itemsFor = null;  // the search text the shown results answer
  let sent = 0;  // requests made; an answer to an older one is dropped
  const current = () => input.value.trim();
  function render() {
    list.replaceChildren(...items.map((d, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.textContent = d.name_en + (d.name_km ? " · " + d.name_km : "") +
        (d.city ? " (" + d.city + ")" : "");
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); pick(d); });
      return li;
    }));
  }
  function pick(d) {
    if (chosen.querySelector('input[name="donor_ids"][value="' + d.id + '"]')) return;
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox"; box.name = "donor_ids"; box.value = d.id; box.checked = true;
    label.append(box, " " + d.name_en);
    const shareLabel = document.createElement("label");
    shareLabel.className = "share";
    const share = document.createElement("input");
    share.name = "shares"; share.size = 10; share.inputMode = "decimal";
    share.setAttribute("aria-label", "Share of " + d.name_en);
    shareLabel.append("share ", share);
    li.append(label, shareLabel);
    chosen.append(li);
    input.value = ""; items = []; itemsFor = null; active = -1; render();
    const amount = document.getElementById("f-amount");
    if (amount) amount.focus();
  }
  async function search(q) {
    const mine = ++sent;
    if (!q) { items = []; itemsFor = ""; active = -1; render(); return; }
    let found;
    try {
      const res = await fetch(input.dataset.url + "?q=" + encodeURIComponent(q),
        { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      found = await res.json();
    } catch (e) { return; }
    if (mine !== sent || q !== current()) return;  // stale: the text has changed since
    items = found; itemsFor = q; active = items.length ? 0 : -1; render();
  }
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(current()), 150);
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") { active = Math.min(active + 1, items.length - 1); render(); ev.preventDefault(); }
    else if (ev.key === "ArrowUp") { active = Math.max(active - 1, 0); render(); ev.preventDefault(); }
    else if (ev.key === "Enter" && current()) {
      ev.preventDefault();  // never submit the gift from the search box
      if (itemsFor === current() && items.length) pick(items[Math.max(active, 0)]);
      else { clearTimeout(timer); search(current()); }
    }
    else if (ev.key === "Escape") { items = []; itemsFor = null; render(); }
  });
})();
