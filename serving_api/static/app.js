// QBank student page: plain JS over the REST API. Markdown arrives as server-sanitized HTML
// (fields ending in _html); everything else is set with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: null, user: null, quiz: null, item: null, selected: null, answered: false, timer: null };

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (res.status === 401 && state.token) { logout(); }
  if (!res.ok) throw new Error(data.detail || `request failed (${res.status})`);
  return data;
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  $("user-box").hidden = !state.user;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// ---------------------------------------------------------------- login
$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    const out = await api("POST", "/v1/auth/login", { email: $("login-email").value, password: $("login-password").value });
    state.token = out.access_token;
    state.user = out.user;
    sessionStorage.setItem("qbank", JSON.stringify({ token: state.token, user: state.user }));
    await home();
  } catch (e) { $("login-error").textContent = e.message; }
});

function logout() {
  state.token = null; state.user = null; sessionStorage.removeItem("qbank");
  clearInterval(state.timer);
  show("login");
}
$("logout").addEventListener("click", logout);

// ---------------------------------------------------------------- dashboard
async function home() {
  $("user-name").textContent = `${state.user.display_name} · ${state.user.cohort}`;
  show("home");
  if (!state.user.roles.includes("student")) {
    $("start-error").textContent = "This page is for students; authors and publishers use the API (/docs).";
  }
  const [codes, topics] = await Promise.all([api("GET", "/v1/exam-codes"), api("GET", "/v1/topics")]);
  const sel = $("exam-code");
  sel.replaceChildren(...codes.map((c) => { const o = el("option", "", `${c.exam_code} (${c.live_questions} questions)`); o.value = c.exam_code; return o; }));
  const chips = $("topic-chips");
  chips.replaceChildren(...topics.map((t) => {
    const b = el("button", "chip", t.parent_id ? `· ${t.name}` : t.name);
    b.type = "button"; b.dataset.id = t.id; b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true"));
    return b;
  }));
  if (state.user.roles.includes("student")) { await Promise.all([history(), performance()]); }
}

async function history() {
  const rows = await api("GET", "/v1/quizzes?limit=20");
  const body = $("history");
  body.replaceChildren(...rows.map((q) => {
    const tr = el("tr");
    tr.append(el("td", "", new Date(q.started_at).toLocaleString()), el("td", "", q.exam_code),
      el("td", "", `${q.mode}${q.adaptive ? " · adaptive" : ""}`), el("td", "", `${q.answered}/${q.num_questions}`),
      el("td", "", q.scaled_score == null ? "—" : String(q.scaled_score)));
    const td = el("td");
    const b = el("button", "ghost small", q.status === "active" ? "Resume" : "Report");
    b.addEventListener("click", () => (q.status === "active" ? resume(q) : showReport(q.id)));
    td.append(b); tr.append(td);
    return tr;
  }));
  if (!rows.length) { const tr = el("tr"); const td = el("td", "muted", "No quizzes yet — start one."); td.colSpan = 6; tr.append(td); body.append(tr); }
}

async function performance() {
  const p = await api("GET", "/v1/me/performance");
  const box = $("performance");
  if (!p.overall) { box.textContent = "No answers yet."; return; }
  const rows = [{ topic_name: "Overall", ...p.overall }, ...p.topics];
  box.replaceChildren(...rows.map((r) => {
    const wrap = el("div");
    const head = el("div", "perf-row");
    head.append(el("span", "", r.topic_name), el("span", "muted", `${Math.round(r.accuracy * 100)}% · percentile ${Math.round(r.percentile)} of ${r.cohort_size} in your cohort`));
    const bar = el("div", "bar"); const fill = el("div"); fill.style.width = `${Math.round(r.accuracy * 100)}%`; bar.append(fill);
    wrap.append(head, bar);
    return wrap;
  }));
}

$("start-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("start-error").textContent = "";
  const topics = [...document.querySelectorAll(".chip[aria-pressed=true]")].map((b) => Number(b.dataset.id));
  try {
    const quiz = await api("POST", "/v1/quizzes", {
      exam_code: $("exam-code").value,
      mode: document.querySelector("input[name=mode]:checked").value,
      adaptive: $("adaptive").checked,
      num_questions: Number($("num-questions").value),
      topics,
    });
    await resume(quiz);
  } catch (e) { $("start-error").textContent = e.message; }
});

