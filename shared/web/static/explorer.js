// A clip's page: ask what describing its frames would cost, then (operators) start it and
// watch the clip's cost and descriptions grow as the frames are described.
(() => {
  "use strict";
  const config = JSON.parse(document.getElementById("clip-config").textContent);
  const $ = (id) => document.getElementById(id);
  const result = $("estimate-result");
  const analyze = $("analyze");
  let asked = null; // the estimate shown, what "Describe" confirms

  const csrf = () => window.vidcurateCsrf(config.cookie);

  function choice() {
    return { prompt: $("prompt").value, model: $("model").value.trim() || null };
  }

  $("estimate").addEventListener("click", async () => {
    const { prompt, model } = choice();
    const query = new URLSearchParams({ prompt, ...(model ? { model } : {}) });
    const response = await fetch(`/api/clips/${config.clip}/estimate?${query}`, { credentials: "same-origin" });
    const answer = await response.json();
    if (!response.ok) {
      result.textContent = answer.error || `HTTP ${response.status}`;
      asked = null;
      if (analyze) analyze.disabled = true;
      return;
    }
    asked = answer;
    const price = answer.offline
      ? `$0 (offline; $${answer.list_price_usd.toFixed(5)} at list price)`
      : `about $${answer.estimated_cost_usd.toFixed(5)}`;
    result.textContent = `${answer.frames} frame(s) to describe with ${answer.model}: ${price}.`;
    if (analyze) {
      analyze.disabled = answer.frames === 0;
      analyze.textContent = `Describe for ${price}`;
    }
  });

  async function follow(before, tries) {
    const response = await fetch(`/api/clips/${config.clip}`, { credentials: "same-origin" });
    if (response.ok) {
      const data = await response.json();
      const current = data.analyses.filter((a) => a.generation === data.clip.generation);
      const cost = current.reduce((sum, a) => sum + a.cost_usd, 0);
      const frames = current.reduce((sum, a) => sum + a.frames.length, 0);
      const tokens = current.reduce(
        (sum, a) => sum + a.frames.reduce((t, f) => t + f.input_tokens + f.output_tokens, 0), 0);
      $("cost").textContent = `${current.length} analysis(es), ${tokens} tokens, $${cost.toFixed(5)}`;
      $("cost").dataset.cost = String(cost);
      $("cost").dataset.frames = String(frames);
      if (frames > before && current.every((a) => a.status !== "running")) return;
    }
    if (tries > 0) setTimeout(() => follow(before, tries - 1), 1000);
  }

  if (analyze) {
    analyze.addEventListener("click", async () => {
      if (!asked) return;
      analyze.disabled = true;
      const response = await fetch(`/api/clips/${config.clip}/analyze`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [config.header]: csrf() },
        body: JSON.stringify(choice()),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) {
        result.textContent = `Not started: ${answer.error || response.status}`;
        return;
      }
      result.textContent = `Started by ${answer.by}: the cost below grows as frames are described.`;
      follow(Number($("cost").dataset.frames || 0), 120);
    });
  }
})();
