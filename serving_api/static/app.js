// QBank student page: plain JS modules over the REST API, no build step. Markdown arrives as
// server-sanitized HTML (fields ending in _html); everything else (names, topic paths, lead-ins,
// messages) is set with textContent, and the progress chart is built node by node.
// This module: login, dashboard, taking a quiz (and a linear exam's navigator), finishing.
import { api, session } from "./api.js";
import { $, el } from "./dom.js";
import { drawProgress } from "./progress_chart.js";
import { renderReport } from "./report.js";
import { initStartForm, showTopics, updateAdaptiveNote } from "./start_form.js";
import { setTopics, topicLabel } from "./topics.js";

const TENANT_KEY = "qbank.tenant";
const state = {
  user: null, quiz: null, item: null, selected: null, answered: false, timer: null,
  // linear exams only:
  linear: false, items: [], numQuestions: 0, frontier: null, review: false, saved: null,
};

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  $("user-box").hidden = !state.user;
}

// ---------------------------------------------------------------- login
$("login-tenant").value = localStorage.getItem(TENANT_KEY) || "";

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const tenant = $("login-tenant").value.trim().toLowerCase(); // slugs are lowercase
  const body = { email: $("login-email").value, password: $("login-password").value };
  if (tenant) body.tenant = tenant;
  try {
    const out = await api("POST", "/v1/auth/login", body);
    session.token = out.access_token;
    state.user = { ...out.user, tenant_slug: out.tenant_slug ?? out.user.tenant_slug ?? (tenant || null) };
    if (state.user.tenant_slug) localStorage.setItem(TENANT_KEY, state.user.tenant_slug);
    else localStorage.removeItem(TENANT_KEY);
    sessionStorage.setItem("qbank", JSON.stringify({ token: session.token, user: state.user }));
    await home();
  } catch (e) { $("login-error").textContent = e.message; }
});

function logout() {
  session.token = null; state.user = null; sessionStorage.removeItem("qbank");
  clearInterval(state.timer);
  $("login-tenant").value = localStorage.getItem(TENANT_KEY) || "";
  show("login");
}
$("logout").addEventListener("click", logout);
session.onUnauthorized = logout;

// ---------------------------------------------------------------- dashboard
async function home() {
  clearInterval(state.timer);
  const u = state.user;
  $("user-name").textContent = [u.display_name, u.cohort, u.tenant_slug].filter(Boolean).join(" · ");
  show("home");
  if (!u.roles.includes("student")) {
    $("start-error").textContent = "This page is for students; authors and publishers use the API (/docs).";
  }
  const [codes, topics] = await Promise.all([api("GET", "/v1/exam-codes"), api("GET", "/v1/topics")]);
  setTopics(topics);
  const option = (value, text) => { const o = el("option", "", text); o.value = value; return o; };
  const current = $("exam-code").value;
  $("exam-code").replaceChildren(...codes.map((c) => option(c.exam_code, `${c.exam_code} (${c.live_questions} questions)`)));
  if (current && codes.some((c) => c.exam_code === current)) $("exam-code").value = current;
  const progressExam = $("progress-exam").value;
  $("progress-exam").replaceChildren(option("", "All exams"), ...codes.map((c) => option(c.exam_code, c.exam_code)));
  if (codes.some((c) => c.exam_code === progressExam)) $("progress-exam").value = progressExam;
  showTopics();
  updateAdaptiveNote();
  if (u.roles.includes("student")) { await Promise.all([history(), performance(), progress()]); }
}

async function history() {
  const rows = await api("GET", "/v1/quizzes?limit=20");
  const body = $("history");
  body.replaceChildren(...rows.map((q) => {
    const tr = el("tr");
    tr.append(el("td", "", new Date(q.started_at).toLocaleString()), el("td", "", q.exam_code),
      el("td", "", `${q.mode}${q.adaptive ? " · adaptive" : " · linear"}`), el("td", "", `${q.answered}/${q.num_questions}`),
      el("td", "", q.scaled_score == null ? "—" : String(q.scaled_score)));
    const td = el("td");
    const b = el("button", "ghost small", q.status === "active" ? "Resume" : "Report");
    // Resume from a fresh read: the row may be minutes old (the exam may have expired since).
    const open = async () => {
      if (q.status !== "active") return showReport(q.id);
      const fresh = await api("GET", `/v1/quizzes/${q.id}`);
      return fresh.status === "active" ? resume(fresh) : showReport(q.id);
    };
    b.addEventListener("click", () => open().catch((e) => { $("start-error").textContent = e.message; }));
    td.append(b); tr.append(td);
    return tr;
  }));
  if (!rows.length) { const tr = el("tr"); const td = el("td", "muted", "No quizzes yet — start one."); td.colSpan = 6; tr.append(td); body.append(tr); }
}

