// ivr console: live fragments, the script editor (line numbers, lint as you type), the
// simulated call with its keypad. Plain JavaScript, no build step.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function postJson(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept": "application/json",
              "X-CSRF-Token": csrf()},
    body: JSON.stringify(body)});
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
  return response.json();
}

// Elements with data-live="URL" are replaced by the server's fragment every data-every ms.
function startLive() {
  for (const element of document.querySelectorAll("[data-live]")) {
    const url = element.dataset.live;
    if (!url) continue;
    const every = Number(element.dataset.every || 1000);
    const refresh = async () => {
      try {
        const response = await fetch(url, {credentials: "same-origin",
                                           headers: {"Accept": "text/html"}});
        if (response.status === 401) { location.reload(); return; }
        if (response.ok) {
          const before = rates(element);
          element.innerHTML = await response.text();
          showRates(element, before);
          // A message's timeline stops refreshing once its status is final.
          const status = element.querySelector("#status");
          if (status && ["delivered", "undelivered", "failed", "received"].includes(status.textContent.trim())) return;
        }
      } catch (error) { /* network hiccup: try again next time */ }
      setTimeout(refresh, every);
    };
    setTimeout(refresh, every);
  }
}

// Transports: messages per second between two refreshes, from data-sent / data-at.
function rates(element) {
  const seen = {};
  for (const row of element.querySelectorAll("tr[data-transport]")) {
    seen[row.dataset.transport] = [Number(row.dataset.sent), Number(row.dataset.at)];
  }
  return seen;
}

function showRates(element, before) {
  for (const row of element.querySelectorAll("tr[data-transport]")) {
    const old = before[row.dataset.transport];
    if (!old) continue;
    const seconds = Number(row.dataset.at) - old[1];
    if (seconds > 0) {
      const rate = (Number(row.dataset.sent) - old[0]) / seconds;
      row.querySelector(".rate").textContent = `${rate.toFixed(1)}/s`;
    }
  }
}

// -- the script editor ---------------------------------------------------------------
function startEditor() {
  const bench = document.getElementById("workbench");
  if (!bench) return;
  const source = document.getElementById("source");
  const gutter = document.getElementById("gutter");
  const list = document.getElementById("diagnostics");
  const summary = document.getElementById("lint-summary");
  let marks = {};

  const drawGutter = () => {
    const lines = source.value.split("\n").length;
    const rows = [];
    for (let n = 1; n <= lines; n++) {
      const mark = marks[n];
      rows.push(mark ? `<span class="mark-${mark.severity}" title="${escapeHtml(mark.message)}" data-line="${n}">${n}</span>`
                     : `<span data-line="${n}">${n}</span>`);
    }
    gutter.innerHTML = rows.join("");   // each number is a block: one line each
    gutter.scrollTop = source.scrollTop;
  };

  const show = (diagnostics) => {
    marks = {};
    list.innerHTML = "";
    for (const d of diagnostics) {
      if (!marks[d.line] || d.severity === "error") marks[d.line] = d;
      const item = document.createElement("li");
      item.className = d.severity;
      item.dataset.line = d.line;
      item.dataset.col = d.col;
      item.textContent = `${d.line}:${d.col}: ${d.severity}: ${d.message}`;
      item.addEventListener("click", () => goTo(d.line, d.col));
      list.appendChild(item);
    }
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    summary.textContent = errors ? `${errors} error(s)` : (diagnostics.length ? `${diagnostics.length} warning(s)` : "no problems");
    summary.className = errors ? "hint error" : "hint";
    drawGutter();
  };

  const goTo = (line, col) => {
    const lines = source.value.split("\n");
    let offset = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    offset += Math.max(0, col - 1);
    source.focus();
    source.setSelectionRange(offset, offset);
  };

  let timer = null;
  const lintSoon = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      try {
        show((await postJson(bench.dataset.lint, {name: bench.dataset.name, text: source.value})).diagnostics);
      } catch (error) { summary.textContent = `lint failed: ${error.message}`; }
    }, 250);
  };

  source.addEventListener("input", () => { drawGutter(); lintSoon(); });
  source.addEventListener("scroll", () => { gutter.scrollTop = source.scrollTop; });
  document.getElementById("save").addEventListener("click", async () => {
    try {
      const result = await postJson(bench.dataset.save, {text: source.value});
      show(result.diagnostics);
      summary.textContent = `saved; ${summary.textContent}`;
    } catch (error) { summary.textContent = `not saved: ${error.message}`; }
  });
  drawGutter();
  lintSoon();
  startSimulator(bench, source);
}

// -- the simulated call --------------------------------------------------------------
function startSimulator(bench, source) {
  const transcript = document.getElementById("transcript");
  const state = document.getElementById("sim-state");
  const player = document.getElementById("player");
  let inputs = null;   // null: no call yet

  const run = async () => {
    try {
      const result = await postJson(bench.dataset.simulate, {name: bench.dataset.name, text: source.value, inputs});
      transcript.innerHTML = "";
      for (const line of result.lines) {
        const item = document.createElement("li");
        const time = document.createElement("time");
        time.textContent = `${line.at.toFixed(1)} s`;
        item.appendChild(time);
        item.appendChild(document.createTextNode(" " + line.text));
        if (line.speak) {
          const play = document.createElement("button");
          play.type = "button";
          play.className = "play";
          play.textContent = "▶";
          play.title = "Play this prompt";
          const query = new URLSearchParams(line.speak);
          play.addEventListener("click", () => { player.src = `${bench.dataset.prompt}?${query}`; player.play(); });
          item.appendChild(play);
        }
        transcript.appendChild(item);
      }
      bench.dataset.simState = result.state;
      state.textContent = result.state === "waiting" ? `waiting for a key (${result.wait} s)` : "call ended";
    } catch (error) { state.textContent = `simulation failed: ${error.message}`; }
  };

  document.getElementById("sim-start").addEventListener("click", () => { inputs = []; run(); });
  document.getElementById("sim-wait").addEventListener("click", () => {
    if (inputs === null || bench.dataset.simState !== "waiting") return;
    inputs.push("T"); run();
  });
  for (const key of document.querySelectorAll("#keypad button")) {
    key.addEventListener("click", () => {
      if (inputs === null || bench.dataset.simState !== "waiting") return;
      inputs.push(key.dataset.key); run();
    });
  }
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function startConfirms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => { if (!confirm(form.dataset.confirm)) event.preventDefault(); });
  }
}

document.addEventListener("DOMContentLoaded", () => { startLive(); startEditor(); startConfirms(); });
