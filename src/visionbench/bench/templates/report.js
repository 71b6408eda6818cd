{% raw %}
// visionbench report: sortable tables, task/dataset/model filters, a family toggle across every
// table and plot, and SVG plots drawn from the embedded JSON with values on hover. No network.
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f"];
  var familyKeys = Object.keys(DATA.families);
  function colour(family) {
    var i = familyKeys.indexOf(family);
    return PALETTE[(i < 0 ? familyKeys.length : i) % PALETTE.length];
  }
  function fmt(v) {
    if (v === null || v === undefined) { return "–"; }
    return Math.abs(v) >= 1000 || v === Math.round(v) ? String(Math.round(v * 1000) / 1000)
      : Number(v).toPrecision(4);
  }
  function tick(v) { return String(Number(Number(v).toPrecision(3))); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }

  // tooltip -------------------------------------------------------------------------------------
  var tip = document.getElementById("tooltip");
  function hover(node, text) {
    el("title", {}, node).textContent = text;
    node.addEventListener("mouseenter", function (ev) {
      tip.textContent = text;
      tip.classList.remove("hidden");
      tip.style.left = (ev.clientX + 12) + "px";
      tip.style.top = (ev.clientY + 12) + "px";
    });
    node.addEventListener("mouseleave", function () { tip.classList.add("hidden"); });
  }

  // plots ---------------------------------------------------------------------------------------
  var W = 600, H = 360, M = {l: 64, r: 16, t: 28, b: 46};
  function scale(lo, hi, a, b) {
    if (!(hi > lo)) { hi = lo + 1; lo = lo - 1; }
    var pad = (hi - lo) * 0.08;
    lo -= pad; hi += pad;
    var f = function (v) { return a + (v - lo) / (hi - lo) * (b - a); };
    f.ticks = [0, 1, 2, 3, 4].map(function (i) { return lo + (hi - lo) * i / 4; });
    return f;
  }
  function axes(svg, x, y, xlabel, ylabel, title) {
    el("line", {x1: M.l, y1: H - M.b, x2: W - M.r, y2: H - M.b, stroke: "#666"}, svg);
    el("line", {x1: M.l, y1: M.t, x2: M.l, y2: H - M.b, stroke: "#666"}, svg);
    x.ticks.forEach(function (v) {
      var t = el("text", {x: x(v), y: H - M.b + 16, "text-anchor": "middle", "font-size": 11}, svg);
      t.textContent = tick(v);
    });
    y.ticks.forEach(function (v) {
      var t = el("text", {x: M.l - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11}, svg);
      t.textContent = tick(v);
      el("line", {x1: M.l, y1: y(v), x2: W - M.r, y2: y(v), stroke: "#eee"}, svg);
    });
    var xl = el("text", {x: (M.l + W - M.r) / 2, y: H - 8, "text-anchor": "middle", "font-size": 12}, svg);
    xl.textContent = xlabel;
    var yl = el("text", {x: 14, y: (M.t + H - M.b) / 2, "text-anchor": "middle", "font-size": 12,
                         transform: "rotate(-90 14 " + (M.t + H - M.b) / 2 + ")"}, svg);
    yl.textContent = ylabel;
    var tt = el("text", {x: M.l, y: 18, "font-size": 13, "font-weight": "bold"}, svg);
    tt.textContent = title;
  }
  function dominated(p, all, better) {
    return all.some(function (q) {
      return q !== p && q.x <= p.x && better(q.y, p.y, true) && (q.x < p.x || better(q.y, p.y, false));
    });
  }
  // A point's name beside it: above-right, above-left, below-right or below-left, the first
  // that stays inside the plot and clear of the names already placed (two models at the same
  // latency wrote over each other; a long name at the right edge was cut). The width is
  // estimated (0.6 em a character): the SVG is not in the page yet, so it cannot be measured.
  function placeLabel(px, py, text, placed) {
    var w = text.length * 6.6, h = 12, tries = [];
    [[-8, 1], [-8, -1], [18, 1], [18, -1]].forEach(function (t) {
      var right = t[1] > 0, x0 = right ? px + 9 : px - 9 - w;
      tries.push({x: right ? px + 9 : px - 9, y: py + t[0], anchor: right ? "start" : "end",
                  box: [x0, py + t[0] - h + 2, x0 + w, py + t[0] + 2]});
    });
    var clear = function (b) {
      return b[0] >= 0 && b[2] <= W && b[1] >= M.t - 12 && b[3] <= H - M.b + 4 &&
        placed.every(function (o) { return b[2] <= o[0] || b[0] >= o[2] || b[3] <= o[1] || b[1] >= o[3]; });
    };
    var inside = tries.filter(function (t) { return t.box[0] >= 0 && t.box[2] <= W; });
    var best = tries.filter(function (t) { return clear(t.box); })[0] || inside[0] || tries[0];
    placed.push(best.box);
    return best;
  }
  function scatter(div, board) {
    var key = div.getAttribute("data-x");
    var pts = board.rows.filter(function (r) { return r[key] !== null && r.value !== null; })
      .map(function (r) { return {x: r[key], y: r.value, row: r}; });
    if (pts.length < 2) { div.classList.add("hidden"); return; }
    var better = function (a, b, orEqual) {
      if (board.higher_is_better) { return orEqual ? a >= b : a > b; }
      return orEqual ? a <= b : a < b;
    };
    var xs = pts.map(function (p) { return p.x; }), ys = pts.map(function (p) { return p.y; });
    var x = scale(Math.min.apply(null, xs), Math.max.apply(null, xs), M.l, W - M.r);
    var y = scale(Math.min.apply(null, ys), Math.max.apply(null, ys), H - M.b, M.t);
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
    axes(svg, x, y, div.getAttribute("data-xlabel"), board.metric,
         board.task + " on " + board.setting + ": " + board.metric +
         (board.higher_is_better ? "" : " (lower is better)"));
    var placed = [];
    pts.forEach(function (p) {
      var g = el("g", {"data-family": p.row.family, "class": "pt"}, svg);
      if (!dominated(p, pts, better)) {
        el("circle", {cx: x(p.x), cy: y(p.y), r: 10, fill: "none", stroke: "#333"}, g);
      }
      el("circle", {cx: x(p.x), cy: y(p.y), r: 6, fill: colour(p.row.family)}, g);
      var at = placeLabel(x(p.x), y(p.y), p.row.model, placed);
      var label = el("text", {x: at.x, y: at.y, "font-size": 11, "text-anchor": at.anchor}, g);
      label.textContent = p.row.model;
      hover(g, p.row.model + " (" + (DATA.families[p.row.family] || p.row.family) + "): " +
            board.metric + " " + fmt(p.y) + ", " + div.getAttribute("data-xlabel") + " " + fmt(p.x));
    });
    div.appendChild(svg);
  }
  function curves(div, board) {
    if (!board.curves.length) { div.classList.add("hidden"); return; }
    var all = [];
    board.curves.forEach(function (c) { all = all.concat(c.points); });
    var xs = all.map(function (p) { return p[0]; }), ys = all.map(function (p) { return p[1]; });
    var x = scale(Math.min.apply(null, xs), Math.max.apply(null, xs), M.l, W - M.r);
    var last = Math.max.apply(null, xs), step = Math.max(1, Math.ceil(last / 6));
    x.ticks = [];
    for (var e = Math.min.apply(null, xs); e <= last; e += step) { x.ticks.push(e); }
    var y = scale(Math.min.apply(null, ys), Math.max.apply(null, ys), H - M.b, M.t);
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H, role: "img"});
    axes(svg, x, y, "epoch", "validation " + board.metric,
         board.task + " on " + board.setting + ": validation curve");
    board.curves.forEach(function (c, i) {
      var g = el("g", {"data-family": c.family}, svg);
      var key = el("text", {x: W - M.r - 4, y: M.t + 14 + 14 * i, "text-anchor": "end",
                            "font-size": 11, fill: colour(c.family)}, g);
      key.textContent = c.model;
      var d = c.points.map(function (p, i) { return (i ? "L" : "M") + x(p[0]) + " " + y(p[1]); });
      el("path", {d: d.join(" "), fill: "none", stroke: colour(c.family), "stroke-width": 2}, g);
      c.points.forEach(function (p) {
        var dot = el("circle", {cx: x(p[0]), cy: y(p[1]), r: 4, fill: colour(c.family), "class": "pt"}, g);
        hover(dot, c.model + ", epoch " + fmt(p[0]) + ": validation " + board.metric + " " + fmt(p[1]));
      });
    });
    div.appendChild(svg);
  }
  var boards = {};
  DATA.boards.forEach(function (b) { boards[b.id] = b; });
  Array.prototype.forEach.call(document.querySelectorAll(".chart"), function (div) {
    var board = boards[div.getAttribute("data-board")];
    if (!board) { return; }
    if (div.getAttribute("data-kind") === "curve") { curves(div, board); } else { scatter(div, board); }
  });

  // sorting -------------------------------------------------------------------------------------
  function sortKey(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    var n = parseFloat(raw);
    return isNaN(n) ? {num: false, v: raw.trim().toLowerCase()} : {num: true, v: n};
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.querySelectorAll("thead th");
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > col; });
        rows.sort(function (a, b) {
          var ka = sortKey(a.cells[col]), kb = sortKey(b.cells[col]);
          var c = ka.num && kb.num ? ka.v - kb.v : String(ka.v).localeCompare(String(kb.v));
          if (ka.num !== kb.num) { c = ka.num ? -1 : 1; }  // numbers before blanks either way
          return asc || ka.num !== kb.num ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });

  // filters and the family toggle -----------------------------------------------------------------
  var task = document.getElementById("f-task"), dataset = document.getElementById("f-dataset");
  var text = document.getElementById("f-text"), count = document.getElementById("f-count");
  var boxes = Array.prototype.slice.call(document.querySelectorAll(".f-family"));
  function apply() {
    var on = {};
    boxes.forEach(function (b) { on[b.value] = b.checked; });
    var t = task.value, d = dataset.value, q = text.value.trim().toLowerCase();
    function keep(node) {
      var fam = node.getAttribute("data-family");
      if (fam && fam in on && !on[fam]) { return false; }
      if (t && node.hasAttribute("data-task") && node.getAttribute("data-task") !== t) { return false; }
      if (d && node.hasAttribute("data-dataset") && node.getAttribute("data-dataset") !== d) { return false; }
      if (q && node.hasAttribute("data-model") && node.getAttribute("data-model").toLowerCase().indexOf(q) < 0) { return false; }
      return true;
    }
    Array.prototype.forEach.call(
      document.querySelectorAll("[data-family], section.board, figure[data-task]"),
      function (node) { node.classList.toggle("hidden", !keep(node)); });
    var shown = document.querySelectorAll("table.leaderboard tbody tr:not(.hidden)").length;
    var total = document.querySelectorAll("table.leaderboard tbody tr").length;
    count.textContent = shown + " of " + total + " leaderboard rows shown";
  }
  [task, dataset].forEach(function (s) { s.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  boxes.forEach(function (b) { b.addEventListener("change", apply); });
  document.getElementById("f-all").addEventListener("click", function () {
    boxes.forEach(function (b) { b.checked = true; }); apply();
  });
  document.getElementById("f-none").addEventListener("click", function () {
    boxes.forEach(function (b) { b.checked = false; }); apply();
  });
  apply();
}());
{% endraw %}
