"""What the report page carries besides its content: its style sheet and its one script.

The script reads the page only through ``dataset`` and ``textContent`` (a record's search text is its row's) and
writes only ``textContent`` (see
``qconform.report.render_html``, whose Content-Security-Policy admits it by hash). A matrix cell, clicked or
entered, filters the records table to its method, environment and, when it names them, family and text.
"""

from __future__ import annotations

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em;color:#1b1b1b}
h1{font-size:1.6em;margin:.2em 0}h2{margin-top:1.6em;border-bottom:1px solid #ddd}h3{margin-bottom:.3em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #d0d0d0;padding:.25em .5em;text-align:left;
vertical-align:top}thead th{background:#f3f3f3;position:sticky;top:0}
table.sortable thead th{cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.cell{cursor:pointer;white-space:nowrap}td.cell .why{display:block;font-size:.8em;color:#555;max-width:22em;
white-space:normal}.cell.passed{background:#e3f4e6}.cell.partly{background:#fff3c4}.cell.failed{background:#fbdad7}
.cell.known{background:#fff3c4}
.cell.unsupported,.cell.not_installed,.cell.needs_network,.cell.not_applicable{background:#ececec;color:#444}.cell.not_run{color:#999}td.cell.not_run{text-align:center}
.legend span.cell{padding:0 .3em;border:1px solid #d0d0d0}
tr.differs th,tr.differs td{background:#fff8dc}.missing{color:#999}
.filters{display:flex;flex-wrap:wrap;gap:.8em;align-items:center;margin:.5em 0}
td.outcome.failed,td.outcome.error,td.outcome.crashed,td.outcome.timeout,td.outcome.broken{color:#b3261e;
font-weight:600}td.outcome.passed{color:#1e7b34}td.outcome.xfailed{color:#8a6d00}td.params{font-family:monospace}
#records-table{width:100%}#records-table td:last-child{min-width:28em;max-width:45vw}
details pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f7f7f7;padding:.4em;overflow:auto}
details summary{cursor:pointer;max-width:40em}details h4{margin:.5em 0 .1em}.measured{font-family:monospace}
figure img{max-width:100%;border:1px solid #ddd}nav a{margin:0 .2em}
"""

SCRIPT = """
(function () {
  "use strict";
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
  }
  function sortBy(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = rows.every(function (r) { var v = cellValue(r, index); return v === "" || !isNaN(Number(v)); });
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
      return ascending ? c : -c;
    });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.addEventListener("click", function () { sortBy(table, index, th); });
    });
  });

  var methods = document.getElementById("filter-methods");
  methods.addEventListener("input", function () {
    var needle = methods.value.trim().toLowerCase();
    document.querySelectorAll("table.matrix tbody tr").forEach(function (row) {
      row.hidden = needle !== "" && row.dataset.method.toLowerCase().indexOf(needle) < 0;
    });
  });

  var controls = {
    text: document.getElementById("filter-text"),
    target: document.getElementById("filter-target"),
    family: document.getElementById("filter-family"),
    column: document.getElementById("filter-column"),
    outcome: document.getElementById("filter-outcome")
  };
  var problems = ["failed", "error", "crashed", "timeout", "broken"];
  var records = Array.prototype.slice.call(document.querySelectorAll("#records-table tbody tr"));
  var texts = records.map(function (row) { return row.textContent.toLowerCase(); });
  var count = document.getElementById("filter-count");
  function outcomeMatches(wanted, outcome) {
    if (wanted === "") return true;
    if (wanted === "not-passed") return outcome !== "passed";
    if (wanted === "problems") return problems.indexOf(outcome) >= 0;
    return wanted === outcome;
  }
  function applyFilters() {
    var needle = controls.text.value.trim().toLowerCase();
    var shown = 0;
    records.forEach(function (row, index) {
      var d = row.dataset;
      var visible = (needle === "" || texts[index].indexOf(needle) >= 0) &&
        (controls.target.value === "" || d.target === controls.target.value) &&
        (controls.family.value === "" || d.family === controls.family.value) &&
        (controls.column.value === "" || d.column === controls.column.value) &&
        outcomeMatches(controls.outcome.value, d.outcome);
      row.hidden = !visible;
      if (visible) shown += 1;
    });
    count.textContent = shown + " of " + records.length + " records shown";
  }
  Object.keys(controls).forEach(function (name) {
    controls[name].addEventListener(name === "text" ? "input" : "change", applyFilters);
  });
  function showRecordsOf(cell) {
    controls.text.value = cell.dataset.text || "";
    controls.target.value = cell.dataset.target;
    controls.family.value = cell.dataset.family || "";
    controls.column.value = cell.dataset.column;
    controls.outcome.value = "";
    applyFilters();
    document.getElementById("records").scrollIntoView();
  }
  document.querySelectorAll("td.cell").forEach(function (cell) {
    cell.addEventListener("click", function () { showRecordsOf(cell); });
    cell.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); showRecordsOf(cell); }
    });
  });
  applyFilters();
})();
"""
