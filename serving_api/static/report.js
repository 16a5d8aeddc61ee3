// The score report of a sealed quiz: scores, results by topic and the review. Stems, options and
// rationales are server-sanitized HTML; everything else is text.
import { $, el } from "./dom.js";
import { topicLabel } from "./topics.js";

export function renderReport(r) {
  $("r-scaled").textContent = r.scaled_score ?? "—";
  $("r-raw").textContent = `${r.raw_score} / ${r.num_scored}`;
  $("r-theta").textContent = `${r.theta.toFixed(2)} ± ${r.se.toFixed(2)}`;
  $("r-status").textContent = r.status.replace("_", " ");
  $("r-topics").replaceChildren(...r.per_topic.map((t) => {
    const wrap = el("div"); const head = el("div", "perf-row");
    head.append(el("span", "topic-path", topicLabel(t)), el("span", "muted", `${t.correct}/${t.served}`));
    const bar = el("div", "bar"); const fill = el("div"); fill.style.width = `${Math.round(100 * (t.accuracy || 0))}%`; bar.append(fill);
    wrap.append(head, bar); return wrap;
  }));
  $("r-review").replaceChildren(...r.review.map((it) => {
    const box = el("div", "review-item"); box.dataset.position = it.position;
    const head = el("div", "meta");
    head.append(el("strong", "", `#${it.position}`), el("span", "pill", topicLabel(it.topic)),
      it.is_pretest ? el("span", "badge pre", "pretest · unscored") : el("span", `badge ${it.correct ? "ok" : "bad"}`, it.correct ? "correct" : it.selected ? "incorrect" : "unanswered"));
    if (it.marked) head.append(el("span", "badge marked", "★ marked"));
    if (it.selected) head.append(el("span", "muted your-answer", `your answer: ${it.selected}`));
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
