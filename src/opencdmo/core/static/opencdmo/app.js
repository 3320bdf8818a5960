// Tabs, the signature dialog and sortable tables: the little the pages need beyond HTMX.
document.addEventListener("click", (event) => {
  const tab = event.target.closest("[role=tab]");
  if (tab) {
    tab.parentElement.querySelectorAll("[role=tab]").forEach((t) => t.setAttribute("aria-selected", t === tab));
    document.querySelectorAll(".tab-panel").forEach((p) => { p.hidden = p.id !== "tab-" + tab.dataset.tab; });
  }
  const th = event.target.closest("table.sortable thead th");
  if (th) sortTable(th);
});

document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target.id === "dialog-body") {
    const dialog = document.getElementById("dialog");
    if (!dialog.open) dialog.showModal();
    const first = dialog.querySelector("[autofocus], input:not([type=hidden])");
    if (first) first.focus();
  }
});

function sortTable(th) {
  const table = th.closest("table");
  const index = Array.from(th.parentElement.children).indexOf(th);
  const ascending = th.getAttribute("aria-sort") !== "ascending";
  table.querySelectorAll("thead th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows).filter((r) => r.cells.length > index);
  rows.sort((a, b) => {
    const x = a.cells[index].innerText.trim(), y = b.cells[index].innerText.trim();
    return (ascending ? 1 : -1) * x.localeCompare(y, undefined, { numeric: true });
  });
  rows.forEach((r) => body.appendChild(r));
}

// Mark sortable headers so the arrow shows.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable thead th").forEach((th) => th.setAttribute("aria-sort", "none"));
});
