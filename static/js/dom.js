// A tiny DOM builder: h("div.card", {dataset: {testid: "x"}}, child, "text").

export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split(".");
  const node = document.createElement(name || "div");
  if (classes.length) node.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = [node.className, v].filter(Boolean).join(" ");
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function sportChip(sport) {
  const s = String(sport || "");
  return h(`span.sport.sport-${s.toLowerCase()}`, { dataset: { testid: "sport" } }, s);
}

export function stat(label, value, testid) {
  return h(
    "div.stat",
    h("div.stat-value", { dataset: testid ? { testid } : {} }, value),
    h("div.stat-label", label),
  );
}
