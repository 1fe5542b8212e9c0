"use strict";
// The attention explorer: translate with one model or two side by side, draw each translation's
// attention and/or gradient saliency as SVG heatmaps, link the words of both sides on hover (a source
// word in every panel), align given translations, watch a run's alignment form over its checkpoints,
// and compare two models on one translation (A − B). Text from users and models is only ever set with
// textContent or as an attribute value, never parsed as markup.

const SVG_NS = "http://www.w3.org/2000/svg";
const EXAMPLE = "I love you.";
const TEXTBOOK = ["I love you.", "Je t'aime."];
const READINGS = { attention: ["attention"], saliency: ["saliency"], both: ["attention", "saliency"] };
const $ = (id) => document.getElementById(id);
let models = {}; // name -> GET /api/models entry
let panels = []; // the panels shown, in order
let difference = null; // the A − B panel, when shown

function element(tag, attributes = {}, text = undefined) {
  return fill(document.createElement(tag), attributes, text);
}

function svgElement(tag, attributes = {}, text = undefined) {
  return fill(document.createElementNS(SVG_NS, tag), attributes, text);
}

function fill(node, attributes, text) {
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function debounce(action, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => action(...args), ms);
  };
}

async function api(path, body = undefined) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ detail: `${response.status} ${response.statusText}` }));
  if (!response.ok) throw new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data));
  return data;
}

// ------------------------------------------------------------------ models and the query form
async function loadModels() {
  const list = await api("/api/models");
  models = Object.fromEntries(list.map((m) => [m.name, m]));
  for (const [select, first] of [[$("model-a"), 0], [$("model-b"), 1]]) {
    for (const m of list) select.append(element("option", { value: m.name }, m.name));
    if (list.length > first) select.value = list[first].name;
  }
  $("status").textContent = `${list.length} model${list.length === 1 ? "" : "s"} loaded`;
}

function about(m, step) {
  const bleu = m.test_bleu === null ? "" : ` · test BLEU ${m.test_bleu.toFixed(1)}`;
  return `${m.architecture} · attention: ${m.attention} · ${m.source_language}→${m.target_language} ` +
    `(${m.corpus}) · ${m.parameters.toLocaleString("en")} parameters · step ${step ?? m.step}${bleu}`;
}

function lines(id) {
  return $(id).value.split("\n").map((s) => s.trim()).filter((s) => s.length > 0);
}

// The options of every panel's request, or null (and a note saying why) when they cannot be sent.
function options() {
  const beam = Number($("beam").value);
  const nbest = Number($("nbest").value);
  const sample = $("sample").checked;
  const targets = lines("target");
  const request = { beam, nbest, method: $("method").value, pieces: true, punctuation: $("punctuation").checked };
  if (targets.length > 0) {
    return { ...request, nbest: 1, target: targets }; // aligned as given: one translation, no search
  }
  if (!sample && nbest > beam) {
    $("error").textContent = `n-best ${nbest} is larger than beam ${beam}: beam search keeps at most ` +
      "beam translations (raise the beam, lower n-best, or sample)";
    return null;
  }
  if ($("prefix").value.trim()) request.prefix = $("prefix").value.trim();
  if (sample) {
    Object.assign(request, {
      sample, temperature: Number($("temperature").value), top_k: Number($("top-k").value),
      top_p: Number($("top-p").value), seed: Number($("seed").value),
    });
  }
  return request;
}

// Translate the sentences with the chosen models; panels of the same models are kept (with their
// layer, head and checkpoint) and asked again.
async function translateAll() {
  $("error").textContent = "";
  const sentences = lines("sentences");
  if (sentences.length === 0) {
    $("error").textContent = "Type a sentence first.";
    return;
  }
  const request = options();
  if (request === null) return;
  const names = [$("model-a").value, $("model-b").value].filter((n, i, all) => n && all.indexOf(n) === i);
  const compare = $("difference").checked && names.length === 2;
  const layout = JSON.stringify([names, compare]);
  if (layout !== translateAll.layout) {
    translateAll.layout = layout;
    panels = names.map((name) => new Panel(models[name]));
    difference = compare ? new DifferencePanel(panels[0], panels[1]) : null;
    $("results").replaceChildren(...panels.map((p) => p.root), ...(difference ? [difference.root] : []));
  }
  for (const panel of panels) panel.sentences = sentences;
  await Promise.all((compare ? panels.slice(0, 1) : panels).map((panel) => panel.translate(request)));
}

