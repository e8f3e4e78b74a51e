// The contribution form's live base value ("= $365.60") and the last rate used for the
// currency typed. The server reads the numbers (ceroc_donations/money.py, the same rule as
// on saving), so what is shown is what will be stored. Without JavaScript the page shows
// the same after each submit.
(function () {
  const out = document.getElementById("base-value");
  const amount = document.getElementById("f-amount");
  const currency = document.getElementById("f-currency");
  const rate = document.getElementById("f-exchange_rate");
  if (!out || !amount || !currency || !rate) return;
  const problem = document.getElementById("money-problem");
  const last = document.getElementById("last-rate");
  const lastText = document.getElementById("last-rate-text");
  const use = document.getElementById("use-last-rate");
  let timer = null, sent = 0;

  function showLast(info) {
    if (!last) return;
    last.hidden = !info;
    rate.placeholder = info ? info.rate : "";
    if (info) {
      lastText.textContent = info.text;
      use.dataset.rate = info.rate;
    }
  }

  async function refresh() {
    const mine = ++sent;
    const query = new URLSearchParams({
      amount: amount.value, currency: currency.value, exchange_rate: rate.value,
    });
    let data;
    try {
      const res = await fetch(out.dataset.url + "?" + query,
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!res.ok) return;
      data = await res.json();
    } catch (e) { return; }
    if (mine !== sent) return;  // an answer to older text: a newer request is on its way
    out.textContent = data.text;
    const problems = data.problems || {};
    if (problem) problem.textContent = problems.amount || problems.exchange_rate || "";
    showLast(data.last_rate);
  }

  function later() { clearTimeout(timer); timer = setTimeout(refresh, 200); }
  [amount, currency, rate].forEach((el) => el.addEventListener("input", later));
  if (use) {
    use.hidden = false;
    use.addEventListener("click", () => { rate.value = use.dataset.rate; rate.focus(); refresh(); });
  }
})();
