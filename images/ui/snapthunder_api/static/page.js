"use strict";
/* The page's controller: the form and the page's URL (a shared link restores every field), the query
   through the API, the sashimi plot, the sortable table, one junction's samples, the explanation of an
   empty answer, and the shards' status. The API answers an empty query with Snaptron's header-only TSV,
   which clients depend on; the page is where a person gets told why it is empty. */

const config = JSON.parse(document.getElementById("config").textContent);
const form = document.getElementById("query");
const apiBase = "/" + encodeURIComponent(config.compilation);
// The researcher's numbers first, then where the junction is, then what it looks like.
const TABLE_ORDER = ["samples_count", "coverage_sum", "coverage_avg", "coverage_median", "chromosome", "start", "end",
  "length", "strand", "annotated", "left_motif", "right_motif", "left_annotated", "right_annotated", "snaptron_id"];
const MODES = ["contains", "exact", "either"];
const byId = id => document.getElementById(id);
const state = {junctions: [], sort: "", junction: null, group: ""};
const sashimi = new Sashimi(byId("sashimi"), byId("hover"), byId("view"), id => selectJunction(id));
// The sequences this page's compilation has rows on (each shard's, from /readyz).
const loadedSequences = fetch("/readyz").then(response => response.json())
  .then(status => status.shards.flatMap(shard => shard.compilations?.[config.compilation]?.sequences_loaded || []).sort());

function apiQuery() {
  const parts = [];
  const add = (name, value) => { if (value.trim()) parts.push(name + "=" + encodeURIComponent(value.trim())); };
  add("regions", form.regions.value.replace(/\s+/g, ""));
  if (form.mode.value) parts.push(form.mode.value);
  form.filters.value.split(",").forEach(filter => add("rfilter", filter));
  add("sids", form.sids.value.replace(/\s+/g, ""));
  return parts.join("&");
}

/* The page's own URL: the API's query plus the page's state (arc height, sort, selected junction, grouping). */
function pageQuery() {
  const extra = [["arc", form.arc.value], ["sort", state.sort], ["junction", state.junction], ["group", state.group]]
    .filter(([, value]) => value !== null && value !== "")
    .map(([name, value]) => name + "=" + encodeURIComponent(value));
  return [apiQuery(), ...extra].filter(Boolean).join("&");
}

function keepInAddress() { history.replaceState(null, "", "?" + pageQuery()); }

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (body.error && !body.rows) throw new Error(body.error.message);
  return body;
}

function regionsOf(text) {
  return text.split(",").filter(Boolean).map(item => {
    const match = /^(.+):(\d+)-(\d+)$/.exec(item);
    return match ? {chromosome: match[1], start: +match[2], end: +match[3], text: item} : null;
  }).filter(Boolean);
}

async function runQuery(event) {
  if (event) event.preventDefault();
  const query = apiQuery();
  const base = `${apiBase}/snaptron?${query}`;
  ["error", "explain", "summary", "hover"].forEach(id => { byId(id).replaceChildren(); });
  byId("summary").textContent = "querying…";
  byId("rows").replaceChildren();
  byId("picture").hidden = true;
  byId("junction").hidden = true;
  keepInAddress();
  try {
    const [answer, count] = await Promise.all([
      fetchJson(`${base}&format=json&limit=${config.pageRows}&fields=${config.pageFields.join(",")}`),
      fetchJson(`${base}&format=json&fields=rc`),
    ]);
    state.junctions = answer.rows.map(values => Object.fromEntries(answer.fields.map((name, i) => [name, values[i]])));
    showSummary(base, count.count, state.junctions.length);
    if (answer.error) byId("error").textContent = answer.error.message;
    if (!state.junctions.length) return explainEmpty(query);
    drawPicture();
    drawTable();
    if (state.junction !== null) selectJunction(state.junction);
  } catch (error) {
    byId("summary").textContent = "";
    byId("error").textContent = error.message;
    explainError();
  }
}

function showSummary(base, total, shown) {
  const summary = byId("summary");
  summary.textContent = `${total.toLocaleString()} junctions` +
    (shown < total ? `; drawing and listing the first ${shown.toLocaleString()} (narrow the region to see all). `
                   : ". ");
  const link = document.createElement("a");
  link.href = base; link.id = "download"; link.download = config.compilation + "-junctions.tsv";
  link.textContent = "Download the full TSV";
  summary.appendChild(link);
}

