// nextoffer dashboard: the rule editor's live validation (the only script; pages work without it).
// As you type, the trigger goes to the rule language's own checker; each problem is shown at its
// place (line, column and the text with a caret under it) and is a button that selects that text.
(function () {
  "use strict";
  const field = document.querySelector("textarea[data-validate]");
  if (!field) return;
  const out = document.getElementById("trigger-check");
  const offers = document.getElementById("offers");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let timer = null;
  let asked = 0;

  function show(result) {
    out.replaceChildren();
    const problems = result.diagnostics.concat(result.errors.map((e) => ({ message: e.field + ": " + e.message })));
    field.setAttribute("aria-invalid", result.diagnostics.length ? "true" : "false");
    if (offers) offers.setAttribute("aria-invalid", result.errors.length ? "true" : "false");
    if (!problems.length) {
      const ok = document.createElement("p");
      ok.className = "ok";
      ok.textContent = "✓ valid: " + result.text;
      out.append(ok);
      return;
    }
    for (const d of problems) {
      const item = document.createElement("button");
      item.type = "button";
      item.className = "diagnostic";
      const head = document.createElement("span");
      head.textContent = (d.line ? "line " + d.line + ", column " + d.column + ": " : "") + d.message;
      item.append(head);
      if (d.rendered && d.line) {
        const pre = document.createElement("pre");
        pre.textContent = d.rendered.split("\n").slice(1).join("\n");
        item.append(pre);
      }
      if (d.start !== null && d.start !== undefined) {
        item.title = "Select the offending text";
        item.addEventListener("click", () => {
          field.focus();
          field.setSelectionRange(d.start, Math.max(d.end, d.start + 1));
        });
      }
      out.append(item);
    }
  }

  async function check() {
    const ticket = ++asked;
    try {
      const response = await fetch(field.dataset.validate, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        credentials: "same-origin",
        body: JSON.stringify({ trigger: field.value, offers: offers ? offers.value : null }),
      });
      if (ticket !== asked) return; // a newer check is on its way
      if (!response.ok) {
        out.textContent = "Could not check (" + response.status + ").";
        return;
      }
      show(await response.json());
    } catch (err) {
      if (ticket === asked) out.textContent = "Could not check: " + err;
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  }
  field.addEventListener("input", later);
  if (offers) offers.addEventListener("input", later);
  if (field.value.trim()) check();
})();