async function performance() {
  const p = await api("GET", "/v1/me/performance");
  const box = $("performance");
  if (!p.overall) { box.textContent = "No answers yet."; return; }
  const rows = [{ label: "Overall", ...p.overall }, ...p.topics.map((t) => ({ label: topicLabel(t), ...t }))];
  box.replaceChildren(...rows.map((r) => {
    const wrap = el("div", "perf");
    const head = el("div", "perf-row");
    head.append(el("span", "topic-path", r.label), el("strong", "perf-acc", `${Math.round(r.accuracy * 100)}%`));
    const bar = el("div", "bar"); const fill = el("div"); fill.style.width = `${Math.round(r.accuracy * 100)}%`; bar.append(fill);
    const students = `${r.cohort_size} student${r.cohort_size === 1 ? "" : "s"}`;
    const sub = el("div", "perf-sub muted", `${r.correct} of ${r.answered} correct · percentile ${Math.round(r.percentile)} among ${students} in your cohort`);
    wrap.append(head, bar, sub);
    return wrap;
  }));
}

// ---------------------------------------------------------------- progress chart (inline SVG)
async function progress() {
  const code = $("progress-exam").value;
  const box = $("progress-chart");
  try {
    const out = await api("GET", `/v1/me/progress${code ? `?exam_code=${encodeURIComponent(code)}` : ""}`);
    drawProgress(box, out.weeks || []);
  } catch (e) { box.replaceChildren(el("p", "error", `Progress unavailable: ${e.message}`)); }
}
$("progress-exam").addEventListener("change", () => progress());

// ---------------------------------------------------------------- quiz
// A refused quiz call. A 409 can mean the quiz was sealed meanwhile (its time ran out and the
// server's sweep or another tab finished it): then the report is what there is to show.
async function quizFailed(e) {
  $("quiz-error").textContent = e.message;
  if (e.status !== 409 || !state.quiz) return;
  try {
    const q = await api("GET", `/v1/quizzes/${state.quiz.id}`);
    if (q.status !== "active") await showReport(q.id);
  } catch (_) { /* the message above stays */ }
}
initStartForm((quiz) => resume(quiz));

async function resume(quiz) {
  state.quiz = quiz;
  state.linear = quiz.mode === "exam" && !quiz.adaptive;
  state.items = []; state.frontier = null; state.review = false; state.item = null;
  $("quiz-title").textContent = `${quiz.exam_code} · ${quiz.mode === "tutor" ? "Tutor" : "Exam"}${quiz.adaptive ? " · adaptive" : " · linear"}`;
  $("navigator").hidden = !state.linear;
  $("prev-question").hidden = !state.linear;
  $("review-status").textContent = "";
  $("keys-hint").replaceChildren(...keysHint());
  // What the start said about scoring (e.g. too few calibrated questions for the filters).
  $("quiz-notices").textContent = (quiz.notices || []).join(" ");
  startTimer(quiz.expires_at);
  show("quiz");
  if (state.linear) await refreshItems();
  await loadNext(false, true);
}

function keysHint() {
  const k = (t) => el("kbd", "", t);
  const parts = [document.createTextNode("Keys: "), k("A"), document.createTextNode("–"), k("E"), document.createTextNode(" or "), k("1"),
    document.createTextNode("–"), k("5"), document.createTextNode(" choose · "), k("Enter"),
    document.createTextNode(state.linear ? " save / next · " : " submit / next · "), k("M"), document.createTextNode(" mark")];
  if (state.linear) parts.push(document.createTextNode(" · "), k("←"), document.createTextNode(" "), k("→"), document.createTextNode(" move"));
  return parts;
}

function startTimer(expiresAt) {
  clearInterval(state.timer);
  $("timer").hidden = !expiresAt;
  $("timer").classList.remove("low");
  if (!expiresAt) return;
  const end = new Date(expiresAt).getTime();
  const quizId = state.quiz.id;
  const tick = () => {
    const s = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    const h = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    $("timer").textContent = `${h ? `${h}:${String(mm).padStart(2, "0")}` : mm}:${String(ss).padStart(2, "0")} left`;
    $("timer").classList.toggle("low", s < 300);
    if (s === 0 && state.quiz && state.quiz.id === quizId && !$("view-quiz").hidden) {
      // Time is up: the exam is finished for the student, as the server will also seal it.
      clearInterval(state.timer);
      if ($("finish-dialog").open) $("finish-dialog").close("expired");
      $("quiz-error").textContent = "Time is up: your exam is being submitted.";
      finish();
    }
  };
  tick(); state.timer = setInterval(tick, 1000);
}