function drawPicture() {
  const regions = regionsOf(form.regions.value.replace(/\s+/g, ""));
  if (!regions.length) {
    byId("explain").textContent = "Give a region to see its junctions drawn.";
    return;
  }
  const chromosome = regions[0].chromosome;
  const same = regions.filter(region => region.chromosome === chromosome);
  const drawn = state.junctions.filter(junction => junction.chromosome === chromosome);
  byId("picture").hidden = false;
  byId("picture-note").textContent = drawn.length < state.junctions.length
    ? `Drawing ${chromosome} only (${drawn.length.toLocaleString()} of the ${state.junctions.length.toLocaleString()} junctions).` : "";
  sashimi.show(chromosome, Math.min(...same.map(region => region.start)), Math.max(...same.map(region => region.end)),
               drawn, form.arc.value);
}

function sortedJunctions() {
  if (!state.sort) return state.junctions;
  const descending = state.sort.startsWith("-");
  const field = state.sort.replace(/^-/, "");
  const direction = descending ? -1 : 1;
  return [...state.junctions].sort((a, b) => (a[field] < b[field] ? -1 : a[field] > b[field] ? 1 : 0) * direction);
}

function drawTable() {
  const table = byId("rows");
  table.replaceChildren();
  const fields = TABLE_ORDER.filter(name => state.junctions.length && name in state.junctions[0]);
  const header = table.createTHead().insertRow();
  fields.forEach(name => {
    const th = document.createElement("th");
    th.textContent = name;
    th.dataset.field = name;
    th.title = "sort by " + name;
    if (state.sort.replace(/^-/, "") === name) th.className = state.sort.startsWith("-") ? "sorted-down" : "sorted-up";
    th.addEventListener("click", () => {
      state.sort = state.sort === "-" + name ? name : "-" + name;   // numbers: largest first on the first click
      keepInAddress();
      drawTable();
    });
    header.appendChild(th);
  });
  const body = table.createTBody();
  sortedJunctions().forEach(junction => {
    const row = body.insertRow();
    row.dataset.id = junction.snaptron_id;
    if (junction.snaptron_id === state.junction) row.className = "selected";
    fields.forEach(name => { row.insertCell().textContent = String(junction[name]); });
    row.addEventListener("click", () => selectJunction(junction.snaptron_id));
  });
}

