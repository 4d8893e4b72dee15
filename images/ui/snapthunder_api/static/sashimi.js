"use strict";
/* The sashimi plot: one region's junctions as arcs over its coordinate axis, in plain SVG.

   An arc joins a junction's start and end (the intron it splices out). Arcs above the axis are on the
   + strand, below it on the − strand, dashed above it for an unknown strand (?); blue is annotated (in a
   gene model), orange novel. An arc's height grows with the chosen statistic (samples_count or
   coverage_sum) on a log scale, since both span four orders of magnitude. The wheel zooms around the
   pointer, dragging pans, the buttons zoom and reset; hovering shows a junction's numbers, clicking
   selects it (the page then shows its samples). Written by hand rather than with a plotting library:
   arcs, an axis and a view window are all it needs. */

const SVG_NS = "http://www.w3.org/2000/svg";
const PLOT = {height: 350, axisY: 172, reach: 155, lowest: 8, margin: 12};   // reach: the tallest arc, either side
const SMALLEST_VIEW = 50;     // bp: zooming in stops here
const ZOOM_STEP = 1.5;

function svgElement(name, attributes, parent) {
  const element = document.createElementNS(SVG_NS, name);
  Object.entries(attributes || {}).forEach(([key, value]) => element.setAttribute(key, value));
  if (parent) parent.appendChild(element);
  return element;
}

function niceStep(span, wanted) {
  const rough = span / wanted;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map(factor => factor * power).find(step => step >= rough);
}

function junctionText(junction) {
  const strand = junction.strand === "?" ? "unknown strand" : junction.strand + " strand";
  const status = junction.annotated !== "0" ? "annotated" : "novel";
  return `${junction.chromosome}:${junction.start.toLocaleString()}-${junction.end.toLocaleString()} ` +
    `(${strand}, ${status}, ${junction.length.toLocaleString()} bp, ${junction.left_motif}-${junction.right_motif}) · ` +
    `samples_count ${junction.samples_count.toLocaleString()} · coverage_sum ${junction.coverage_sum.toLocaleString()} · ` +
    `coverage_avg ${junction.coverage_avg} · coverage_median ${junction.coverage_median} · ` +
    `snaptron_id ${junction.snaptron_id}`;
}

class Sashimi {
  constructor(svg, hover, viewLabel, onSelect) {
    this.svg = svg;
    this.hover = hover;
    this.viewLabel = viewLabel;
    this.onSelect = onSelect;
    this.junctions = [];
    this.selected = null;
    this.drag = null;
    svg.addEventListener("wheel", event => {
      event.preventDefault();
      this.zoom(Math.exp(event.deltaY * 0.002), this.position(event.clientX));
    }, {passive: false});
    svg.addEventListener("mousedown", event => {
      this.drag = {x: event.clientX, start: this.start, end: this.end, moved: false};
    });
    window.addEventListener("mousemove", event => {
      if (!this.drag) return;
      const pixels = event.clientX - this.drag.x;
      if (Math.abs(pixels) > 3) this.drag.moved = true;
      const shift = pixels * (this.drag.end - this.drag.start) / this.plotWidth();
      this.setView(this.drag.start - shift, this.drag.end - shift);
    });
    window.addEventListener("mouseup", () => {
      if (this.drag) setTimeout(() => { this.drag = null; }, 0);
    });
  }

  /* Draw `junctions` (objects keyed by field name) of `chromosome`, the view set to [start, end]. */
  show(chromosome, start, end, junctions, heightBy) {
    this.chromosome = chromosome;
    this.home = [start, end];
    this.junctions = junctions;
    this.heightBy = heightBy;
    this.selected = null;
    this.setView(start, end);
  }

  setHeightBy(name) { this.heightBy = name; this.draw(); }
  reset() { this.setView(...this.home); }
  zoom(factor, center) {
    const middle = center === undefined ? (this.start + this.end) / 2 : center;
    this.setView(middle - (middle - this.start) * factor, middle + (this.end - middle) * factor);
  }
  select(id) { this.selected = id; this.draw(); }

  setView(start, end) {
    if (end - start < SMALLEST_VIEW) {
      const middle = (start + end) / 2;
      [start, end] = [middle - SMALLEST_VIEW / 2, middle + SMALLEST_VIEW / 2];
    }
    this.start = start;
    this.end = end;
    this.draw();
  }

