// Custody forms: the scan field waits for the scanner's keystrokes, and the second person's fields
// show only for the handoffs that need them. Without this script the forms still post; the server
// decides whether a second person is needed.
(() => {
  "use strict";
  function secondPerson(form) {
    const kind = form.querySelector("[data-handoff-kind]");
    const fields = form.querySelector("[data-critical-only]");
    if (!kind || !fields) return;
    const critical = kind.selectedOptions[0] && kind.selectedOptions[0].dataset.critical === "true";
    fields.hidden = !critical;
    fields.querySelectorAll("input").forEach((input) => { input.required = critical; });
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-handoff-kind]")) secondPerson(event.target.form);
  });

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form").forEach(secondPerson);
    const next = document.querySelector("[data-focus-first]");
    if (next && document.activeElement === document.body) next.focus();
    const message = document.querySelector("#refusal, .verified-message");
    if (message) message.scrollIntoView({ block: "nearest" });
  });
})();