// ------------------------------------------------------------------------- one model's panel
class Panel {
  constructor(model) {
    this.model = model;
    this.root = element("section", { class: "panel", "data-model": model.name });
    this.about = element("p", { class: "about" }, about(model));
    this.root.append(element("h2", {}, model.name), this.about);
    if (model.layers > 1 || model.heads > 1) this.root.append(this.mapSelector());
    this.checkpoints = element("div", { class: "checkpoints" });
    this.root.append(this.checkpoints);
    this.body = element("div", { class: "sentences" });
    this.root.append(this.body);
    this.loadCheckpoints();
  }

  mapSelector() {
    const { layer, head } = this.model.attention_map;
    this.layer = element("select", { class: "layer", "aria-label": "layer" });
    for (let i = 0; i < this.model.layers; i++) {
      this.layer.append(element("option", { value: i }, `layer ${i}${i === this.model.layers - 1 ? " (last)" : ""}`));
    }
    this.head = element("select", { class: "head", "aria-label": "head" });
    this.head.append(element("option", { value: "mean" }, "mean of heads"));
    for (let h = 0; h < this.model.heads; h++) this.head.append(element("option", { value: h }, `head ${h}`));
    this.layer.value = String(layer);
    this.head.value = String(head);
    for (const select of [this.layer, this.head]) select.addEventListener("change", () => this.translate());
    const row = element("div", { class: "map" });
    row.append(element("span", {}, "cross-attention:"), this.layer, this.head);
    return row;
  }

  // A slider over the run's saved checkpoints (watch the alignment form), or a note when it has one.
  async loadCheckpoints() {
    let listed;
    try {
      listed = await api(`/api/checkpoints?model=${encodeURIComponent(this.model.name)}`);
    } catch (error) {
      this.checkpoints.replaceChildren(element("p", { class: "note" }, error.message));
      return;
    }
    if (listed.steps.length < 2) {
      this.checkpoints.replaceChildren(element("p", { class: "note" }, listed.note));
      return;
    }
    this.steps = listed.steps;
    this.served = listed.served;
    this.slider = element("input", {
      type: "range", class: "checkpoint", min: 0, max: listed.steps.length - 1, step: 1,
      value: listed.steps.indexOf(listed.served), "aria-label": "checkpoint",
    });
    const label = element("span", { class: "step" });
    const show = () => { label.textContent = `step ${this.step()}${this.step() === this.served ? " (served)" : ""}`; };
    const ask = debounce(() => this.translate(), 250);
    this.slider.addEventListener("input", () => { show(); ask(); });
    show();
    this.checkpoints.replaceChildren(element("span", {}, "checkpoint:"), this.slider, label);
  }

  step() {
    return this.steps ? this.steps[Number(this.slider.value)] : undefined;
  }

  async translate(request = this.request) {
    if (!request || !this.sentences) return;
    this.request = request;
    const body = { ...request, model: this.model.name, sentences: this.sentences };
    if (this.layer) {
      body.layer = Number(this.layer.value);
      body.head = this.head.value === "mean" ? "mean" : Number(this.head.value);
    }
    if (this.step() !== undefined && this.step() !== this.served) body.checkpoint = this.step();
    this.body.replaceChildren(element("p", { class: "busy" }, "translating…"));
    const started = performance.now();
    const ticket = (this.ticket = (this.ticket || 0) + 1); // only the latest answer is drawn
    let response;
    try {
      response = await api("/api/translate", body);
    } catch (error) {
      if (ticket === this.ticket) this.body.replaceChildren(element("p", { class: "error" }, error.message));
      return;
    }
    if (ticket !== this.ticket) return;
    this.response = response;
    const ms = Math.round(performance.now() - started);
    $("status").textContent = `${this.model.name}: ${this.sentences.length} sentence(s) in ${ms} ms`;
    this.about.textContent = about(this.model, response.checkpoint) + (this.aligning ? ` · ${this.aligning}` : "");
    this.views = response.sentences.map((s, i) => new SentenceView(this, s, i));
    this.body.replaceChildren(...this.views.map((v) => v.root));
    if (difference) await (this === difference.a ? difference.alignSecond() : difference.update());
  }
}

