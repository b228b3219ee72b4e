"use strict";
// Filters live in location.hash (#severity=critical&status=fail&area=winrm&q=fs01) so a
// filtered view can be bookmarked or shared. Nothing here builds markup from data:
// only `hidden`, `open` and text are set.
(() => {
  const keys = ["severity", "status", "area", "q"];
  const controls = new Map(keys.map((key) => [key, document.getElementById("filter-" + key)]));
  const groups = [...document.querySelectorAll("[data-group]")];
  // A rule's table of failing targets goes too when none of its rows is left.
  const tables = [...document.querySelectorAll("details.hits")];
  const noMatch = document.getElementById("no-match");
  const count = document.getElementById("filter-count");
  const opened = new Set();

  // Rows fall back to their group's severity and area; search covers the group's heading too.
  const rows = [];
  for (const group of groups) {
    const head = group.querySelector("[data-search]");
    const prefix = head ? head.textContent : "";
    for (const row of group.querySelectorAll("[data-status]")) {
      rows.push({
        row,
        group,
        table: row.closest("details.hits"),
        severity: row.dataset.severity || group.dataset.severity || "",
        area: row.dataset.area || group.dataset.area || "",
        text: [prefix, row.textContent, row.dataset.target || ""].join(" ").toLowerCase(),
      });
    }
  }

  const readHash = () => {
    const params = new URLSearchParams(location.hash.slice(1));
    return Object.fromEntries(keys.map((key) => [key, (params.get(key) || "").trim()]));
  };
  const readControls = () =>
    Object.fromEntries(keys.map((key) => [key, controls.get(key).value.trim()]));
  const setControls = (state) => {
    for (const key of keys) controls.get(key).value = state[key] || "";
  };
  const writeHash = (state) => {
    const params = new URLSearchParams();
    for (const key of keys) if (state[key]) params.set(key, state[key]);
    const hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  };

  const openAround = (row, group) => {
    for (let el = row; el && el !== group.parentElement; el = el.parentElement) {
      if (el.tagName === "DETAILS" && !el.open) {
        el.open = true;
        opened.add(el);
      }
    }
  };

  const apply = (state) => {
    for (const el of opened) el.open = false;
    opened.clear();
    const q = state.q.toLowerCase();
    const active = keys.some((key) => state[key]);
    const matches = (want, have) => !want || !have || want === have;
    const visible = new Set();
    const visibleTables = new Set();
    let shown = 0;
    for (const item of rows) {
      const ok =
        matches(state.severity, item.severity) &&
        matches(state.status, item.row.dataset.status) &&
        matches(state.area, item.area) &&
        (!q || item.text.includes(q));
      item.row.hidden = !ok;
      if (!ok) continue;
      shown += 1;
      visible.add(item.group);
      visibleTables.add(item.table);
      if (active) openAround(item.row, item.group);
    }
    for (const group of groups) group.hidden = active && !visible.has(group);
    for (const table of tables) table.hidden = active && !visibleTables.has(table);
    noMatch.hidden = !active || visible.size > 0;
    count.value = active ? `${shown} of ${rows.length} rows` : "";
  };

  const fromHash = () => {
    setControls(readHash());
    // Read back: a value no <select> offers becomes "any" instead of hiding everything.
    apply(readControls());
  };
  const fromControls = () => {
    const state = readControls();
    writeHash(state);
    apply(state);
  };

  let typing = 0;
  for (const [key, control] of controls) {
    control.addEventListener("input", () => {
      clearTimeout(typing);
      typing = setTimeout(fromControls, key === "q" ? 150 : 0);
    });
  }
  document.getElementById("filter-clear").addEventListener("click", () => {
    setControls({});
    fromControls();
  });
  window.addEventListener("hashchange", fromHash);

  const flash = (button, text) => {
    button.textContent = text;
    setTimeout(() => {
      button.textContent = "Copy";
    }, 1500);
  };
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const code = button.parentElement.querySelector("code");
      const selectCode = () => {
        const range = document.createRange();
        range.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        flash(button, "Press Ctrl+C");
      };
      if (!navigator.clipboard) {
        selectCode();
        return;
      }
      navigator.clipboard.writeText(code.textContent).then(() => flash(button, "Copied"), selectCode);
    });
  }

  fromHash();
})();
