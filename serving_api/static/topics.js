// The tenant's topic tree (GET /v1/topics), so that every place naming a topic shows its path.
const topics = new Map(); // id → {id, name, parent_id, path_name}

export function setTopics(list) {
  topics.clear();
  for (const t of list) topics.set(t.id, t);
}

export function hasTopic(id) { return topics.has(Number(id)); }

// Every topic as {id, label: its path}, sorted by the path.
export function topicChoices() {
  return [...topics.values()].map((t) => ({ id: t.id, label: pathOf(t.id) })).sort((a, b) => a.label.localeCompare(b.label));
}

// The page keeps the tenant's topic tree (GET /v1/topics) so every place that names a topic can
// show its path: "Pharmacology" exists under several parents.
export function pathOf(id) {
  const t = topics.get(Number(id));
  if (!t) return null;
  if (t.path_name) return t.path_name;
  const names = [];
  for (let cur = t, guard = 0; cur && guard < 32; cur = topics.get(cur.parent_id), guard++) names.unshift(cur.name);
  return names.join(" › ");
}

// An API object that names a topic: {topic_id, topic_name, topic_path} or {id, name, path}.
export function topicLabel(obj) {
  if (!obj) return "";
  const given = obj.topic_path ?? obj.path_name ?? obj.path;
  if (typeof given === "string" && given.includes("›")) return given;
  return pathOf(obj.topic_id ?? obj.id) ?? obj.topic_name ?? obj.name ?? "";
}