// ---------------------------------------------------------- one sentence: n-best and heatmaps
class SentenceView {
  constructor(panel, sentence, index) {
    this.panel = panel;
    this.sentence = sentence;
    this.index = index;
    this.root = element("article", { class: "sentence", "data-index": index });
    this.nbest = element("ol", { class: "nbest" });
    sentence.nbest.forEach((hyp, i) => {
      const item = element("li");
      const text = element("button", { type: "button", class: "hyp" }, hyp.translation || "(empty)");
      text.addEventListener("click", () => this.show(i));
      item.append(text, element("span", { class: "score" }, hyp.score.toFixed(3)));
      if (hyp.rho !== undefined) item.append(element("span", { class: "rho" }, `ρ ${rho(hyp.rho)}`));
      this.nbest.append(item);
    });
    this.view = element("div", { class: "view" });
    this.root.append(element("p", { class: "source" }, sentence.source), this.nbest, this.view);
    this.root.addEventListener("redraw", () => this.show(this.chosen));
    this.view.addEventListener("mouseleave", () => unfocusAll());
    this.show(0);
  }

  // The words and the matrix of each reading of the chosen translation.
  tables() {
    const hyp = this.sentence.nbest[this.chosen];
    const pieces = $("subwords").checked;
    return READINGS[this.panel.response.options.method].map((reading) => ({
      reading, unit: pieces ? "pieces" : "words",
      src: pieces ? hyp.src_tokens : hyp.src_words, tgt: pieces ? hyp.tgt_tokens : hyp.tgt_words,
      matrix: pieces ? hyp[reading] : hyp[`word_${reading}`],
    }));
  }

  show(index) {
    this.chosen = index;
    this.nbest.querySelectorAll("li").forEach((li, i) => li.classList.toggle("chosen", i === index));
    const hyp = this.sentence.nbest[index];
    const tables = this.tables();
    const strips = element("div", { class: "strips" });
    strips.append(wordStrip("src", tables[0].src), wordStrip("tgt", tables[0].tgt));
    const maps = element("div", { class: "readings" });
    const available = this.panel.body.clientWidth || 600;
    const width = available / Math.min(tables.length, Math.max(1, Math.floor(available / 320))) - 8;
    for (const table of tables) {
      const figure = element("figure", { class: "reading", "data-reading": table.reading });
      const svg = heatmap(table, width, tables.length > 1 ? table.reading : null);
      figure.append(svg, downloads(this, table, svg));
      maps.append(figure);
    }
    const notes = [];
    if (tables[0].tgt.length === 0) notes.push(element("p", { class: "busy" }, "nothing to draw: the translation is empty"));
    if (hyp.rho !== undefined) {
      notes.push(element("p", { class: "rho" }, `attention vs saliency: Spearman ρ ${rho(hyp.rho)}`));
    }
    this.view.replaceChildren(strips, ...notes, maps);
    for (const node of this.view.querySelectorAll("[data-side]")) {
      node.addEventListener("mouseenter", () => hover(this, node.dataset.side, Number(node.dataset.index)));
    }
  }
}

function rho(value) {
  return value === null ? "undefined (a constant matrix)" : value.toFixed(3);
}

function downloads(view, table, svg) {
  const row = element("div", { class: "downloads" });
  const actions = { JSON: () => downloadJson(view, table), SVG: () => downloadSvg(svg), PNG: () => downloadPng(svg) };
  for (const [name, action] of Object.entries(actions)) {
    const button = element("button", { type: "button" }, `download ${name}`);
    button.addEventListener("click", action);
    row.append(button);
  }
  return row;
}

