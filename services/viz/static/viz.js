// Draws the chart of a viz page from its data endpoint, and exports it as SVG or PNG.
// Styling goes through SVG attributes only: the CSP forbids inline styles and scripts.
(function () {
  "use strict";
  const figure = document.getElementById("chart");
  if (!figure) return;
  const status = document.getElementById("chart-status");
  const W = 960, H = 360, M = {top: 20, right: 20, bottom: 40, left: 56};
  const palette = d3.schemeTableau10;
  const parseDay = d3.utcParse("%Y-%m-%d");

  function svgRoot(width, height) {
    return d3.select(figure).append("svg")
      .attr("xmlns", "http://www.w3.org/2000/svg")
      .attr("width", width).attr("height", height)
      .attr("viewBox", `0 0 ${width} ${height}`).attr("role", "img");
  }

  function axes(g, x, y, height, width) {
    g.append("g").attr("transform", `translate(0,${height})`).call(d3.axisBottom(x).ticks(Math.min(10, width / 80)));
    g.append("g").call(d3.axisLeft(y).ticks(6));
  }

  function legend(svg, names, color, x0) {
    const g = svg.append("g").attr("transform", `translate(${x0},4)`);
    names.forEach((name, i) => {
      const item = g.append("g").attr("transform", `translate(${(i % 6) * 120},${Math.floor(i / 6) * 14})`);
      item.append("rect").attr("width", 10).attr("height", 10).attr("fill", color(name));
      item.append("text").attr("x", 14).attr("y", 9).text(name);
    });
    return Math.ceil(names.length / 6) * 14;
  }

  function stackedBars(rows, keys, dateKey, extra) {
    const top = M.top + Math.ceil(keys.length / 6) * 14;
    const svg = svgRoot(W, H);
    const color = d3.scaleOrdinal(keys, palette);
    legend(svg, keys, color, M.left);
    const width = W - M.left - M.right, height = H - top - M.bottom;
    const g = svg.append("g").attr("transform", `translate(${M.left},${top})`);
    const dates = rows.map(r => parseDay(r[dateKey]));
    const extraDates = (extra || []).map(p => parseDay(p.week_start));
    const all = dates.concat(extraDates);
    const step = rows.length > 1 ? (dates[1] - dates[0]) : 7 * 864e5;
    const x = d3.scaleUtc().domain([d3.min(all), new Date(+d3.max(all) + step)]).range([0, width]);
    const series = d3.stack().keys(keys).value((r, k) => r.counts[k] || 0)(rows);
    const ymax = Math.max(d3.max(series.length ? series[series.length - 1] : [], d => d[1]) || 0,
                          d3.max(extra || [], p => p.high) || 0, 1);
    const y = d3.scaleLinear().domain([0, ymax]).nice().range([height, 0]);
    const bw = Math.max(1, x(new Date(+dates[0] + step)) - x(dates[0]) - 1);
    series.forEach(s => {
      g.append("g").attr("fill", color(s.key)).selectAll("rect").data(s).join("rect")
        .attr("x", (d, i) => x(dates[i])).attr("width", bw)
        .attr("y", d => y(d[1])).attr("height", d => Math.max(0, y(d[0]) - y(d[1])))
        .append("title").text((d, i) => `${rows[i][dateKey]} ${s.key}: ${d[1] - d[0]}`);
    });
    axes(g, x, y, height, width);
    return {g, x, y};
  }

  const draw = {
    activity(data) {
      const rows = data.weeks.map(w => ({week_start: w.week_start, counts: w.by_category}));
      const {g, x, y} = stackedBars(rows, data.categories, "week_start", data.forecast);
      if (!data.forecast.length) return;
      const pts = data.forecast.map(p => ({d: parseDay(p.week_start), ...p}));
      g.append("path").datum(pts).attr("fill", "#9ecae1").attr("fill-opacity", 0.5)
        .attr("d", d3.area().x(p => x(p.d)).y0(p => y(p.low)).y1(p => y(p.high)));
      g.append("path").datum(pts).attr("fill", "none").attr("stroke", "#08519c").attr("stroke-width", 2)
        .attr("stroke-dasharray", "5,3").attr("d", d3.line().x(p => x(p.d)).y(p => y(p.value)));
    },
    churn(data) {
      const svg = svgRoot(W, H);
      const width = W - M.left - M.right, height = H - M.top - M.bottom;
      const g = svg.append("g").attr("transform", `translate(${M.left},${M.top})`);
      const rows = data.weeks.map(w => ({d: parseDay(w.week_start), ...w}));
      const x = d3.scaleUtc().domain(d3.extent(rows, r => r.d)).range([0, width]);
      const m = d3.max(rows, r => Math.max(r.lines_added, r.lines_deleted)) || 1;
      const y = d3.scaleSymlog().domain([-m, m]).range([height, 0]);
      const bw = rows.length ? Math.max(1, x(new Date(+rows[0].d + 7 * 864e5)) - x(rows[0].d) - 1) : 1;
      x.domain([x.domain()[0], new Date(+x.domain()[1] + 7 * 864e5)]);
      g.selectAll("rect.add").data(rows).join("rect").attr("fill", "#2ca02c")
        .attr("x", r => x(r.d)).attr("width", bw).attr("y", r => y(r.lines_added))
        .attr("height", r => y(0) - y(r.lines_added)).append("title").text(r => `${r.week_start}: +${r.lines_added}`);
      g.selectAll("rect.del").data(rows).join("rect").attr("fill", "#d62728")
        .attr("x", r => x(r.d)).attr("width", bw).attr("y", y(0))
        .attr("height", r => y(-r.lines_deleted) - y(0)).append("title").text(r => `${r.week_start}: -${r.lines_deleted}`);
      axes(g, x, y, height, width);
      svg.append("text").attr("x", M.left + 8).attr("y", 14).text("lines added (up) / deleted (down) per week, log scale");
    },
    hotspots(data) {
      const svg = svgRoot(W, 520);
      const root = d3.hierarchy(data.tree).sum(d => d.children ? 0 : d.changes)
        .sort((a, b) => b.value - a.value);
      d3.treemap().size([W, 520]).paddingInner(1).paddingTop(d => d.depth ? 12 : 0).round(true)(root);
      const heat = d3.scaleSequentialLog(d3.interpolateYlOrRd).domain([1, (d3.max(data.files, f => f.churn) || 0) + 1]);
      const dirs = root.descendants().filter(d => d.children && d.depth);
      svg.selectAll("rect.dir").data(dirs).join("rect").attr("fill", "#e5e5e5").attr("stroke", "#bbb")
        .attr("x", d => d.x0).attr("y", d => d.y0).attr("width", d => d.x1 - d.x0).attr("height", d => d.y1 - d.y0);
      svg.selectAll("text.dir").data(dirs.filter(d => d.x1 - d.x0 > 40)).join("text")
        .attr("x", d => d.x0 + 2).attr("y", d => d.y0 + 10).attr("font-size", 9).text(d => d.data.name + "/");
      const leaves = svg.selectAll("g.leaf").data(root.leaves()).join("g")
        .attr("transform", d => `translate(${d.x0},${d.y0})`);
      leaves.append("rect").attr("width", d => Math.max(0, d.x1 - d.x0)).attr("height", d => Math.max(0, d.y1 - d.y0))
        .attr("fill", d => heat(d.data.churn + 1)).append("title")
        .text(d => `${d.data.path}: ${d.data.changes} changes, ${d.data.churn} lines churned`);
      leaves.filter(d => d.x1 - d.x0 > 50 && d.y1 - d.y0 > 14).append("text").attr("x", 3).attr("y", 11)
        .attr("font-size", 10).text(d => d.data.name);
    },
    ownership(data) {
      const dirs = data.directories.slice(0, 30);
      const rowH = 18, height = dirs.length * rowH, left = 200;
      const svg = svgRoot(W, height + M.top + M.bottom);
      const g = svg.append("g").attr("transform", `translate(${left},${M.top})`);
      const x = d3.scaleLinear().domain([0, 1]).range([0, W - left - 120]);
      const names = Array.from(new Set(dirs.flatMap(d => d.owners.map(o => o.email))));
      const color = d3.scaleOrdinal(names, palette);
      dirs.forEach((d, i) => {
        let acc = 0;
        const row = g.append("g").attr("transform", `translate(0,${i * rowH})`);
        row.append("text").attr("x", -6).attr("y", 12).attr("text-anchor", "end").text(d.directory);
        d.owners.forEach(o => {
          row.append("rect").attr("x", x(acc)).attr("width", Math.max(0, x(o.share) - 1)).attr("height", rowH - 3)
            .attr("fill", color(o.email)).append("title").text(`${d.directory}: ${o.name} ${(o.share * 100).toFixed(1)}%`);
          acc += o.share;
        });
        row.append("text").attr("x", x(1) + 8).attr("y", 12)
          .attr("fill", d.bus_factor === 1 ? "#b00" : "#333").text(`bus factor ${d.bus_factor}`);
      });
      g.append("g").attr("transform", `translate(0,${height})`).call(d3.axisBottom(x).tickFormat(d3.format(".0%")));
    },
    coupling(data) {
      const files = data.files.map(f => f.path);
      const n = files.length, cell = Math.max(8, Math.min(22, Math.floor(560 / Math.max(n, 1))));
      const left = 260, top = 20;
      const svg = svgRoot(left + n * cell + 20, top + n * cell + 20);
      const g = svg.append("g").attr("transform", `translate(${left},${top})`);
      const index = new Map(files.map((f, i) => [f, i]));
      const color = d3.scaleSequential(d3.interpolateBlues).domain([0, 1]);
      g.selectAll("rect.bg").data(files).join("rect").attr("x", 0).attr("y", (f, i) => i * cell)
        .attr("width", n * cell).attr("height", cell).attr("fill", (f, i) => i % 2 ? "#fafafa" : "#f0f0f0");
      const cells = data.pairs.flatMap(p => [
        {r: index.get(p.a), c: index.get(p.b), conf: p.confidence_a_to_b, p},
        {r: index.get(p.b), c: index.get(p.a), conf: p.confidence_b_to_a, p}]);
      g.selectAll("rect.cell").data(cells).join("rect").attr("x", d => d.c * cell).attr("y", d => d.r * cell)
        .attr("width", cell - 1).attr("height", cell - 1).attr("fill", d => color(d.conf))
        .append("title").text(d => `${d.p.a} & ${d.p.b}: support ${d.p.support}, confidence ${d.conf}`);
      g.selectAll("text.cell").data(cell >= 16 ? cells : []).join("text").attr("x", d => d.c * cell + cell / 2)
        .attr("y", d => d.r * cell + cell * 0.7).attr("text-anchor", "middle").attr("font-size", 9)
        .attr("fill", d => d.conf > 0.5 ? "#fff" : "#000").text(d => d.p.support);
      g.selectAll("text.row").data(files).join("text").attr("x", -6).attr("y", (f, i) => i * cell + cell * 0.7)
        .attr("text-anchor", "end").attr("font-size", 10).text(f => f.length > 40 ? "…" + f.slice(-39) : f);
    },
    "code-age"(data) {
      const svg = svgRoot(W, H);
      const width = W - M.left - M.right, height = H - M.top - M.bottom;
      const g = svg.append("g").attr("transform", `translate(${M.left},${M.top})`);
      const x = d3.scaleBand().domain(data.buckets.map(b => b.bucket)).range([0, width]).padding(0.15);
      const y = d3.scaleLinear().domain([0, d3.max(data.buckets, b => b.files) || 1]).nice().range([height, 0]);
      const color = d3.scaleSequential(d3.interpolateViridis).domain([0, data.buckets.length - 1]);
      g.selectAll("rect").data(data.buckets).join("rect").attr("x", b => x(b.bucket)).attr("width", x.bandwidth())
        .attr("y", b => y(b.files)).attr("height", b => height - y(b.files)).attr("fill", (b, i) => color(i))
        .append("title").text(b => `${b.bucket}: ${b.files} files`);
      axes(g, x, y, height, width);
    },
    mix(data) {
      const rows = data.months.map(m => ({month: m.month + "-01", counts: m.counts}));
      stackedBars(rows, data.names, "month", null);
    },
    calendar(data) {
      const counts = new Map(data.days.map(d => [d.day, d.commits]));
      const years = Array.from(new Set(data.days.map(d => +d.day.slice(0, 4))));
      const cell = 13, yearH = cell * 7 + 20, left = 40;
      const svg = svgRoot(left + 54 * cell, years.length * yearH + 10);
      const color = d3.scaleSequentialSqrt(d3.interpolateGreens).domain([0, d3.max(data.days, d => d.commits) || 1]);
      const fmt = d3.utcFormat("%Y-%m-%d");
      years.forEach((year, yi) => {
        const g = svg.append("g").attr("transform", `translate(${left},${yi * yearH + 16})`);
        g.append("text").attr("x", -36).attr("y", -4).attr("font-weight", "bold").text(year);
        const days = d3.utcDays(new Date(Date.UTC(year, 0, 1)), new Date(Date.UTC(year + 1, 0, 1)));
        g.selectAll("rect").data(days).join("rect").attr("width", cell - 2).attr("height", cell - 2)
          .attr("x", d => d3.utcMonday.count(d3.utcYear(d), d) * cell).attr("y", d => ((d.getUTCDay() + 6) % 7) * cell)
          .attr("fill", d => counts.has(fmt(d)) ? color(counts.get(fmt(d))) : "#ebedf0")
          .append("title").text(d => `${fmt(d)}: ${counts.get(fmt(d)) || 0} commits`);
      });
    },
  };

  function download(blob, name) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function svgBlob(svg) {
    const text = new XMLSerializer().serializeToString(svg);
    return new Blob(['<?xml version="1.0" encoding="UTF-8"?>\n', text], {type: "image/svg+xml"});
  }

  // Paints the SVG's shapes onto a canvas through each element's transform matrix: loading
  // the SVG as an image would need a blob: or data: image source, which the CSP forbids.
  function paint(svg) {
    const box = svg.getBoundingClientRect();
    const canvas = document.createElement("canvas");
    canvas.width = Math.ceil(box.width) * 2;
    canvas.height = Math.ceil(box.height) * 2;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    const origin = svg.getScreenCTM().inverse();
    svg.querySelectorAll("rect, path, line, text").forEach(el => {
      const m = origin.multiply(el.getScreenCTM());
      ctx.setTransform(2 * m.a, 2 * m.b, 2 * m.c, 2 * m.d, 2 * m.e, 2 * m.f);
      const cs = getComputedStyle(el);
      const fill = cs.fill, stroke = cs.stroke;
      ctx.globalAlpha = parseFloat(cs.opacity) * parseFloat(cs.fillOpacity || 1);
      ctx.fillStyle = fill;
      ctx.strokeStyle = stroke;
      ctx.lineWidth = parseFloat(cs.strokeWidth) || 1;
      if (el.tagName === "text") {
        ctx.font = `${cs.fontWeight} ${cs.fontSize} sans-serif`;
        ctx.textAlign = {middle: "center", end: "right"}[cs.textAnchor] || "left";
        ctx.fillStyle = fill === "none" ? "#000" : fill;
        const x = parseFloat(el.getAttribute("x") || 0), y = parseFloat(el.getAttribute("y") || 0);
        const dy = el.getAttribute("dy");
        ctx.fillText(el.textContent, x, y + (dy ? parseFloat(dy) * parseFloat(cs.fontSize) : 0));
        return;
      }
      let shape;
      if (el.tagName === "rect") {
        shape = new Path2D();
        shape.rect(+el.getAttribute("x") || 0, +el.getAttribute("y") || 0,
                   +el.getAttribute("width") || 0, +el.getAttribute("height") || 0);
      } else if (el.tagName === "line") {
        shape = new Path2D();
        shape.moveTo(+el.getAttribute("x1") || 0, +el.getAttribute("y1") || 0);
        shape.lineTo(+el.getAttribute("x2") || 0, +el.getAttribute("y2") || 0);
      } else {
        shape = new Path2D(el.getAttribute("d") || "");
      }
      if (fill && fill !== "none") ctx.fill(shape);
      ctx.globalAlpha = parseFloat(cs.opacity);
      if (stroke && stroke !== "none") ctx.stroke(shape);
    });
    return canvas;
  }

  fetch(figure.dataset.api, {headers: {Accept: "application/json"}, credentials: "same-origin"})
    .then(r => r.ok ? r.json() : r.json().then(e => Promise.reject(new Error(e.error))))
    .then(data => {
      if (!data.table.rows.length) {
        status.textContent = "No data for these filters.";
        figure.dataset.drawn = "0";
        return;
      }
      draw[figure.dataset.view](data);
      status.textContent = "";
      figure.dataset.drawn = String(figure.querySelectorAll("svg rect, svg path").length);
    })
    .catch(err => { status.textContent = "Could not draw the chart: " + err.message; });

  const name = figure.dataset.filename.replace(/[^A-Za-z0-9._-]/g, "_");
  document.getElementById("export-svg").addEventListener("click", () => {
    const svg = figure.querySelector("svg");
    if (svg) download(svgBlob(svg), name + ".svg");
  });
  document.getElementById("export-png").addEventListener("click", () => {
    const svg = figure.querySelector("svg");
    if (svg) paint(svg).toBlob(blob => download(blob, name + ".png"), "image/png");
  });
})();
