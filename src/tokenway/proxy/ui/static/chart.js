// Bar charts as SVG, drawn here from a series of buckets: no library, no inline style.

const NS = "http://www.w3.org/2000/svg";
const W = 600, H = 200, PAD_L = 112, PAD_B = 30, PAD_T = 14;

function svg(tag, attrs = {}) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

// buckets: [{t, value, bad?}], from start to end (epoch s), width: bucket seconds
export function barChart({ title, series, start, end, width, value, bad = null, format }) {
  // start is a bucket's start; the last slot is the bucket that holds end (now)
  const slots = Math.max(1, Math.floor((end - start) / width) + 1);
  const byTime = new Map(series.map((p) => [Math.round(p.t), p]));
  const points = [];
  for (let i = 0; i < slots; i++) {
    const t = start + i * width;
    const p = byTime.get(Math.round(t));
    points.push({ t, v: p ? value(p) : 0, b: p && bad ? bad(p) : 0 });
  }
  const max = Math.max(...points.map((p) => p.v), 0);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  const titleEl = svg("title");
  titleEl.textContent = title;
  root.append(titleEl);
  const plotW = W - PAD_L, plotH = H - PAD_B - PAD_T;
  root.append(svg("line", { class: "axis", x1: PAD_L, y1: H - PAD_B, x2: W, y2: H - PAD_B }));
  const top = svg("text", { x: PAD_L - 6, y: PAD_T + 6, "text-anchor": "end" });
  top.textContent = format(max);
  const zero = svg("text", { x: PAD_L - 6, y: H - PAD_B, "text-anchor": "end" });
  zero.textContent = format(0);
  root.append(top, zero);
  const step = plotW / slots;
  points.forEach((p, i) => {
    const hgt = max > 0 ? (p.v / max) * plotH : 0;
    const x = PAD_L + i * step + step * 0.12;
    const bar = svg("rect", { class: "bar", x, y: H - PAD_B - hgt, width: step * 0.76, height: hgt });
    const tip = svg("title");
    tip.textContent = `${new Date(p.t * 1000).toISOString().slice(0, 16).replace("T", " ")}: ${format(p.v)}`;
    bar.append(tip);
    root.append(bar);
    if (p.b > 0 && max > 0) {
      const bh = (p.b / max) * plotH;
      root.append(svg("rect", { class: "bar err", x, y: H - PAD_B - bh, width: step * 0.76, height: bh }));
    }
  });
  const label = (t, x, anchor) => {
    const el = svg("text", { x, y: H - 4, "text-anchor": anchor });
    el.textContent = new Date(t * 1000).toISOString().slice(5, width >= 86400 ? 10 : 16).replace("T", " ");
    root.append(el);
  };
  label(start, PAD_L, "start");
  label(start + (slots - 1) * width, W, "end");
  return root;
}

export function meter(share) {
  const used = Math.max(0, Math.min(1, share || 0));
  const root = svg("svg", { viewBox: "0 0 100 10", preserveAspectRatio: "none", "aria-hidden": "true" });
  root.append(svg("rect", { class: "fill" + (used >= 0.9 ? " high" : ""), x: 0, y: 0, width: 100 * used, height: 10 }));
  const wrap = document.createElement("div");
  wrap.className = "meter";
  wrap.append(root);
  return wrap;
}