function downloadJson(view, table) {
  const hyp = view.sentence.nbest[view.chosen];
  const { options, checkpoint } = view.panel.response;
  const data = {
    model: view.panel.model.name, checkpoint, layer: options.layer, head: options.head,
    source: view.sentence.source, translation: hyp.translation, score: hyp.score, log_prob: hyp.log_prob,
    unit: table.unit, reading: table.reading, src: table.src, tgt: table.tgt, [table.reading]: table.matrix,
  };
  if (hyp.rho !== undefined) data.rho = hyp.rho;
  save(new Blob([JSON.stringify(data, null, 1)], { type: "application/json" }), `${table.reading}.json`);
}

function svgText(svg) {
  unfocusAll();
  return new XMLSerializer().serializeToString(svg);
}

function downloadSvg(svg) {
  save(new Blob([svgText(svg)], { type: "image/svg+xml" }), `${svg.dataset.reading}.svg`);
}

async function downloadPng(svg, scale = 2) {
  const image = new Image();
  image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgText(svg))}`;
  await image.decode();
  const canvas = element("canvas", { width: image.width * scale, height: image.height * scale });
  canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
  canvas.toBlob((blob) => save(blob, `${svg.dataset.reading}.png`), "image/png");
}

function save(blob, name) {
  const link = element("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function wordStrip(side, words) {
  const strip = element("p", { class: `strip ${side}` });
  strip.append(element("span", { class: "side" }, side === "src" ? "source" : "target"));
  words.forEach((word, i) => strip.append(element("span", { class: "word", "data-side": side, "data-index": i }, word)));
  return strip;
}

// ------------------------------------------------------------------- A − B on one translation
// The second model aligned on the first model's translation (teacher forcing): both matrices have the
// same rows and columns, and their difference shows where the two models read it differently.
class DifferencePanel {
  constructor(a, b) {
    this.a = a;
    this.b = b;
    this.root = element("section", { class: "panel difference", "data-model": `${a.model.name} − ${b.model.name}` });
    this.body = element("div", { class: "sentences" });
    this.root.append(element("h2", {}, `${a.model.name} − ${b.model.name}`), element("p", { class: "about" },
      `the same translation (${a.model.name}'s), ${b.model.name} aligned on it: red where ${a.model.name} ` +
      `weighs a source word more, blue where ${b.model.name} does`), this.body);
  }

  // Align the second model on the first one's best translations (its own options, one translation).
  async alignSecond() {
    const best = this.a.response.sentences.map((s) => s.nbest[0].translation);
    this.b.aligning = `aligning ${this.a.model.name}'s translation`;
    this.b.sentences = this.a.sentences;
    await this.b.translate({ ...this.a.request, nbest: 1, target: best, prefix: undefined, sample: undefined });
  }

  update() {
    const [a, b] = [this.a.response, this.b.response];
    if (!a || !b || !b.options.aligned || a.sentences.length !== b.sentences.length) {
      this.body.replaceChildren(element("p", { class: "busy" }, "waiting for both models…"));
      return;
    }
    const reading = READINGS[a.options.method][0];
    this.body.replaceChildren(...a.sentences.map((sentence, i) => {
      const [ha, hb] = [sentence.nbest[0], b.sentences[i].nbest[0]];
      const article = element("article", { class: "sentence" });
      article.append(element("p", { class: "source" }, sentence.source), element("p", { class: "hyp" }, ha.translation));
      const [ma, mb] = [ha[`word_${reading}`], hb[`word_${reading}`]];
      if (!ma || !mb || ma.length !== mb.length || ma.some((row, t) => row.length !== mb[t].length)) {
        article.append(element("p", { class: "note" }, `${this.b.model.name} splits this translation into other words: no difference to draw`));
        return article;
      }
      const matrix = ma.map((row, t) => row.map((w, s) => w - mb[t][s]));
      const table = { reading: `${reading} difference`, src: ha.src_words, tgt: ha.tgt_words, matrix };
      article.append(heatmap(table, this.body.clientWidth || 600, null, true));
      return article;
    }));
  }
}

// ---------------------------------------------------------------------------------- heatmap
const CHAR = 7.4; // px per character of the 13px label font, for the margins
const LONGEST = 24; // characters of a label drawn; the cells' tooltips hold the whole word

function shorten(word) {
  return word.length > LONGEST ? `${word.slice(0, LONGEST - 1)}…` : word;
}

