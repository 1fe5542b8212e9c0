"use strict";
// The attention explorer: translate with one model or two side by side, draw the attention of each
// translation as an SVG heatmap, and link the words of both sides on hover. Text from users and
// models is only ever set with textContent or as an attribute value, never parsed as markup.

const SVG_NS = "http://www.w3.org/2000/svg";
const EXAMPLE = "I love you.";
const $ = (id) => document.getElementById(id);
let models = {}; // name -> GET /api/models entry

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

function about(m) {
  const bleu = m.test_bleu === null ? "" : ` · test BLEU ${m.test_bleu.toFixed(1)}`;
  return `${m.architecture} · attention: ${m.attention} · ${m.source_language}→${m.target_language} ` +
    `(${m.corpus}) · ${m.parameters.toLocaleString("en")} parameters · step ${m.step}${bleu}`;
}

function sentences() {
  return $("sentences").value.split("\n").map((s) => s.trim()).filter((s) => s.length > 0);
}

async function translateAll() {
  $("error").textContent = "";
  const lines = sentences();
  if (lines.length === 0) {
    $("error").textContent = "Type a sentence first.";
    return;
  }
  const names = [$("model-a").value, $("model-b").value].filter((n, i, all) => n && all.indexOf(n) === i);
  const results = $("results");
  results.replaceChildren();
  await Promise.all(names.map((name) => {
    const panel = new Panel(models[name], lines);
    results.append(panel.root);
    return panel.translate();
  }));
}

// ------------------------------------------------------------------------- one model's panel
class Panel {
  constructor(model, lines) {
    this.model = model;
    this.lines = lines;
    this.root = element("section", { class: "panel", "data-model": model.name });
    this.root.append(element("h2", {}, model.name), element("p", { class: "about" }, about(model)));
    if (model.layers > 1 || model.heads > 1) this.root.append(this.mapSelector());
    this.body = element("div", { class: "sentences" });
    this.root.append(this.body);
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

  async translate() {
    const request = {
      model: this.model.name,
      sentences: this.lines,
      beam: Number($("beam").value),
      nbest: Math.min(Number($("nbest").value), Number($("beam").value)),
      pieces: true,
      punctuation: $("punctuation").checked,
    };
    if (this.layer) {
      request.layer = Number(this.layer.value);
      request.head = this.head.value === "mean" ? "mean" : Number(this.head.value);
    }
    this.body.replaceChildren(element("p", { class: "busy" }, "translating…"));
    const started = performance.now();
    const ticket = (this.ticket = (this.ticket || 0) + 1); // only the latest answer is drawn
    let response;
    try {
      response = await api("/api/translate", request);
    } catch (error) {
      if (ticket === this.ticket) this.body.replaceChildren(element("p", { class: "error" }, error.message));
      return;
    }
    if (ticket !== this.ticket) return;
    this.response = response;
    const ms = Math.round(performance.now() - started);
    $("status").textContent = `${this.model.name}: ${this.lines.length} sentence(s) in ${ms} ms`;
    this.body.replaceChildren(...this.response.sentences.map((s) => new SentenceView(this, s).root));
  }
}

// ---------------------------------------------------------- one sentence: n-best and heatmap
class SentenceView {
  constructor(panel, sentence) {
    this.panel = panel;
    this.sentence = sentence;
    this.root = element("article", { class: "sentence" });
    this.nbest = element("ol", { class: "nbest" });
    sentence.nbest.forEach((hyp, i) => {
      const item = element("li");
      const text = element("button", { type: "button", class: "hyp" }, hyp.translation || "(empty)");
      text.addEventListener("click", () => this.show(i));
      item.append(text, element("span", { class: "score" }, hyp.score.toFixed(3)));
      this.nbest.append(item);
    });
    this.view = element("div", { class: "view" });
    this.root.append(element("p", { class: "source" }, sentence.source), this.nbest, this.view);
    this.root.addEventListener("redraw", () => this.show(this.chosen));
    this.view.addEventListener("mouseleave", () => unfocus(this.view));
    this.show(0);
  }

