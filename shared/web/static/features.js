// A feature run's page while the run goes: its progress is fetched again every few seconds
// (/api/features/<run>, JSON) and the numbers are replaced in place, without a reload. When
// the run ends (or a new group of tasks starts) the page is loaded once more, whole.
(() => {
  "use strict";
  const root = document.getElementById("run-live");
  if (!root || root.dataset.live !== "yes") return;
  const run = root.dataset.run;
  const every = Number(root.dataset.refresh || 5) * 1000;
  const stamp = document.getElementById("refreshed");
  const notice = document.getElementById("run-notice");
  const LIVE = ["running", "waiting", "not started"];
  window.vidcurateRefreshes = 0;

  const text = (el, value) => {
    const shown = value === null || value === undefined ? "—" : String(value);
    if (el && el.textContent !== shown) el.textContent = shown;
  };
  const when = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : "—");
  const setKey = (s) => `${Object.keys(s.extractors).join(",")}/${s.tasks}`;

  function state(p) {
    const word = document.getElementById("run-state-word");
    const label = p.state.charAt(0).toUpperCase() + p.state.slice(1);
    // The state is announced (role=status) only when its words change.
    if (word.textContent !== label) word.textContent = label;
    text(document.getElementById("run-state-detail"), `: ${p.summary}`);
  }

  function extractors(p) {
    for (const e of p.extractors) {
      const row = root.querySelector(`tr[data-extractor="${CSS.escape(e.extractor)}"]`);
      if (!row) continue;
      for (const field of ["done", "failed", "left"]) {
        text(row.querySelector(`[data-field="${field}"]`), e[field]);
      }
      const bar = row.querySelector("progress");
      bar.value = e.done || 0;
      bar.setAttribute("aria-label", `${e.extractor}: ${e.done || 0} of ${p.run.videos} videos done`);
    }
  }

  function tasks(p) {
    for (const s of p.task_sets) {
      const table = root.querySelector(`table[data-set="${CSS.escape(setKey(s))}"]`);
      if (!table) return false;
      text(table.querySelector("caption [data-field=state]"), s.state);
      text(table.querySelector("caption [data-field=seen]"), s.seen);
      for (const t of s.rows) {
        const row = table.querySelector(`tr[data-task="${t.task}"]`);
        if (!row) continue;
        for (const field of ["seen", "computed", "already_done", "failed", "skipped_failed"]) {
          text(row.querySelector(`[data-field="${field}"]`), t[field]);
        }
        text(row.querySelector("[data-field=state]"), t.error ? `${t.state} ${t.error}` : t.state);
        text(row.querySelector("[data-field=updated]"), when(t.updated));
      }
    }
    return true;
  }

  function failures(p) {
    const body = document.getElementById("failures-body");
    const rows = p.failures.map((f) => {
      const tr = document.createElement("tr");
      const object = document.createElement("code");
      object.textContent = f.object;
      const cells = [object, f.reason, f.extractors.join(", "), when(f.at)];
      for (const cell of cells) {
        const td = document.createElement("td");
        if (typeof cell === "string") td.textContent = cell;
        else td.append(cell);
        tr.append(td);
      }
      return tr;
    });
    if (body.children.length !== rows.length) body.replaceChildren(...rows);
    else rows.forEach((tr, i) => {
      if (body.children[i].textContent !== tr.textContent) body.children[i].replaceWith(tr);
    });
    body.closest("table").hidden = rows.length === 0;
    document.getElementById("failures-none").hidden = rows.length !== 0;
    document.getElementById("failures-more").hidden = p.failures_complete;
  }

  async function refresh() {
    try {
      const response = await fetch(`/api/features/${encodeURIComponent(run)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        notice.textContent = `Not refreshed: ${answer.error || `HTTP ${response.status}`}`;
      } else {
        const p = await response.json();
        notice.textContent = "";
        state(p);
        extractors(p);
        failures(p);
        if (!tasks(p) || !LIVE.includes(p.state)) {
          window.location.reload(); // a new group of tasks, or the end: the whole page again
          return;
        }
        if (stamp) stamp.textContent = new Date().toISOString().slice(11, 19);
        text(document.getElementById("run-updated"), when(p.updated));
        window.vidcurateRefreshes += 1;
      }
    } catch (error) {
      notice.textContent = "Not refreshed: is the app still running?";
    }
    setTimeout(refresh, every);
  }

  setTimeout(refresh, every);
})();
