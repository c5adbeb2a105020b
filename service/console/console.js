// replyguard demo agent console: a stored conversation, a WebSocket, popups while typing.
// The key comes from #key=… in the address, localStorage, or the key box (when the service asks).
"use strict";

const DEBOUNCE_MS = 300; // one check per typing pause, not per keystroke
const FLAG_NAMES = {
  non_answer: "Non-answer", boilerplate: "Boilerplate", ad_to_upset_customer: "Ad to an upset customer",
  missing_empathy: "Missing empathy", defensive: "Defensive",
};
const $ = (id) => document.getElementById(id);

const state = { key: "", cases: [], conversationId: null, ws: null, seq: 0, lastDraft: "", timer: null };

function readKey() {
  const m = location.hash.match(/key=([^&]+)/);
  if (m) {
    localStorage.setItem("replyguard-key", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname); // keep the key out of the address bar
  }
  state.key = localStorage.getItem("replyguard-key") || "";
}

function setStatus(text, ok) {
  const el = $("status");
  el.textContent = text;
  el.className = "status " + (ok ? "ok" : "bad");
}

async function api(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.key) headers["X-API-Key"] = state.key;
  const res = await fetch(path, { method: body ? "POST" : "GET", headers, body: body && JSON.stringify(body) });
  if (res.status === 401) {
    $("keyform").hidden = false;
    throw new Error("API key needed");
  }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function addTurn(role, text) {
  const div = document.createElement("div");
  div.className = `turn ${role}`;
  div.textContent = text;
  $("turns").appendChild(div);
  $("turns").scrollTop = $("turns").scrollHeight;
}

function renderFindings(findings) {
  const box = $("popups");
  box.replaceChildren();
  $("draft-form").classList.toggle("flagged", findings.length > 0);
  if (!findings.length) {
    box.innerHTML = `<p class="quiet">${state.lastDraft ? "No problems found." : "Findings appear here as you type."}</p>`;
    return;
  }
  for (const f of findings) {
    const card = document.createElement("div");
    card.className = "popup";
    card.dataset.flag = f.flag;
    card.setAttribute("role", "alert");
    const h = document.createElement("h3");
    h.textContent = FLAG_NAMES[f.flag] || f.flag;
    const conf = document.createElement("span");
    conf.textContent = `${Math.round(f.confidence * 100)}%`;
    h.appendChild(conf);
    const why = document.createElement("p");
    why.className = "why";
    why.textContent = f.explanation;
    card.append(h, why);
    if (f.suggestion) {
      const s = document.createElement("p");
      s.className = "suggestion";
      s.textContent = f.suggestion;
      card.appendChild(s);
    }
    const actions = document.createElement("div");
    actions.className = "actions";
    for (const [label, action] of [["Got it", "accept"], ["Not a problem", "dismiss"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.onclick = () => sendFeedback(f.flag, action, card);
      actions.appendChild(b);
    }
    card.appendChild(actions);
    box.appendChild(card);
  }
}

async function sendFeedback(flag, action, card) {
  card.remove();
  try {
    await api("/v1/feedback", { conversation_id: state.conversationId, draft: state.lastDraft, action, flag });
  } catch (e) {
    setStatus(`feedback not saved: ${e.message}`, false);
  }
}

function connect() {
  if (state.ws) state.ws.close();
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`);
  state.ws = ws;
  ws.onopen = () => {
    if (state.key) ws.send(JSON.stringify({ type: "auth", key: state.key }));
    ws.send(JSON.stringify({ type: "init", conversation_id: state.conversationId }));
  };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "ready") setStatus(`live · ${msg.conversation_id}`, true);
    else if (msg.type === "findings" && msg.seq === state.seq) renderFindings(msg.findings); // drop stale answers
    else if (msg.type === "error") setStatus(`error ${msg.status}: ${JSON.stringify(msg.detail).slice(0, 120)}`, false);
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    setStatus(ev.code === 4401 ? "API key needed" : "disconnected; retrying…", false);
    if (ev.code === 4401) $("keyform").hidden = false;
    else setTimeout(connect, 2000);
  };
}

function send(msg) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(msg));
}

function onDraftInput() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    const text = $("draft").value;
    state.lastDraft = text.trim();
    state.seq += 1;
    if (!state.lastDraft) { renderFindings([]); return; }
    send({ type: "draft", text, seq: state.seq });
  }, DEBOUNCE_MS);
}

async function loadCase(i) {
  const c = state.cases[i];
  $("turns").replaceChildren();
  const created = await api("/v1/conversations", { lang: c.lang, channel: "console-demo", turns: c.turns });
  state.conversationId = created.id;
  for (const t of created.turns) addTurn(t.role, t.text);
  $("original").hidden = !c.original_reply;
  $("original-text").textContent = c.original_reply || "";
  $("draft").value = "";
  state.seq += 1;
  state.lastDraft = "";
  renderFindings([]);
  connect();
}

async function start() {
  readKey();
  try {
    const data = await api("/console/cases");
    state.cases = data.conversations;
    $("cases").replaceChildren(...state.cases.map((c, i) => new Option(`${c.id} (${c.lang || "?"})`, i)));
    await loadCase(0);
  } catch (e) {
    setStatus(e.message, false);
  }
}

$("draft").addEventListener("input", onDraftInput);
$("cases").addEventListener("change", (e) => loadCase(Number(e.target.value)));
$("use-original").addEventListener("click", () => {
  $("draft").value = $("original-text").textContent;
  onDraftInput();
});
$("draft-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("draft").value.trim();
  if (!text) return;
  send({ type: "turn", role: "agent", text });
  addTurn("agent", text);
  $("draft").value = "";
  state.lastDraft = "";
  state.seq += 1;
  renderFindings([]);
});
$("customer-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("customer").value.trim();
  if (!text) return;
  send({ type: "turn", role: "customer", text });
  addTurn("customer", text);
  $("customer").value = "";
});
$("keyform").addEventListener("submit", (e) => {
  e.preventDefault();
  localStorage.setItem("replyguard-key", $("key").value.trim());
  $("keyform").hidden = true;
  start();
});
start();