  table() {
    const hyp = this.sentence.nbest[this.chosen];
    return $("subwords").checked
      ? { unit: "pieces", src: hyp.src_tokens, tgt: hyp.tgt_tokens, matrix: hyp.attention }
      : { unit: "words", src: hyp.src_words, tgt: hyp.tgt_words, matrix: hyp.word_attention };
  }

  show(index) {
    this.chosen = index;
    this.nbest.querySelectorAll("li").forEach((li, i) => li.classList.toggle("chosen", i === index));
    const table = this.table();
    const strips = element("div", { class: "strips" });
    strips.append(wordStrip("src", table.src), wordStrip("tgt", table.tgt));
    this.svg = heatmap(table);
    const empty = table.tgt.length === 0 ? [element("p", { class: "busy" }, "nothing to draw: the translation is empty")] : [];
    const downloads = element("div", { class: "downloads" });
    const json = element("button", { type: "button" }, "download JSON");
    const svg = element("button", { type: "button" }, "download SVG");
    json.addEventListener("click", () => this.downloadJson());
    svg.addEventListener("click", () => this.downloadSvg());
    downloads.append(json, svg);
    this.view.replaceChildren(strips, ...empty, this.svg, downloads);
    for (const node of this.view.querySelectorAll("[data-side]")) {
      node.addEventListener("mouseenter", () => focus(this.view, table.matrix, node.dataset.side, Number(node.dataset.index)));
    }
  }

  downloadJson() {
    const hyp = this.sentence.nbest[this.chosen];
    const table = this.table();
    const options = this.panel.response.options;
    const data = {
      model: this.panel.model.name, layer: options.layer, head: options.head, source: this.sentence.source,
      translation: hyp.translation, score: hyp.score, log_prob: hyp.log_prob, unit: table.unit,
      src: table.src, tgt: table.tgt, attention: table.matrix,
    };
    save(new Blob([JSON.stringify(data, null, 1)], { type: "application/json" }), "attention.json");
  }