// `resuming`: opening a quiz from the history, where reaching the end is not news.
async function loadNext(skip = false, resuming = false) {
  $("quiz-error").textContent = "";
  let out;
  try { out = await api("GET", `/v1/quizzes/${state.quiz.id}/next${skip ? "?skip=true" : ""}`); }
  catch (e) { quizFailed(e); return; }
  $("progress-fill").style.width = `${(100 * out.answered) / out.num_questions}%`;
  state.answeredCount = out.answered;
  if (state.linear && out.status === "complete") {
    // Every position has been served: stay in the exam (answers can still change) until Finish.
    state.frontier = null;
    await refreshItems();
    if (!state.item) await goTo(firstUnanswered() ?? 1);
    if (!resuming) openFinishDialog("You have reached the last question.");
    return;
  }
  if (out.status !== "active") { await finish(); return; }
  if (state.linear) {
    state.frontier = out.position;
    const known = state.items.find((i) => i.position === out.position);
    if (!known) state.items.push({ position: out.position, question_id: out.item.question_id, topic: out.item.topic, answered: false, marked: !!out.item.marked, selected: out.item.selected ?? null });
  }
  showItem(out.item, out.position, out.num_questions);
}

function showItem(item, position, numQuestions) {
  state.item = { ...item, position: item.position ?? position };
  state.selected = item.selected ?? null;
  state.saved = item.selected ?? null;
  state.answered = false;
  $("quiz-progress-text").textContent = `question ${state.item.position} of ${numQuestions ?? state.numQuestions ?? state.quiz.num_questions}`;
  renderItem(state.item);
  if (state.linear) {
    if (state.saved) choose(state.saved);
    renderNavigator();
    updateLinearButtons();
  }
}

function renderItem(item) {
  $("q-topic").textContent = topicLabel(item.topic);
  $("q-position").textContent = `#${item.position}`;
  $("q-stem").innerHTML = item.stem_html; // sanitized on the server (markdown → nh3)
  $("q-assets").replaceChildren(...(item.assets || []).map((src) => { const i = el("img"); i.src = src; i.alt = "figure"; return i; }));
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
  $("feedback").hidden = true; $("feedback").replaceChildren();
  $("submit-answer").hidden = false; $("submit-answer").disabled = true;
  $("submit-answer").textContent = state.linear ? "Save answer" : "Submit answer";
  $("next-question").hidden = !state.linear;
}

function choose(label) {
  if (state.answered) return;
  state.selected = label;
  for (const b of document.querySelectorAll("#q-options .option")) b.classList.toggle("selected", b.dataset.label === label);
  $("submit-answer").disabled = state.linear ? label === state.saved : false;
}

function markButton(marked) { $("mark-btn").textContent = marked ? "★ Marked" : "☆ Mark for review"; }

async function toggleMark() {
  if (!state.item) return;
  try {
    const out = await api("POST", `/v1/quizzes/${state.quiz.id}/items/${state.item.position}/mark`, { marked: !state.item.marked });
    state.item.marked = out.marked; markButton(out.marked);
    const entry = state.items.find((i) => i.position === state.item.position);
    if (entry) entry.marked = out.marked;
    if (state.linear) renderNavigator();
  } catch (e) { quizFailed(e); }
}
$("mark-btn").addEventListener("click", toggleMark);

async function submitAnswer() {
  if (state.linear) return saveLinearAnswer();
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
  } catch (e) { quizFailed(e); }
}
// One submit or move at a time: a second Enter while an answer is on its way would otherwise
// send it twice (the second is refused) or skip the item just served.
async function once(action) {
  if (state.busy) return;
  state.busy = true;
  try { await action(); } finally { state.busy = false; }
}
$("submit-answer").addEventListener("click", () => once(submitAnswer));
$("next-question").addEventListener("click", () => once(() => (state.linear ? linearNext() : loadNext())));
$("prev-question").addEventListener("click", () => once(linearPrev));

// ---------------------------------------------------------------- linear exam: navigator
async function refreshItems() {
  try {
    const out = await api("GET", `/v1/quizzes/${state.quiz.id}/items`);
    state.items = out.items;
    state.numQuestions = out.num_questions;
  } catch (e) { quizFailed(e); }
  renderNavigator();
}