// ---------------------------------------------------------------- quiz
async function resume(quiz) {
  state.quiz = quiz;
  $("quiz-title").textContent = `${quiz.exam_code} · ${quiz.mode === "tutor" ? "Tutor" : "Exam"}${quiz.adaptive ? " · adaptive" : ""}`;
  // What the start said about scoring (e.g. too few calibrated questions for the filters).
  $("quiz-notices").textContent = (quiz.notices || []).join(" ");
  clearInterval(state.timer);
  $("timer").hidden = !quiz.expires_at;
  if (quiz.expires_at) {
    const end = new Date(quiz.expires_at).getTime();
    const tick = () => { const s = Math.max(0, Math.round((end - Date.now()) / 1000)); $("timer").textContent = `⏱ ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`; };
    tick(); state.timer = setInterval(tick, 1000);
  }
  show("quiz");
  await loadNext();
}

async function loadNext() {
  $("quiz-error").textContent = "";
  let out;
  try { out = await api("GET", `/v1/quizzes/${state.quiz.id}/next`); }
  catch (e) { $("quiz-error").textContent = e.message; return; }
  $("progress-fill").style.width = `${(100 * out.answered) / out.num_questions}%`;
  if (out.status !== "active") { await finish(); return; }
  state.item = out.item; state.selected = null; state.answered = false;
  $("quiz-progress-text").textContent = `question ${out.position} of ${out.num_questions}`;
  renderItem(out.item);
}

function renderItem(item) {
  $("q-topic").textContent = item.topic.name;
  $("q-position").textContent = `#${item.position}`;
  $("q-stem").innerHTML = item.stem_html; // sanitized on the server (markdown → nh3)
  $("q-assets").replaceChildren(...item.assets.map((src) => { const i = el("img"); i.src = src; i.alt = "figure"; return i; }));
  $("q-leadin").textContent = item.lead_in;
  $("q-options").replaceChildren(...item.options.map((o) => {
    const li = el("li");
    const b = el("button", "option"); b.type = "button"; b.dataset.label = o.label;
    const letter = el("span", "letter", o.label); const text = el("span", "text"); text.innerHTML = o.text_html;
    b.append(letter, text);
    b.addEventListener("click", () => choose(o.label));
    li.append(b);
    return li;
  }));
  markButton(item.marked);
  $("feedback").hidden = true;
  $("submit-answer").hidden = false; $("submit-answer").disabled = true;
  $("next-question").hidden = true;
}

function choose(label) {
  if (state.answered) return;
  state.selected = label;
  for (const b of document.querySelectorAll("#q-options .option")) b.classList.toggle("selected", b.dataset.label === label);
  $("submit-answer").disabled = false;
}

function markButton(marked) { $("mark-btn").textContent = marked ? "★ Marked" : "☆ Mark for review"; }

$("mark-btn").addEventListener("click", async () => {
  if (!state.item) return;
  const out = await api("POST", `/v1/quizzes/${state.quiz.id}/items/${state.item.position}/mark`, { marked: !state.item.marked });
  state.item.marked = out.marked; markButton(out.marked);
});

async function submitAnswer() {
  if (!state.selected || state.answered) return;
  try {
    const fb = await api("POST", `/v1/quizzes/${state.quiz.id}/answers`, { selected: state.selected });
    state.answered = true;
    $("submit-answer").hidden = true; $("next-question").hidden = false; $("next-question").focus();
    const box = $("feedback");
    box.hidden = false;
    if (fb.correct === undefined) {
      box.className = "feedback neutral";
      box.replaceChildren(el("strong", "", "Answer recorded."), el("span", "muted", " The key and explanations are in the review after you finish."));
      return;
    }
    for (const b of document.querySelectorAll("#q-options .option")) {
      if (b.dataset.label === fb.correct_label) b.classList.add("correct");
      else if (b.dataset.label === state.selected) b.classList.add("wrong");
    }
    box.className = `feedback ${fb.correct ? "ok" : "bad"}`;
    const h = el("h3", "", fb.correct ? "Correct" : `Incorrect — the answer is ${fb.correct_label}`);
    const rationale = el("div", "rationale"); rationale.innerHTML = fb.rationale_html;
    const meta = el("p", "muted", `Your ability estimate: θ = ${fb.theta.toFixed(2)} ± ${fb.se.toFixed(2)}` +
      (fb.calibrated_b === null || fb.calibrated_b === undefined ? " · item not yet calibrated" : ` · item difficulty b = ${fb.calibrated_b.toFixed(2)}`));
    box.replaceChildren(h, rationale, meta);
  } catch (e) { $("quiz-error").textContent = e.message; }
}
$("submit-answer").addEventListener("click", submitAnswer);
$("next-question").addEventListener("click", loadNext);

