// The status page: the report is fetched again every few seconds and replaces the old one in
// place (no reload); operators replay a dead letter with its button (the page's anti-forgery
// header goes with the request).
(() => {
  "use strict";
  const report = document.getElementById("report");
  const stamp = document.getElementById("refreshed");
  const notice = document.getElementById("status-notice");
  const config = JSON.parse(document.getElementById("status-config").textContent);
  const every = Number(report.dataset.refresh || 2) * 1000;
  window.vidcurateRefreshes = 0;

  const csrf = () => window.vidcurateCsrf(config.cookie);

  async function refresh() {
    try {
      const response = await fetch("/status/report", { credentials: "same-origin" });
      if (response.ok) {
        report.innerHTML = await response.text();
        stamp.textContent = new Date().toLocaleTimeString();
        window.vidcurateRefreshes += 1;
      } else {
        notice.textContent = `The status could not be refreshed (HTTP ${response.status}).`;
      }
    } catch (error) {
      notice.textContent = "The status could not be refreshed: is the app still running?";
    }
    setTimeout(refresh, every);
  }

  report.addEventListener("click", async (event) => {
    const button = event.target.closest("button.replay");
    if (!button) return;
    button.disabled = true;
    const response = await fetch("/api/status/replay", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", [config.header]: csrf() },
      body: JSON.stringify({ function: button.dataset.function, message_id: button.dataset.message }),
    });
    const answer = await response.json().catch(() => ({}));
    notice.textContent = response.ok
      ? `Replayed ${button.dataset.message} to ${button.dataset.function}.`
      : `Not replayed: ${answer.error || response.status}`;
  });

  setTimeout(refresh, every);
})();