function firstUnanswered() { return state.items.find((i) => !i.answered)?.position ?? null; }
function servedMax() { return state.items.reduce((mx, i) => Math.max(mx, i.position), 0); }

function renderNavigator() {
  if (!state.linear) return;
  const n = state.numQuestions || state.quiz.num_questions;
  const byPos = new Map(state.items.map((i) => [i.position, i]));
  const cells = [];
  for (let p = 1; p <= n; p++) {
    const it = byPos.get(p);
    const li = el("li");
    const b = el("button", "nav-cell", String(p)); b.type = "button"; b.dataset.position = p;
    if (!it) { b.classList.add("unserved"); b.disabled = true; b.title = `question ${p}: not yet reached`; }
    else {
      b.classList.add(it.answered ? "answered" : "unanswered");
      if (it.marked) b.classList.add("marked");
      const label = topicLabel(it.topic);
      b.title = `question ${p}: ${it.answered ? `answered (${it.selected})` : "unanswered"}${it.marked ? ", marked" : ""}${label ? ` · ${label}` : ""}`;
      b.addEventListener("click", () => once(() => { state.review = false; $("review-status").textContent = ""; return goTo(p); }));
    }
    if (state.item && state.item.position === p) { b.classList.add("current"); b.setAttribute("aria-current", "step"); }
    li.append(b); cells.push(li);
  }
  $("nav-grid").replaceChildren(...cells);
  const marked = state.items.filter((i) => i.marked).length;
  $("review-marked").textContent = `Review marked (${marked})`;
  $("review-marked").disabled = marked === 0;
  const answered = state.items.filter((i) => i.answered).length;
  $("progress-fill").style.width = `${(100 * answered) / n}%`;
}

async function goTo(position) {
  $("quiz-error").textContent = "";
  try {
    const out = await api("GET", `/v1/quizzes/${state.quiz.id}/items/${position}`);
    showItem(out.item ?? out, position, out.num_questions);
  } catch (e) { quizFailed(e); }
}

function updateLinearButtons() {
  const entry = state.items.find((i) => i.position === state.item.position);
  const answered = !!(entry && entry.answered);
  const p = state.item.position;
  $("prev-question").disabled = p <= 1;
  let label;
  if (state.review) label = "Next marked →";
  else if (p === state.frontier && !answered) label = "Skip for now →";
  else if (state.frontier === null && p >= servedMax()) label = "End of exam →";
  else label = "Next →";
  $("next-question").textContent = label;
  if (answered && state.saved) {
    const box = $("feedback"); box.hidden = false; box.className = "feedback neutral";
    box.replaceChildren(el("strong", "", `Answer ${state.saved} saved.`), el("span", "muted", " You can change it until you finish the exam."));
  }
}

async function saveLinearAnswer() {
  if (!state.selected || state.selected === state.saved) return;
  const position = state.item.position;
  try {
    await api("POST", `/v1/quizzes/${state.quiz.id}/answers`, { selected: state.selected, position });
    state.saved = state.selected;
    const entry = state.items.find((i) => i.position === position);
    if (entry) { entry.answered = true; entry.selected = state.selected; }
    $("submit-answer").disabled = true;
    renderNavigator();
    updateLinearButtons();
    $("next-question").focus();
  } catch (e) { quizFailed(e); }
}

async function linearNext() {
  const p = state.item.position;
  if (state.review) {
    const next = state.items.filter((i) => i.marked && i.position > p).sort((a, b) => a.position - b.position)[0];
    if (next) { $("review-status").textContent = reviewStatus(next.position); await goTo(next.position); return; }
    state.review = false;
    $("review-status").textContent = "You have been through every marked question.";
    updateLinearButtons();
    openFinishDialog("Marked review done.");
    return;
  }
  if (p === state.frontier) {
    const entry = state.items.find((i) => i.position === p);
    await loadNext(!(entry && entry.answered)); // an unanswered item is left for later (skip)
    return;
  }
  if (state.items.some((i) => i.position === p + 1)) { await goTo(p + 1); return; }
  if (state.frontier !== null) { await loadNext(false); return; }
  openFinishDialog("You have reached the last question.");
}

async function linearPrev() {
  const p = state.item.position;
  if (p > 1) await goTo(p - 1);
}

function reviewStatus(position) {
  const marked = state.items.filter((i) => i.marked).map((i) => i.position).sort((a, b) => a - b);
  return `Reviewing marked questions: ${marked.indexOf(position) + 1} of ${marked.length}.`;
}