async function finish() {
  clearInterval(state.timer);
  try {
    const report = await api("POST", `/v1/quizzes/${state.quiz.id}/finish`);
    renderReport(report);
  } catch (e) { $("quiz-error").textContent = e.message; }
}
$("finish-quiz").addEventListener("click", () => { if (confirm("Finish this quiz and see your report?")) finish(); });

document.addEventListener("keydown", (ev) => {
  if ($("view-quiz").hidden || ev.target.tagName === "INPUT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toUpperCase();
  const labels = state.item ? state.item.options.map((o) => o.label) : [];
  if (/^[1-9]$/.test(k) && labels[Number(k) - 1]) { choose(labels[Number(k) - 1]); ev.preventDefault(); }
  else if (labels.includes(k) && k !== "M") { choose(k); ev.preventDefault(); }
  else if (k === "M") { $("mark-btn").click(); ev.preventDefault(); }
  else if (k === "ENTER") { ev.preventDefault(); state.answered ? loadNext() : submitAnswer(); }
});

// ---------------------------------------------------------------- report
async function showReport(id) { renderReport(await api("GET", `/v1/quizzes/${id}/report`)); }

function renderReport(r) {
  show("report");
  $("r-scaled").textContent = r.scaled_score ?? "—";
  $("r-raw").textContent = `${r.raw_score} / ${r.num_scored}`;
  $("r-theta").textContent = `${r.theta.toFixed(2)} ± ${r.se.toFixed(2)}`;
  $("r-status").textContent = r.status.replace("_", " ");
  $("r-topics").replaceChildren(...r.per_topic.map((t) => {
    const wrap = el("div"); const head = el("div", "perf-row");
    head.append(el("span", "", t.topic_name), el("span", "muted", `${t.correct}/${t.served}`));
    const bar = el("div", "bar"); const fill = el("div"); fill.style.width = `${Math.round(100 * (t.accuracy || 0))}%`; bar.append(fill);
    wrap.append(head, bar); return wrap;
  }));
  $("r-review").replaceChildren(...r.review.map((it) => {
    const box = el("div", "review-item");
    const head = el("div", "meta");
    head.append(el("strong", "", `#${it.position}`), el("span", "pill", it.topic.name),
      it.is_pretest ? el("span", "badge pre", "pretest · unscored") : el("span", `badge ${it.correct ? "ok" : "bad"}`, it.correct ? "correct" : it.selected ? "incorrect" : "unanswered"));
    const stem = el("div", "stem"); stem.innerHTML = it.stem_html;
    const lead = el("p", "leadin", it.lead_in);
    const opts = el("ol", "options");
    for (const o of it.options) {
      const li = el("li"); const b = el("div", "option");
      if (o.label === it.correct_label) b.classList.add("correct"); else if (o.label === it.selected) b.classList.add("wrong");
      const text = el("span", "text"); text.innerHTML = o.text_html;
      b.append(el("span", "letter", o.label), text); li.append(b); opts.append(li);
    }
    const rat = el("div", "feedback neutral"); rat.innerHTML = it.rationale_html;
    box.append(head, stem, lead, opts, rat);
    return box;
  }));
}
$("back-home").addEventListener("click", home);

// ---------------------------------------------------------------- start
(function init() {
  const saved = sessionStorage.getItem("qbank");
  if (saved) {
    try { Object.assign(state, JSON.parse(saved)); home().catch(logout); return; } catch (_) { /* fall through */ }
  }
  show("login");
})();
