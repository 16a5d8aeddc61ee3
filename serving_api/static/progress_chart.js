// The dashboard's progress chart: accuracy and mean scaled score by week, drawn by hand as
// inline SVG (no chart library, no CDN). Every label is set with textContent.
const SVG_NS = "http://www.w3.org/2000/svg";

function textParagraph(cls, text) {
  const p = document.createElement("p");
  p.className = cls;
  p.textContent = text;
  return p;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function weekLabel(iso) {
  const d = new Date(`${iso}T00:00:00Z`);
  return d.toLocaleDateString("en", { month: "short", day: "numeric", timeZone: "UTC" });
}

// Two series on one time axis: accuracy (0–100 %, left axis) and the mean scaled score of the
// quizzes finished that week (200–800, right axis). A week without a value leaves a gap.
export function drawProgress(box, weeks) {
  if (!weeks.length) {
    box.replaceChildren(textParagraph("muted empty", "No answers yet for this selection. Your weekly accuracy and scaled score appear here once you answer questions."));
    return;
  }
  const W = 960, H = 280, m = { l: 56, r: 60, t: 34, b: 44 };
  const iw = W - m.l - m.r, ih = H - m.t - m.b;
  // x by date, so weeks without answers (absent from the list) keep their width.
  const day = (w) => Date.parse(`${w.week_start}T00:00:00Z`) / 86_400_000;
  const first = day(weeks[0]), span = day(weeks[weeks.length - 1]) - first;
  const inset = 22; // keeps the first and last points off the axes
  const x = (i) => m.l + (span === 0 ? iw / 2 : inset + ((day(weeks[i]) - first) * (iw - 2 * inset)) / span);
  const yAcc = (a) => m.t + ih * (1 - a);
  const yScaled = (s) => m.t + ih * (1 - (s - 200) / 600);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "progress-svg", "aria-labelledby": "progress-svg-title" });
  root.append(svg("title", { id: "progress-svg-title" }, `Accuracy and scaled score by week, ${weeks.length} week${weeks.length === 1 ? "" : "s"}`));
  const grid = svg("g", { class: "grid" });
  for (let k = 0; k <= 4; k++) {
    const y = m.t + (ih * k) / 4;
    grid.append(svg("line", { x1: m.l, x2: W - m.r, y1: y, y2: y }));
    grid.append(svg("text", { x: m.l - 8, y: y + 4, "text-anchor": "end", class: "tick acc" }, `${100 - 25 * k}%`));
    grid.append(svg("text", { x: W - m.r + 8, y: y + 4, "text-anchor": "start", class: "tick scaled" }, String(800 - 150 * k)));
  }
  root.append(grid);
  const axes = svg("g", { class: "axes" });
  axes.append(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: m.t + ih }), svg("line", { x1: W - m.r, x2: W - m.r, y1: m.t, y2: m.t + ih }),
    svg("line", { x1: m.l, x2: W - m.r, y1: m.t + ih, y2: m.t + ih }));
  axes.append(svg("text", { x: 14, y: m.t + ih / 2, transform: `rotate(-90 14 ${m.t + ih / 2})`, "text-anchor": "middle", class: "axis-title acc" }, "accuracy"));
  axes.append(svg("text", { x: W - 12, y: m.t + ih / 2, transform: `rotate(90 ${W - 12} ${m.t + ih / 2})`, "text-anchor": "middle", class: "axis-title scaled" }, "scaled score"));
  const every = Math.max(1, Math.ceil(weeks.length / 10)); // at most ~10 date labels
  weeks.forEach((w, i) => {
    if (i % every === 0 || i === weeks.length - 1) {
      axes.append(svg("text", { x: x(i), y: H - m.b + 18, "text-anchor": "middle", class: "tick" }, weekLabel(w.week_start)));
    }
  });
  axes.append(svg("text", { x: m.l + iw / 2, y: H - 6, "text-anchor": "middle", class: "axis-title" }, "week starting"));
  root.append(axes);

  const series = (key, y, cls, fmt) => {
    const g = svg("g", { class: `series ${cls}` });
    let run = [];
    const flush = () => { if (run.length > 1) g.append(svg("polyline", { points: run.join(" "), fill: "none" })); run = []; };
    weeks.forEach((w, i) => {
      const v = w[key];
      // A week without a value, or a missing week in between, breaks the line.
      if (v === null || v === undefined || (i > 0 && day(w) - day(weeks[i - 1]) > 7)) flush();
      if (v !== null && v !== undefined) run.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    flush();
    weeks.forEach((w, i) => {
      const v = w[key];
      if (v === null || v === undefined) return;
      const dot = svg("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 4.5 });
      dot.append(svg("title", {}, `week of ${w.week_start}: ${fmt(v)} (${w.answered} answered, ${w.quizzes} quiz${w.quizzes === 1 ? "" : "zes"})`));
      g.append(dot);
    });
    return g;
  };
  root.append(series("accuracy", yAcc, "acc", (v) => `${Math.round(v * 100)}% correct`));
  root.append(series("mean_scaled_score", yScaled, "scaled", (v) => `mean scaled score ${Math.round(v)}`));
  const legend = svg("g", { class: "legend", transform: `translate(${m.l}, 14)` });
  legend.append(svg("line", { x1: 0, x2: 22, y1: 0, y2: 0, class: "acc" }), svg("text", { x: 28, y: 4 }, "accuracy (left axis)"),
    svg("line", { x1: 190, x2: 212, y1: 0, y2: 0, class: "scaled" }), svg("text", { x: 218, y: 4 }, "mean scaled score of finished quizzes (right axis)"));
  root.append(legend);
  box.replaceChildren(root);
}