  plotWidth() { return this.width() - 2 * PLOT.margin; }
  width() { return Math.max(this.svg.clientWidth, 300); }
  x(position) { return PLOT.margin + (position - this.start) / (this.end - this.start) * this.plotWidth(); }
  position(clientX) {
    const left = this.svg.getBoundingClientRect().left;
    return this.start + (clientX - left - PLOT.margin) / this.plotWidth() * (this.end - this.start);
  }

  draw() {
    const width = this.width();
    this.svg.setAttribute("viewBox", `0 0 ${width} ${PLOT.height}`);
    this.svg.replaceChildren();
    const clip = svgElement("clipPath", {id: "sashimi-clip"}, svgElement("defs", {}, this.svg));
    svgElement("rect", {x: PLOT.margin, y: 0, width: this.plotWidth(), height: PLOT.height}, clip);
    this.drawAxis(width);
    const arcs = svgElement("g", {"clip-path": "url(#sashimi-clip)"}, this.svg);
    const highest = Math.max(1, ...this.junctions.map(junction => junction[this.heightBy]));
    const share = value => Math.log1p(value) / Math.log1p(highest);
    this.junctions.forEach(junction => {
      const below = junction.strand === "-";
      const height = PLOT.lowest + (PLOT.reach - PLOT.lowest) * share(junction[this.heightBy]);
      const [x1, x2] = [this.x(junction.start), this.x(junction.end)];
      const control = PLOT.axisY + (below ? 2 : -2) * height;   // a quadratic curve peaks halfway to its control
      const classes = ["arc", {"+": "plus", "-": "minus"}[junction.strand] || "unknown",
        junction.annotated !== "0" ? "annotated" : "novel"];
      if (junction.snaptron_id === this.selected) classes.push("selected");
      const path = svgElement("path", {
        d: `M${x1.toFixed(1)},${PLOT.axisY} Q${((x1 + x2) / 2).toFixed(1)},${control.toFixed(1)} ${x2.toFixed(1)},${PLOT.axisY}`,
        class: classes.join(" "), "data-id": junction.snaptron_id, "data-height": height.toFixed(2),
        "stroke-opacity": (0.3 + 0.7 * share(junction[this.heightBy])).toFixed(2),   // the rare ones recede
      }, arcs);
      svgElement("title", {}, path).textContent = junctionText(junction);
      path.addEventListener("mouseenter", () => { this.hover.textContent = junctionText(junction); });
      path.addEventListener("click", () => { if (!this.drag || !this.drag.moved) this.onSelect(junction.snaptron_id); });
    });
    const selected = arcs.querySelector("path.selected");
    if (selected) arcs.appendChild(selected);   // drawn last, so on top
    const span = Math.round(this.end - this.start);
    this.viewLabel.textContent = `${this.chromosome}:${Math.max(1, Math.round(this.start)).toLocaleString()}-` +
      `${Math.round(this.end).toLocaleString()} (${span.toLocaleString()} bp)`;
  }

  drawAxis(width) {
    const axis = svgElement("g", {class: "axis"}, this.svg);
    svgElement("line", {x1: PLOT.margin, x2: width - PLOT.margin, y1: PLOT.axisY, y2: PLOT.axisY}, axis);
    const step = niceStep(this.end - this.start, Math.max(2, Math.floor(width / 140)));
    for (let tick = Math.ceil(this.start / step) * step; tick <= this.end; tick += step) {
      const x = this.x(tick);
      svgElement("line", {x1: x, x2: x, y1: PLOT.axisY - 4, y2: PLOT.axisY + 4}, axis);
      if (x < 40 || x > width - 40) continue;   // a label there would be cut in half
      svgElement("text", {x: x, y: PLOT.height - 4, "text-anchor": "middle"}, axis).textContent = tick.toLocaleString();
    }
    svgElement("text", {x: PLOT.margin, y: 14, class: "strand-label"}, axis).textContent = "+ strand (and ?, dashed)";
    svgElement("text", {x: PLOT.margin, y: PLOT.height - 22, class: "strand-label"}, axis).textContent = "− strand";
  }
}
