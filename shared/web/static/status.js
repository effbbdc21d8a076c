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
        const html = await response.text();
        // A keyboard user keeps their place: the focused link or button is focused again
        // in the new report (or the report itself, if it is gone).
        const focused = report.contains(document.activeElement) ? document.activeElement : null;
        const key = focused && (focused.dataset.message || focused.getAttribute("href"));
        // What a reader opened stays open (a dead letter being inspected).
        const opened = new Set(
          [...report.querySelectorAll("details[open]")].map((el) => el.dataset.message || el.id),
        );
        report.innerHTML = html;
        for (const el of report.querySelectorAll("details")) {
          if (opened.has(el.dataset.message || el.id)) el.open = true;
        }
        if (focused) {
          const again = [...report.querySelectorAll("a, button")].find(
            (el) => (el.dataset.message || el.getAttribute("href")) === key,
          );
          (again || report).focus();
        }
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
    const retry = event.target.closest("button.retry");
    if (retry) {
      retry.disabled = true;
      const response = await fetch("/api/status/critiques/retry", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [config.header]: csrf() },
        body: JSON.stringify({ export_folder: retry.dataset.run }),
      });
      const answer = await response.json().catch(() => ({}));
      notice.textContent = response.ok
        ? `Asked for another run of ${retry.dataset.run}: it is planned by the critique functions.`
        : `Not run again: ${answer.error || response.status}`;
      return;
    }
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
