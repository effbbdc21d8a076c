// What every page's charts share (loaded after chart.umd.min.js, before the page's script):
// the look (colours dark enough for 3:1 against white, the WCAG non-text contrast; no
// animation, so nothing moves for a reader or a test), the page's embedded numbers, and
// drawing on a canvas that may be absent.
(function () {
  "use strict";
  const palette = ["#0b57d0", "#b3261e", "#146c2e", "#8a4b00", "#6f2da8", "#00696b", "#5f6368", "#a8005a"];
  if (typeof Chart !== "undefined") {
    Chart.defaults.color = "#1a1a1a";
    Chart.defaults.font.family = "system-ui, sans-serif";
    Chart.defaults.animation = false;
  }
  window.vidcurateCharts = {
    palette,
    colour: (i) => palette[i % palette.length],
    usd: (v) => "$" + Number(v).toFixed(4),
    // The JSON a page embeds in <script type="application/json" id=...>, or null.
    data(id) {
      const node = document.getElementById(id);
      return node && typeof Chart !== "undefined" ? JSON.parse(node.textContent) : null;
    },
    draw(id, config) {
      const canvas = document.getElementById(id);
      return canvas ? new Chart(canvas, config) : null;
    },
  };
})();