async function startReview() {
  const marked = state.items.filter((i) => i.marked).sort((a, b) => a.position - b.position);
  if (!marked.length) { $("review-status").textContent = "No question is marked."; return; }
  state.review = true;
  $("review-status").textContent = reviewStatus(marked[0].position);
  await goTo(marked[0].position);
}
$("review-marked").addEventListener("click", () => once(startReview));

// ---------------------------------------------------------------- finish
function openFinishDialog(reason) {
  const dlg = $("finish-dialog");
  if (dlg.open) return;
  const n = state.linear ? (state.numQuestions || state.quiz.num_questions) : state.quiz.num_questions;
  let answered, marked, unreached = 0;
  if (state.linear) {
    answered = state.items.filter((i) => i.answered).length;
    marked = state.items.filter((i) => i.marked).length;
    unreached = n - state.items.length;
  } else {
    answered = state.answeredCount ?? 0;
    marked = 0;
  }
  const unanswered = n - answered;
  const what = state.quiz.mode === "exam" ? "exam" : "quiz";
  $("finish-title").textContent = `Finish this ${what}?`;
  $("finish-confirm").textContent = `Finish ${what}`;
  const counts = $("finish-counts");
  if (state.linear) {
    counts.replaceChildren(
      el("strong", "count-unanswered", `${unanswered} unanswered`), document.createTextNode(" · "),
      el("strong", "count-marked", `${marked} marked for review`), document.createTextNode(` · ${answered} of ${n} answered`));
    $("finish-hint").textContent = [reason, unreached ? `${unreached} question${unreached === 1 ? " was" : "s were"} not reached yet.` : "",
      unanswered ? "A question seen but left unanswered counts as incorrect; questions not reached are not scored." : "",
      "After finishing, answers can no longer change."].filter(Boolean).join(" ");
  } else {
    counts.replaceChildren(el("strong", "count-unanswered", `${unanswered} unanswered`), document.createTextNode(` · ${answered} of ${n} answered`));
    $("finish-hint").textContent = [reason, "The report shows your score and, for exams, the full review."].filter(Boolean).join(" ");
  }
  $("finish-review").hidden = !state.linear || marked === 0;
  dlg.returnValue = "";
  dlg.showModal();
  $("finish-cancel").focus();
}

$("finish-dialog").addEventListener("close", () => {
  const v = $("finish-dialog").returnValue;
  if (v === "finish") finish();
  else if (v === "review") once(startReview);
});

async function finish() {
  clearInterval(state.timer);
  try {
    const report = await api("POST", `/v1/quizzes/${state.quiz.id}/finish`);
    openReport(report);
  } catch (e) { $("quiz-error").textContent = e.message; }
}
$("finish-quiz").addEventListener("click", async () => {
  if (state.linear) await refreshItems();
  else {
    try { state.answeredCount = (await api("GET", `/v1/quizzes/${state.quiz.id}`)).answered; } catch (_) { /* the count stays as last known */ }
  }
  openFinishDialog("");
});

document.addEventListener("keydown", (ev) => {
  if ($("view-quiz").hidden || $("finish-dialog").open) return;
  if (ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toUpperCase();
  const labels = state.item ? state.item.options.map((o) => o.label) : [];
  if (/^[1-9]$/.test(k) && labels[Number(k) - 1]) { choose(labels[Number(k) - 1]); ev.preventDefault(); }
  else if (labels.includes(k) && k !== "M") { choose(k); ev.preventDefault(); }
  else if (k === "M") { toggleMark(); ev.preventDefault(); }
  else if (k === "ENTER") {
    ev.preventDefault();
    if (state.linear) once((state.selected && state.selected !== state.saved) ? saveLinearAnswer : linearNext);
    else once(state.answered ? loadNext : submitAnswer);
  } else if (state.linear && k === "ARROWRIGHT") { ev.preventDefault(); once(linearNext); }
  else if (state.linear && k === "ARROWLEFT") { ev.preventDefault(); once(linearPrev); }
});

// ---------------------------------------------------------------- report
async function showReport(id) { openReport(await api("GET", `/v1/quizzes/${id}/report`)); }

function openReport(r) {
  clearInterval(state.timer);
  show("report");
  renderReport(r);
}

$("back-home").addEventListener("click", () => home().catch((e) => { $("start-error").textContent = e.message; }));

// ---------------------------------------------------------------- start
(function init() {
  const saved = sessionStorage.getItem("qbank");
  if (saved) {
    try {
      const { token, user } = JSON.parse(saved);
      session.token = token; state.user = user;
      home().catch(logout);
      return;
    } catch (_) { /* fall through */ }
  }
  show("login");
})();
