// The triage inbox's keyboard and live updates. No inline script: the CSP only allows /static.
// Keys: j/k move, x selects, a acknowledges, r resolves, e opens (the selected rows when any are
// selected, else the current row). On an alert's page, a and r press its Acknowledge / Resolve.
(function () {
  "use strict";

  let currentKey = null;

  function rows() {
    return Array.from(document.querySelectorAll("tr.inbox-row"));
  }

  function current() {
    return currentKey ? document.getElementById(currentKey) : null;
  }

  function select(row) {
    rows().forEach((r) => r.classList.remove("current"));
    if (!row) return;
    row.classList.add("current");
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    currentKey = row.id;
  }

  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(current());
    const next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + step));
    select(all[next]);
  }

  function anySelected() {
    return document.querySelector("input[name='rows']:checked") !== null;
  }

  function act(action) {
    if (anySelected()) {
      const bulk = document.querySelector("#bulk button[name='action'][value='" + action + "']");
      if (bulk) bulk.click();
      return;
    }
    const row = current();
    if (row) {
      const button = row.querySelector("button[name='target'][value^='" + action + ":']");
      if (button) button.click();
      return;
    }
    const single = document.getElementById("act-" + action);
    if (single) single.click();
  }

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const handlers = {
      j: () => move(1),
      k: () => move(-1),
      x: () => {
        const box = current() && current().querySelector("input[name='rows']");
        if (box) box.checked = !box.checked;
      },
      a: () => act("ack"),
      r: () => act("resolve"),
      e: () => {
        const row = current();
        if (row && row.dataset.href) window.location.assign(row.dataset.href);
      },
    };
    const handler = handlers[event.key];
    if (handler) {
      event.preventDefault();
      handler();
    }
  });

  // A refresh would clear the selection someone is making: skip it until they act or clear it.
  document.addEventListener("htmx:beforeRequest", (event) => {
    const source = event.detail && event.detail.elt;
    if (source && source.id === "alert-table" && anySelected()) event.preventDefault();
  });

  // Keep the keyboard position across refreshes when the row is still there.
  document.addEventListener("htmx:afterSwap", () => {
    const row = current();
    if (row) row.classList.add("current");
  });
})();
