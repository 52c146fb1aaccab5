// Click a column header to sort its table; cells carry their sort value in data-value.
// Rows are only moved, never rebuilt from strings, so nothing a submitter wrote is ever parsed as HTML.
(function () {
  "use strict";
  function sortTable(table, col, type, dir) {
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (row) => {
      const v = row.cells[col].dataset.value || "";
      return type === "number" ? parseFloat(v) : v.toLowerCase();
    };
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return dir === "ascending" ? c : -c;
    });
    rows.forEach((r) => body.appendChild(r));
  }
  function setup(table) {
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach((th, col) => {
      const button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", () => {
        const type = th.dataset.type || "text";
        const first = type === "number" && col !== 0 ? "descending" : "ascending";
        const cur = th.getAttribute("aria-sort");
        const dir = cur === first ? (first === "ascending" ? "descending" : "ascending") : first;
        heads.forEach((h) => h.setAttribute("aria-sort", "none"));
        th.setAttribute("aria-sort", dir);
        sortTable(table, col, type, dir);
      });
    });
  }
  // One board per benchmark: with several, the tabs show one at a time (without script every board shows).
  // The open board is the one the address names (#board-...), else the one holding a new submission, else the first.
  function setupTabs() {
    const tabs = Array.from(document.querySelectorAll("nav.tabs [role=tab]"));
    if (!tabs.length) return;
    const panels = tabs.map((t) => document.getElementById(t.dataset.board));
    const show = (id) => {
      tabs.forEach((t, i) => {
        const on = t.dataset.board === id;
        t.setAttribute("aria-selected", on ? "true" : "false");
        panels[i].hidden = !on;
      });
    };
    const known = (id) => tabs.some((t) => t.dataset.board === id);
    const fromHash = () => decodeURIComponent(location.hash.slice(1));
    const fresh = document.querySelector("section.board tr.new");
    const start = known(fromHash()) ? fromHash() : fresh ? fresh.closest("section.board").id : tabs[0].dataset.board;
    show(start);
    tabs.forEach((t) => t.addEventListener("click", (e) => {
      e.preventDefault();
      show(t.dataset.board);
      history.replaceState(null, "", "#" + t.dataset.board);
    }));
    window.addEventListener("hashchange", () => { if (known(fromHash())) show(fromHash()); });
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("table.sortable").forEach(setup);
    setupTabs();
  });
})();