async function selectJunction(id) {
  id = Number(id);
  const junction = state.junctions.find(candidate => candidate.snaptron_id === id);
  if (!junction) return;
  state.junction = id;
  keepInAddress();
  sashimi.select(id);
  byId("rows").querySelectorAll("tbody tr").forEach(row => row.classList.toggle("selected", +row.dataset.id === id));
  const section = byId("junction");
  section.hidden = false;
  byId("junction-title").textContent = junctionText(junction);
  byId("junction-note").textContent = "fetching its samples…";
  const sids = form.sids.value.replace(/\s+/g, "");
  try {
    const answer = await fetchJson(`${apiBase}/snaptron?ids=${id}&fields=samples&format=json` +
                                   (sids ? "&sids=" + encodeURIComponent(sids) : ""));
    const counts = answer.rows[0][answer.fields.indexOf("samples")].slice(1).split(",")
      .map(entry => entry.split(":").map(Number));
    const body = "fields=" + encodeURIComponent(JSON.stringify([{ids: counts.map(([sample]) => String(sample))}]));
    const response = await fetch(`${apiBase}/samples`, {method: "POST", body,
      headers: {"Content-Type": "application/x-www-form-urlencoded"}});
    const text = await response.text();
    if (!response.ok) throw new Error(text.replace(/^#ERROR \d+ /, ""));
    const [headerLine, ...lines] = text.trim().split("\n");
    const columns = headerLine.split("\t");
    const metadata = new Map(lines.map(line => { const cells = line.split("\t"); return [cells[1], cells]; }));
    state.samples = {columns, metadata, counts};
    fillGroupChoice(columns);
    drawSamples();
  } catch (error) {
    byId("junction-note").textContent = "its samples could not be fetched: " + error.message;
  }
}

function fillGroupChoice(columns) {
  const choice = byId("group-by");
  const names = columns.slice(1);   // after DataSource:Type; rail_id groups by sample
  const tissue = names.find(name => /^smts$/i.test(name));
  if (!names.includes(state.group)) state.group = tissue || "rail_id";
  choice.replaceChildren(...names.map(name => new Option(name === "rail_id" ? "sample (rail_id)" : name, name)));
  choice.value = state.group;
}

function drawSamples() {
  const {columns, metadata, counts} = state.samples;
  const column = columns.indexOf(state.group);
  const groups = new Map();
  counts.forEach(([sample, count]) => {
    const cells = metadata.get(String(sample));
    const name = cells ? cells[column] : "NA";
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push({id: sample, count});
  });
  const drawn = drawSamplesPlot(byId("samples-plot"), [...groups].map(([name, samples]) => ({name, samples})));
  byId("junction-note").textContent = `${counts.length.toLocaleString()} samples in ${groups.size.toLocaleString()} ` +
    `groups by ${state.group}` + (drawn < groups.size ? `; the ${drawn} largest groups drawn.` : ".");
}

async function explainEmpty(query) {
  const explain = byId("explain");
  const regions = regionsOf(form.regions.value.replace(/\s+/g, ""));
  const sequences = await loadedSequences;
  const unknown = regions.filter(region => !sequences.includes(region.chromosome));
  const paragraph = text => { const p = document.createElement("p"); p.textContent = text; explain.appendChild(p); return p; };
  unknown.forEach(region => {
    paragraph(`${region.chromosome} is not a sequence of this compilation, so no junction can match ` +
              `${region.text}. It has ${sequences.length}: ${sequences.join(", ")}.`);
    const guess = sequences.find(name => name.toLowerCase() === "chr" + region.chromosome.toLowerCase());
    if (guess) {
      const corrected = query.replace(encodeURIComponent(region.text),
                                      encodeURIComponent(`${guess}:${region.start}-${region.end}`));
      const link = document.createElement("a");
      link.href = "?" + corrected; link.className = "suggestion";
      link.textContent = `${guess}:${region.start}-${region.end}`;
      paragraph("Did you mean ").append(link, "?");
    }
  });
  if (unknown.length === regions.length && regions.length) return;
  const narrowing = [form.mode.value && `the mode (${form.mode.value})`, form.filters.value.trim() && "the filters",
                     form.sids.value.trim() && "the sample ids"].filter(Boolean);
  paragraph(narrowing.length
    ? `No junction passes ${narrowing.join(" and ")} here; try without ${narrowing.length > 1 ? "them" : "it"}, or a wider region.`
    : "This stretch holds no junction in this compilation; try a wider region.");
}

function explainError() {
  if (/\d,\d{3}/.test(form.regions.value)) {
    byId("explain").textContent = "Write a region as chr1:1000000-1100000, without commas inside the numbers: " +
      "commas separate regions (chr1:1000-2000,chr2:5000-9000 asks for both).";
  }
}

async function showShards() {
  const table = byId("shards");
  const response = await fetch("/readyz");
  const status = await response.json();
  table.replaceChildren();
  const header = table.createTHead().insertRow();
  ["shard", "chromosomes", "address", "status", "rows of " + config.compilation].forEach(name => {
    const th = document.createElement("th"); th.textContent = name; header.appendChild(th);
  });
  const body = table.createTBody();
  status.shards.forEach(shard => {
    const row = body.insertRow();
    [shard.shard, shard.chromosomes.join(" "), shard.address].forEach(text => { row.insertCell().textContent = text; });
    const cell = row.insertCell();
    cell.textContent = shard.ready ? "up" : "down: " + shard.error;
    cell.className = shard.ready ? "up" : "down";
    row.insertCell().textContent = shard.ready ? (shard.compilations?.[config.compilation]?.rows ?? 0).toLocaleString() : "";
  });
}

function restore() {
  const initial = new URLSearchParams(location.search);
  form.regions.value = initial.get("regions") || "";
  form.filters.value = initial.getAll("rfilter").join(", ");
  form.sids.value = initial.get("sids") || "";
  const mode = MODES.find(name => initial.has(name));
  form.mode.value = mode ? `${mode}=${initial.get(mode)}` : "";
  if (initial.get("arc")) form.arc.value = initial.get("arc");
  state.sort = initial.get("sort") || "";
  state.junction = initial.has("junction") ? Number(initial.get("junction")) : null;
  state.group = initial.get("group") || "";
  if (["regions", "rfilter", "sids"].some(name => initial.has(name))) runQuery();
}

form.addEventListener("submit", event => { state.junction = null; runQuery(event); });
form.arc.addEventListener("change", () => { sashimi.setHeightBy(form.arc.value); keepInAddress(); });
byId("group-by").addEventListener("change", event => { state.group = event.target.value; keepInAddress(); drawSamples(); });
byId("zoom-in").addEventListener("click", () => sashimi.zoom(1 / ZOOM_STEP));
byId("zoom-out").addEventListener("click", () => sashimi.zoom(ZOOM_STEP));
byId("zoom-reset").addEventListener("click", () => sashimi.reset());
restore();
showShards();
