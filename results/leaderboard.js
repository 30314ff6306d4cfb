// regclip-bench leaderboard: sortable tables (a cell's data-sort, else its number, else its text),
// task and workload filters, and views a link can carry (#task=…&workload=…, #sort=N or #sort=N-desc).
document.querySelectorAll('table.sortable').forEach(table => table.querySelectorAll('th').forEach(th => {
  th.onclick = () => {
    const i = +th.dataset.col, tb = table.tBodies[0], rows = [...tb.rows];
    const asc = th.dataset.asc !== '1';
    th.dataset.asc = asc ? '1' : '0';
    const key = r => {
      const cell = r.cells[i], given = cell.dataset.sort;
      const n = parseFloat(given !== undefined ? given : cell.innerText);
      return isNaN(n) ? cell.innerText : n;
    };
    rows.sort((a, b) => { const x = key(a), y = key(b); return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
    rows.forEach(r => tb.appendChild(r));
  };
}));
const picks = {task: document.getElementById('f-task'), workload: document.getElementById('f-workload')};
const apply = () => document.querySelectorAll('table.sortable tbody tr').forEach(r => {
  r.hidden = Object.entries(picks).some(([k, s]) => s && s.value && r.dataset[k] !== s.value);
});
Object.values(picks).forEach(s => s && (s.onchange = apply));
const hash = new URLSearchParams(location.hash.slice(1));
Object.entries(picks).forEach(([k, s]) => { if (s && hash.get(k) !== null) s.value = hash.get(k); });
apply();
const m = location.hash.match(/sort=(\d+)(-desc)?/);
if (m) {
  const th = document.querySelector(`#board th[data-col='${m[1]}']`);
  if (th) { th.click(); if (m[2]) th.click(); }
}