  downloadSvg() {
    unfocus(this.view);
    const text = new XMLSerializer().serializeToString(this.svg);
    save(new Blob([text], { type: "image/svg+xml" }), "attention.svg");
  }
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

// ---------------------------------------------------------------------------------- heatmap
const CHAR = 7.4; // px per character of the 13px label font, for the margins
const LONGEST = 24; // characters of a label drawn; the cells' tooltips hold the whole word

function shorten(word) {
  return word.length > LONGEST ? `${word.slice(0, LONGEST - 1)}…` : word;
}

function color(weight) { // white to dark blue
  const mix = (from, to) => Math.round(from + (to - from) * weight);
  return `rgb(${mix(255, 8)},${mix(255, 48)},${mix(255, 107)})`;
}

function heatmap({ src: srcWords, tgt: tgtWords, matrix }) {
  const [src, tgt] = [srcWords.map(shorten), tgtWords.map(shorten)];
  const cell = Math.max(18, Math.min(40, Math.floor(560 / Math.max(1, src.length))));
  const left = 12 + CHAR * Math.max(1, ...tgt.map((w) => w.length));
  const top = 12 + 0.75 * CHAR * Math.max(1, ...src.map((w) => w.length));
  const width = left + cell * src.length + 8 + 0.75 * CHAR * Math.max(0, ...src.map((w) => w.length));
  const height = top + cell * tgt.length + 8;
  const svg = svgElement("svg", {
    xmlns: SVG_NS, class: "heatmap", width, height, viewBox: `0 0 ${width} ${height}`,
    "font-family": "sans-serif", "font-size": 13, role: "img", "aria-label": "attention heatmap",
  });
  svg.append(svgElement("rect", { width, height, fill: "white" }));
  src.forEach((word, j) => {
    const x = left + cell * (j + 0.5);
    svg.append(svgElement("text", {
      class: "label", "data-side": "src", "data-index": j, x, y: top - 6,
      transform: `rotate(-45 ${x} ${top - 6})`,
    }, word));
  });
  tgt.forEach((word, i) => {
    svg.append(svgElement("text", {
      class: "label", "data-side": "tgt", "data-index": i, x: left - 6, y: top + cell * (i + 0.5) + 4,
      "text-anchor": "end",
    }, word));
    matrix[i].forEach((weight, j) => {
      const x = left + cell * j;
      const y = top + cell * i;
      const rect = svgElement("rect", {
        class: "cell", "data-side": "tgt", "data-index": i, x, y, width: cell, height: cell,
        fill: color(weight), stroke: "#ddd", "stroke-width": 0.5,
      });
      rect.append(svgElement("title", {}, `${tgtWords[i]} → ${srcWords[j]}: ${weight.toFixed(3)}`));
      svg.append(rect);
      if (cell >= 30) {
        svg.append(svgElement("text", {
          x: x + cell / 2, y: y + cell / 2 + 4, "text-anchor": "middle", "font-size": 10,
          fill: weight > 0.55 ? "white" : "#333", "pointer-events": "none",
        }, weight.toFixed(2)));
      }
    });
  });
  svg.append(svgElement("rect", { class: "focus", fill: "none", stroke: "#e8590c", "stroke-width": 2, visibility: "hidden" }));
  svg.dataset.geometry = JSON.stringify({ left, top, cell, rows: tgt.length, cols: src.length });
  return svg;
}

// --------------------------------------------------------------------------- hover linking
// A target word shows its row: the source words it attends to. A source word shows its column:
// the target words that attend to it. Linked words are shaded by weight; the strongest are marked.
function focus(view, matrix, side, index) {
  unfocus(view);
  const other = side === "tgt" ? "src" : "tgt";
  const weights = side === "tgt" ? matrix[index] : matrix.map((row) => row[index]);
  const strongest = Math.max(...weights);
  for (const node of view.querySelectorAll(`[data-side="${side}"][data-index="${index}"]`)) {
    if (!node.classList.contains("cell")) node.classList.add("active");
  }
  weights.forEach((weight, j) => {
    for (const node of view.querySelectorAll(`[data-side="${other}"][data-index="${j}"]`)) {
      if (node.classList.contains("cell")) continue;
      if (weight > 0 && weight >= 0.5 * strongest) node.classList.add("linked");
      if (node.classList.contains("word")) node.style.backgroundColor = `rgba(232, 89, 12, ${0.15 + 0.6 * weight})`;
    }
  });
  const svg = view.querySelector("svg.heatmap");
  const g = JSON.parse(svg.dataset.geometry);
  const box = svg.querySelector("rect.focus");
  const row = side === "tgt";
  fill(box, {
    x: row ? g.left : g.left + g.cell * index, y: row ? g.top + g.cell * index : g.top,
    width: row ? g.cell * g.cols : g.cell, height: row ? g.cell : g.cell * g.rows, visibility: "visible",
  });
}

function unfocus(view) {
  for (const node of view.querySelectorAll(".active, .linked")) node.classList.remove("active", "linked");
  for (const node of view.querySelectorAll(".word")) node.style.backgroundColor = "";
  const box = view.querySelector("rect.focus");
  if (box) box.setAttribute("visibility", "hidden");
}

// ------------------------------------------------------------------------------------ start
document.addEventListener("DOMContentLoaded", () => {
  $("query").addEventListener("submit", (event) => {
    event.preventDefault();
    translateAll();
  });
  $("example").addEventListener("click", () => {
    $("sentences").value = EXAMPLE;
    translateAll();
  });
  $("subwords").addEventListener("change", () => {
    for (const view of document.querySelectorAll(".sentence")) view.dispatchEvent(new Event("redraw"));
  });
  $("punctuation").addEventListener("change", () => {
    if (document.querySelector(".panel")) translateAll();
  });
  loadModels().catch((error) => {
    $("error").textContent = `cannot load the models: ${error.message}`;
  });
});