function color(weight) { // 0 white to 1 dark blue
  const mix = (from, to) => Math.round(from + (to - from) * Math.max(0, Math.min(1, weight)));
  return `rgb(${mix(255, 8)},${mix(255, 48)},${mix(255, 107)})`;
}

function diverging(value) { // -1 blue, 0 white, +1 red
  const v = Math.max(-1, Math.min(1, value));
  const mix = (from, to) => Math.round(255 + (to - 255) * Math.abs(v));
  return v >= 0 ? `rgb(${mix(0, 179)},${mix(0, 24)},${mix(0, 43)})` : `rgb(${mix(0, 33)},${mix(0, 102)},${mix(0, 172)})`;
}

// The heatmap of ``table`` in at most ``width`` px (cells grow with it, 16 to 64 px), a title when
// given, and a colour legend under it: 0 to 1, or −1 to +1 for a difference.
function heatmap({ src: srcWords, tgt: tgtWords, matrix, reading }, width, title = null, signed = false) {
  const [src, tgt] = [srcWords.map(shorten), tgtWords.map(shorten)];
  const left = 12 + CHAR * Math.max(1, ...tgt.map((w) => w.length));
  const right = 8 + 0.75 * CHAR * Math.max(0, ...src.map((w) => w.length));
  const cell = Math.max(16, Math.min(64, Math.floor((width - left - right) / Math.max(1, src.length))));
  const top = (title ? 22 : 12) + 0.75 * CHAR * Math.max(1, ...src.map((w) => w.length));
  const total = left + cell * src.length + right;
  const height = top + cell * tgt.length + 44;
  const svg = svgElement("svg", {
    xmlns: SVG_NS, class: "heatmap", width: total, height, viewBox: `0 0 ${total} ${height}`,
    "font-family": "sans-serif", "font-size": 13, role: "img", "aria-label": `${reading} heatmap`,
  });
  svg.dataset.reading = reading.replace(" ", "-");
  svg.append(svgElement("rect", { width: total, height, fill: "white" }));
  if (title) svg.append(svgElement("text", { x: 6, y: 16, "font-weight": "bold" }, title));
  src.forEach((word, j) => {
    const x = left + cell * (j + 0.5);
    svg.append(svgElement("text", {
      class: "label", "data-side": "src", "data-index": j, x, y: top - 6, transform: `rotate(-45 ${x} ${top - 6})`,
    }, word));
  });
  const paint = signed ? diverging : color;
  tgt.forEach((word, i) => {
    svg.append(svgElement("text", {
      class: "label", "data-side": "tgt", "data-index": i, x: left - 6, y: top + cell * (i + 0.5) + 4, "text-anchor": "end",
    }, word));
    matrix[i].forEach((weight, j) => {
      const [x, y] = [left + cell * j, top + cell * i];
      const rect = svgElement("rect", {
        class: "cell", "data-side": "tgt", "data-index": i, x, y, width: cell, height: cell,
        fill: paint(weight), stroke: "#ddd", "stroke-width": 0.5,
      });
      rect.append(svgElement("title", {}, `${tgtWords[i]} → ${srcWords[j]}: ${weight.toFixed(3)}`));
      svg.append(rect);
      if (cell >= 30) {
        svg.append(svgElement("text", {
          x: x + cell / 2, y: y + cell / 2 + 4, "text-anchor": "middle", "font-size": Math.min(14, cell / 3),
          fill: Math.abs(weight) > 0.55 ? "white" : "#333", "pointer-events": "none",
        }, weight.toFixed(2)));
      }
    });
  });
  svg.append(legend(left, top + cell * tgt.length + 12, Math.max(120, Math.min(240, cell * src.length)), signed));
  svg.append(svgElement("rect", { class: "focus", fill: "none", stroke: "#e8590c", "stroke-width": 2, visibility: "hidden" }));
  svg.matrix = matrix;
  svg.dataset.geometry = JSON.stringify({ left, top, cell, rows: tgt.length, cols: src.length });
  return svg;
}

