// The operator screen: offline-safe submission and the limit preview. Without this script the
// plain form posts still work; the server stays the judge of every value.
(() => {
  "use strict";
  const OUTBOX = "opencdmo.batches.outbox";
  const RETRY_MS = 5000;
  let retryTimer = null;

  // --- Offline-safe submission -------------------------------------------------------------
  // Each form carries a submission_id made by the server when it rendered the form: a retried
  // post finds the row the first one made, so a lost answer never duplicates an entry.

  const allItems = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
  // An entry is sent only in the session of the person who made it: never attributed to the next user.
  const currentUser = () => (document.querySelector("[data-user]") || { dataset: {} }).dataset.user || "";
  const outbox = () => allItems().filter((i) => i.user === currentUser());
  const othersItems = () => allItems().filter((i) => i.user !== currentUser());
  const saveOutbox = (items) => localStorage.setItem(OUTBOX, JSON.stringify([...othersItems(), ...items]));

  function status(text, kind) {
    const box = document.getElementById("submission-status");
    if (!box) return;
    box.textContent = text;
    box.className = "submission-status " + (kind || "");
    box.hidden = !text;
  }

  function showPage(html, url) {
    const next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
    const main = document.getElementById("main");
    if (!next || !main) { window.location.assign(url); return; }
    main.innerHTML = next.innerHTML;
    if (url && url !== window.location.href) history.replaceState(null, "", url);
    settle();
  }

  async function send(item) {
    const body = new URLSearchParams(item.fields);
    const response = await fetch(item.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { "X-Offline-Safe": "1", "Accept": "text/html" },
    });
    return { html: await response.text(), url: response.url, ok: response.ok };
  }

  function pending(count) {
    const waiting = document.getElementById("outbox-count");
    if (waiting) waiting.textContent = count ? `${count} waiting` : "";
  }

  async function flush() {
    clearTimeout(retryTimer);
    let items = outbox();
    for (const item of items) {
      let answer;
      try {
        answer = await send(item);
      } catch (_networkDown) {
        status("Waiting for network — will retry. Nothing is lost.", "waiting");
        pending(outbox().length);
        retryTimer = setTimeout(flush, RETRY_MS);
        return;
      }
      // Answered (stored, or refused with a reason): it leaves the outbox either way.
      items = outbox().filter((i) => i.id !== item.id);
      saveOutbox(items);
      if (item.page === window.location.pathname) showPage(answer.html, answer.url);
      pending(items.length);
      status(answer.ok ? "Saved." : "The server refused it: see the message below.", answer.ok ? "saved" : "refused");
    }
  }

  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-offline-safe]");
    if (!form || !window.fetch || event.defaultPrevented) return;
    event.preventDefault();
    const fields = Array.from(new FormData(form).entries()).filter(([, v]) => typeof v === "string");
    const submission = fields.find(([k]) => k === "submission_id");
    const item = { id: submission ? submission[1] : String(Date.now()), action: form.action, fields,
                   page: window.location.pathname, user: currentUser() };
    // A signature's password is never kept in the browser: such a form is sent now or not at all.
    const secret = form.querySelector("input[type=password]");
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    status("Saving…", "saving");
    if (secret) {
      send(item).then((a) => { showPage(a.html, a.url); status(a.ok ? "Saved." : "", a.ok ? "saved" : ""); })
        .catch(() => {
          status("No network: nothing was signed. Try again when the network is back.", "refused");
          form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
        });
      return;
    }
    saveOutbox([...outbox().filter((i) => i.id !== item.id), item]);
    flush();
  });

  window.addEventListener("online", flush);

  // --- Limits preview ----------------------------------------------------------------------
  // The input's data attributes carry the MBR's ranges; a value outside the normal range opens
  // the comment at once (the server decides and records the outcome).

  function inside(value, low, high, lowInc, highInc) {
    const aboveLow = low === "" || value > +low || (value === +low && lowInc !== "false");
    const belowHigh = high === "" || value < +high || (value === +high && highInc !== "false");
    return aboveLow && belowHigh;
  }

  function judge(input) {
    if (input.type === "radio" && !input.checked) return;
    const d = input.dataset;
    const raw = input.value.trim();
    let outcome = "";
    if (raw !== "" && d.type === "number") {
      const value = Number(raw);
      if (!Number.isNaN(value)) {
        if (d.parLow !== undefined && !inside(value, d.parLow, d.parHigh, d.parLowInc, d.parHighInc)) outcome = "outside_acceptable";
        else if (d.norLow !== undefined && !inside(value, d.norLow, d.norHigh, d.norLowInc, d.norHighInc)) outcome = "outside_normal";
      }
    } else if (raw !== "" && d.expected && raw.toLowerCase() !== d.expected.toLowerCase()) {
      outcome = "unexpected";
    }
    const form = input.closest("form");
    const comment = form && form.querySelector(".comment-field");
    const preview = form && form.querySelector(".outcome-preview");
    if (comment) {
      comment.hidden = !outcome;
      const box = comment.querySelector("textarea");
      if (box) box.required = !!outcome;
    }
    if (preview) {
      preview.hidden = !outcome;
      preview.className = "outcome-preview badge outcome-" + outcome;
      preview.textContent = {
        outside_normal: "Outside the normal range: say why in the comment",
        outside_acceptable: "Outside the acceptable range: a deviation will be raised",
        unexpected: "Not the expected answer: say why in the comment",
      }[outcome] || "";
    }
  }

  document.addEventListener("input", (event) => {
    if (event.target.matches("[data-limits]")) judge(event.target);
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-limits]")) judge(event.target);
  });

  // The field that waits for the operator (or the scanner's keystrokes) has the focus; a refusal
  // stays in view, so the operator reads why before scanning again.
  function settle() {
    document.querySelectorAll("[data-limits]").forEach(judge);
    const next = document.querySelector("[data-focus-first]");
    const refusal = document.querySelector(".operator [role=alert]");
    if (next && document.activeElement === document.body) next.focus({preventScroll: Boolean(refusal)});
    if (refusal) refusal.scrollIntoView({block: "center"});
    pending(outbox().length);
  }

  document.addEventListener("DOMContentLoaded", () => {
    settle();
    if (outbox().length) flush();
  });
})();
