// The start form: exam, mode, order, length, filters and the blueprint quota builder. The API's
// 422s are shown next to the field they concern.
import { ApiFailure, api } from "./api.js";
import { $, el } from "./dom.js";
import { hasTopic, pathOf, topicChoices } from "./topics.js";

export function updateAdaptiveNote() {
  const exam = document.querySelector("input[name=mode]:checked").value === "exam";
  const adaptive = document.querySelector("input[name=order]:checked").value === "adaptive";
  $("adaptive-exam-note").hidden = !(exam && adaptive);
}
for (const r of document.querySelectorAll("input[name=mode], input[name=order]")) r.addEventListener("change", updateAdaptiveNote);

function fillTopicSelect(sel, value) {
  const blank = el("option", "", "choose a topic…"); blank.value = "";
  sel.replaceChildren(blank, ...topicChoices().map((t) => { const o = el("option", "", t.label); o.value = t.id; return o; }));
  sel.value = value && hasTopic(value) ? String(value) : "";
}

// After the topics were (re)loaded: the chips and every quota row's list, choices kept.
export function showTopics() {
  const pressed = new Set([...document.querySelectorAll(".chip[aria-pressed=true]")].map((b) => b.dataset.id));
  $("topic-chips").replaceChildren(...topicChoices().map((t) => {
    const b = el("button", "chip", t.label);
    b.type = "button"; b.dataset.id = t.id; b.setAttribute("aria-pressed", pressed.has(String(t.id)) ? "true" : "false");
    b.addEventListener("click", () => b.setAttribute("aria-pressed", b.getAttribute("aria-pressed") === "true" ? "false" : "true"));
    return b;
  }));
  for (const sel of document.querySelectorAll(".quota-topic")) fillTopicSelect(sel, sel.value);
}

function addQuotaRow(topicId = "", count = 1) {
  const row = el("div", "quota-row");
  const sel = el("select", "quota-topic"); sel.setAttribute("aria-label", "quota topic");
  fillTopicSelect(sel, topicId);
  const n = el("input", "quota-count"); n.type = "number"; n.min = "1"; n.max = "120"; n.value = String(count);
  n.setAttribute("aria-label", "number of questions");
  const rm = el("button", "ghost small quota-remove", "Remove"); rm.type = "button";
  rm.addEventListener("click", () => row.remove());
  row.append(sel, n, rm);
  $("quota-rows").append(row);
  return row;
}
$("quota-add").addEventListener("click", () => addQuotaRow().querySelector("select").focus());

const FIELD_ERRORS = { exam: "err-exam", length: "err-length", topics: "err-topics", difficulty: "err-difficulty", seen: "err-seen", quota: "err-quota" };

function clearStartErrors() {
  $("start-error").textContent = "";
  for (const id of Object.values(FIELD_ERRORS)) $(id).textContent = "";
  for (const e of document.querySelectorAll("#start-form .invalid")) e.classList.remove("invalid");
}

// Which start-form field an API message concerns. Pydantic's 422s name a field (`errors[].field`,
// from `loc`); a model-level check ("body") and the API's own 422s only have a message, so the
// message decides: one that names the quota belongs to the quota builder, and so on.
function fieldOf(field, message) {
  const head = (field || "").split(".")[0];
  const byField = { quota: "quota", topics: "topics", difficulty: "difficulty", num_questions: "length",
    exam_code: "exam", only_unseen: "seen", only_previously_incorrect: "seen" };
  if (byField[head]) return byField[head];
  const m = message.toLowerCase();
  if (m.includes("quota")) return "quota";
  if (m.includes("only_unseen") || m.includes("only_previously_incorrect")) return "seen";
  if (/\btopics?\b/.test(m)) return "topics";
  if (m.includes("difficulty")) return "difficulty";
  if (m.includes("num_questions")) return "length";
  if (m.includes("exam code")) return "exam";
  return null;
}

function showStartError(field, message) {
  const text = message.replace(/^Value error, /, "");
  const id = FIELD_ERRORS[field];
  if (!id) { $("start-error").textContent = text; return; }
  const box = $(id);
  box.textContent = box.textContent ? `${box.textContent} ${text}` : text;
  (field === "quota" ? $("quota") : box.previousElementSibling)?.classList.add("invalid");
}

function startBody() {
  const quota = {};
  const rows = [...document.querySelectorAll(".quota-row")];
  const problems = [];
  for (const row of rows) {
    const tid = row.querySelector(".quota-topic").value;
    const count = Number(row.querySelector(".quota-count").value);
    if (!tid) { problems.push("choose a topic in every quota row (or remove the row)"); continue; }
    if (quota[tid] !== undefined) { problems.push(`${pathOf(tid)} is in two quota rows: give it one count`); continue; }
    quota[tid] = Number.isInteger(count) ? count : row.querySelector(".quota-count").value;
  }
  const seen = document.querySelector("input[name=seen]:checked").value;
  const body = {
    exam_code: $("exam-code").value,
    mode: document.querySelector("input[name=mode]:checked").value,
    adaptive: document.querySelector("input[name=order]:checked").value === "adaptive",
    num_questions: Number($("num-questions").value),
    topics: [...document.querySelectorAll(".chip[aria-pressed=true]")].map((b) => Number(b.dataset.id)),
    difficulty: [...document.querySelectorAll("input[name=difficulty]:checked")].map((c) => c.value),
    only_unseen: seen === "only_unseen",
    only_previously_incorrect: seen === "only_previously_incorrect",
  };
  if (Object.keys(quota).length) body.quota = quota;
  return { body, problems };
}

// `onStarted(quiz)` opens the quiz the API created.
export function initStartForm(onStarted) {
  $("start-form").addEventListener("submit", (ev) => { ev.preventDefault(); submit(onStarted); });
}

async function submit(onStarted) {
  clearStartErrors();
  const { body, problems } = startBody();
  if (problems.length) { for (const p of problems) showStartError("quota", p); return; }
  try {
    await onStarted(await api("POST", "/v1/quizzes", body));
  } catch (e) {
    const errors = e instanceof ApiFailure && e.status === 422 ? e.fields : null;
    if (errors) { for (const x of errors) showStartError(fieldOf(x.field, x.message), x.message); }
    else if (e instanceof ApiFailure && e.status === 422) showStartError(fieldOf(null, e.message), e.message);
    else $("start-error").textContent = e.message;
  }
}