function legend(x, y, width, signed) {
  const group = svgElement("g", { class: "legend", "font-size": 11 });
  const steps = 24;
  const [low, high] = signed ? [-1, 1] : [0, 1];
  for (let k = 0; k < steps; k++) {
    const value = low + ((high - low) * (k + 0.5)) / steps;
    group.append(svgElement("rect", {
      x: x + (width * k) / steps, y, width: width / steps + 0.5, height: 10, fill: signed ? diverging(value) : color(value),
    }));
  }
  group.append(svgElement("rect", { x, y, width, height: 10, fill: "none", stroke: "#999", "stroke-width": 0.5 }));
  const labels = signed ? ["−1", "0", "+1"] : ["0", "0.5", "1"];
  labels.forEach((text, k) => {
    group.append(svgElement("text", { x: x + (width * k) / 2, y: y + 24, "text-anchor": "middle", fill: "#555" }, text));
  });
  return group;
}

// --------------------------------------------------------------------------- hover linking
// A target word shows its row: the source words it attends to. A source word shows its column:
// the target words that attend to it, in this sentence of every panel (the same source words).
function hover(view, side, index) {
  unfocusAll();
  focus(view.view, side, index);
  if (side !== "src") return;
  for (const panel of panels) {
    const other = panel.views?.[view.index];
    if (other && other !== view && other.sentence.source === view.sentence.source) focus(other.view, side, index);
  }
}

function focus(root, side, index) {
  const otherSide = side === "tgt" ? "src" : "tgt";
  for (const node of root.querySelectorAll(`[data-side="${side}"][data-index="${index}"]`)) {
    if (!node.classList.contains("cell")) node.classList.add("active");
  }
  const svgs = [...root.querySelectorAll("svg.heatmap")];
  svgs.forEach((svg, k) => {
    const { matrix } = svg;
    if (!matrix || matrix.length === 0 || (side === "tgt" ? index >= matrix.length : index >= matrix[0].length)) return;
    const weights = side === "tgt" ? matrix[index] : matrix.map((row) => row[index]);
    const strongest = Math.max(...weights);
    weights.forEach((weight, j) => {
      const nodes = [...svg.querySelectorAll(`text[data-side="${otherSide}"][data-index="${j}"]`)];
      if (k === 0) nodes.push(...root.querySelectorAll(`.word[data-side="${otherSide}"][data-index="${j}"]`));
      for (const node of nodes) {
        if (weight > 0 && weight >= 0.5 * strongest) node.classList.add("linked");
        if (node.classList.contains("word")) node.style.backgroundColor = `rgba(232, 89, 12, ${0.15 + 0.6 * weight})`;
      }
    });
    const g = JSON.parse(svg.dataset.geometry);
    const row = side === "tgt";
    fill(svg.querySelector("rect.focus"), {
      x: row ? g.left : g.left + g.cell * index, y: row ? g.top + g.cell * index : g.top,
      width: row ? g.cell * g.cols : g.cell, height: row ? g.cell : g.cell * g.rows, visibility: "visible",
    });
  });
}

function unfocusAll() {
  const root = $("results");
  for (const node of root.querySelectorAll(".active, .linked")) node.classList.remove("active", "linked");
  for (const node of root.querySelectorAll(".word")) node.style.backgroundColor = "";
  for (const box of root.querySelectorAll("rect.focus")) box.setAttribute("visibility", "hidden");
}

// ------------------------------------------------------------------------------------ start
function redrawAll() {
  for (const view of document.querySelectorAll(".sentence[data-index]")) view.dispatchEvent(new Event("redraw"));
  if (difference) difference.update();
}

document.addEventListener("DOMContentLoaded", () => {
  const again = debounce(() => { if (panels.length > 0) translateAll(); }, 300);
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    translateAll();
  });
  $("options").addEventListener("input", (event) => (event.target.id === "subwords" ? redrawAll() : again()));
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      translateAll();
    }
  });
  $("example").addEventListener("click", () => {
    $("sentences").value = EXAMPLE;
    $("target").value = "";
    translateAll();
  });
  $("textbook").addEventListener("click", () => {
    [$("sentences").value, $("target").value] = TEXTBOOK;
    translateAll();
  });
  window.addEventListener("resize", debounce(redrawAll, 200));
  loadModels().catch((error) => {
    $("error").textContent = `cannot load the models: ${error.message}`;
  });
});
