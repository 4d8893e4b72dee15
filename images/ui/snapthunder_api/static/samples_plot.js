"use strict";
/* One junction's read counts per sample, grouped by a sample-metadata column (a tissue, by default), as a
   strip plot over a box plot: one row per group, each sample a dot, the box its quartiles and median,
   the whiskers its range. Counts are on a log scale (1 to tens of thousands of reads). Plain SVG, like
   sashimi.js (whose svgElement it uses). At most MOST_GROUPS rows are drawn, the largest groups first;
   the caption says how many were left out. */

const SAMPLES_PLOT = {label: 230, row: 24, top: 28, right: 16, radius: 2.6};
const MOST_GROUPS = 40;

function quantile(sorted, fraction) {
  const position = (sorted.length - 1) * fraction;
  const low = Math.floor(position);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (position - low);
}

/* `groups`: [{name, samples: [{id, count}]}]; returns how many groups were drawn. */
function drawSamplesPlot(svg, groups) {
  const shown = [...groups].sort((a, b) => b.samples.length - a.samples.length || (a.name < b.name ? -1 : 1))
    .slice(0, MOST_GROUPS);
  const width = Math.max(svg.clientWidth, 500);
  const height = SAMPLES_PLOT.top + shown.length * SAMPLES_PLOT.row + 8;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", height);
  svg.replaceChildren();
  const highest = Math.max(10, ...groups.flatMap(group => group.samples.map(sample => sample.count)));
  const plotWidth = width - SAMPLES_PLOT.label - SAMPLES_PLOT.right;
  const x = count => SAMPLES_PLOT.label + Math.log10(count) / Math.log10(highest) * plotWidth;
  const axis = svgElement("g", {class: "axis"}, svg);
  for (let power = 1; power <= highest; power *= 10) {
    svgElement("line", {x1: x(power), x2: x(power), y1: SAMPLES_PLOT.top - 6, y2: height - 8, class: "grid"}, axis);
    svgElement("text", {x: x(power), y: SAMPLES_PLOT.top - 10, "text-anchor": "middle"}, axis)
      .textContent = power.toLocaleString();
  }
  svgElement("text", {x: 4, y: SAMPLES_PLOT.top - 10}, axis).textContent = "reads in the sample →";
  shown.forEach((group, index) => {
    const middle = SAMPLES_PLOT.top + index * SAMPLES_PLOT.row + SAMPLES_PLOT.row / 2;
    const row = svgElement("g", {class: "group", "data-group": group.name, "data-samples": group.samples.length}, svg);
    svgElement("text", {x: SAMPLES_PLOT.label - 8, y: middle + 4, "text-anchor": "end"}, row)
      .textContent = `${group.name} (${group.samples.length})`;
    const counts = group.samples.map(sample => sample.count).sort((a, b) => a - b);
    const [low, first, median, third, top] = [0, 0.25, 0.5, 0.75, 1].map(fraction => quantile(counts, fraction));
    svgElement("line", {x1: x(low), x2: x(top), y1: middle, y2: middle, class: "whisker"}, row);
    svgElement("rect", {x: x(first), y: middle - 7, width: Math.max(1, x(third) - x(first)), height: 14, class: "box"}, row);
    svgElement("line", {x1: x(median), x2: x(median), y1: middle - 8, y2: middle + 8, class: "median"}, row);
    group.samples.forEach((sample, position) => {
      const jitter = ((position * 7919) % 13 - 6) * 0.9;     // spread, deterministically, so dots do not hide
      const dot = svgElement("circle", {cx: x(sample.count).toFixed(1), cy: (middle + jitter).toFixed(1),
        r: SAMPLES_PLOT.radius, class: "sample-point", "data-sample": sample.id, "data-count": sample.count}, row);
      svgElement("title", {}, dot).textContent = `sample ${sample.id}: ${sample.count.toLocaleString()} reads`;
    });
  });
  return shown.length;
}
