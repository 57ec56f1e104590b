// The book's live widgets, one script for every page that has one (book/_ext/live_widgets.py adds it
// only to those pages). Each widget is a <div data-cgan-widget="KIND"> in the page's markdown:
//   picker  - pick a digit, see eight fresh samples (chapter 7)
//   slider  - walk between two latent points, lerp or slerp, and the same z under all ten labels (ch. 10)
//   number  - a number box that writes the number (chapter 11)
//   demo    - the live demo page (book/live_demo.md), all three in one
//   toygan  - a tiny 2-D GAN trained in the page with TensorFlow.js (chapter 2)
// Optional data-* attributes set where a widget starts: picker data-digit; slider data-digit, data-seeds="3,4";
// number data-number; toygan data-loss (nonsaturating|saturating), data-data (ring|grid|moons), data-lr-g,
// data-lr-d (0.0001|0.0003|0.001|0.003|0.01) and data-seed, so a chapter can open it on a failure to watch.
// The generator is the shipped conditional DCGAN exported to ONNX, run by onnxruntime-web (wasm); every file
// comes from the book's own _static/demo/ folder, never a CDN. Without JavaScript the div keeps its note and
// the chapter's static picture stays the fallback.
(function () {
  "use strict";
  const base = document.currentScript.src.replace(/[^/]*$/, "");  // the folder this file was served from
  const Z_DIM = 64;
  const MAX_DIGITS = 64;

  // ---- shared helpers -------------------------------------------------------------------------------------
  // Seeded uniforms (mulberry32) and standard normals (Box-Muller): a seed always gives the same numbers.
  function mulberry32(a) {
    return function () {
      a |= 0; a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function normals(rand, n) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      const u = Math.max(rand(), 1e-12), v = rand(), r = Math.sqrt(-2 * Math.log(u));
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }
  const latent = (seed) => normals(mulberry32(seed * 7919 + 17), Z_DIM);
  const norm = (z) => Math.sqrt(z.reduce((s, v) => s + v * v, 0));

  function lerp(a, b, t) { return a.map((v, i) => (1 - t) * v + t * b[i]); }
  // Spherical interpolation (chapter 10): stays on the shell where Gaussian latents live.
  function slerp(a, b, t) {
    let dot = 0;
    for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
    const omega = Math.acos(Math.min(1, Math.max(-1, dot / (norm(a) * norm(b))))), s = Math.sin(omega);
    if (s < 1e-6) return lerp(a, b, t);
    return a.map((v, i) => (Math.sin((1 - t) * omega) * v + Math.sin(t * omega) * b[i]) / s);
  }

  function make(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }
  let uid = 0;
  function labelled(text, control) {  // a visible <label> tied to its control, for screen readers and keys
    control.id = control.id || `cgan-control-${++uid}`;
    return make("label", { for: control.id }, text, " ", control);
  }
  function select(options, value, cls) {
    const s = make("select", { class: cls });
    for (const [v, text] of options) s.append(make("option", { value: v, text }));
    s.value = value;
    return s;
  }

  function loadScript(name) {
    return new Promise((resolve, reject) => {
      const s = make("script", { src: base + name });
      s.onload = resolve;
      s.onerror = () => reject(new Error(`could not load ${name}`));
      document.head.append(s);
    });
  }

  // One ONNX session per page, shared by all its widgets.
  let sessionPromise = null;
  function session() {
    if (!sessionPromise) {
      sessionPromise = loadScript("ort.wasm.min.js").then(() => {
        ort.env.wasm.wasmPaths = base;  // the .wasm and its loader come from this site
        ort.env.wasm.numThreads = 1;    // threads would need cross-origin isolation headers
        return ort.InferenceSession.create(base + "cdcgan.onnx", { executionProviders: ["wasm"] });
      });
    }
    return sessionPromise;
  }
  // onnxruntime-web runs one inference at a time per session: queue the calls.
  let queue = Promise.resolve();
  function generate(zs, labels) {
    const run = queue.then(async () => {
      const s = await session(), n = labels.length, z = new Float32Array(n * Z_DIM);
      zs.forEach((v, i) => z.set(v, i * Z_DIM));
      const out = await s.run({
        z: new ort.Tensor("float32", z, [n, Z_DIM]),
        labels: new ort.Tensor("int64", BigInt64Array.from(labels.map(BigInt)), [n]),
      });
      return out.pixels.data;  // n * 28 * 28 floats in 0..255
    });
    queue = run.catch(() => {});
    return run;
  }

  // Paint grey pixels (0..255) into a canvas; `tiles` 28x28 digits side by side.
  function paint(canvas, gray, width, height) {
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      const v = Math.round(gray[i]);
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }
  function paintRow(canvas, pixels, count) {
    const width = 28 * count, row = new Float32Array(width * 28);
    for (let k = 0; k < count; k++)
      for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++)
        row[r * width + 28 * k + c] = pixels[k * 784 + r * 28 + c];
    paint(canvas, row, width, 28);
  }
  const digitCanvas = (label) => make("canvas", { width: 28, height: 28, class: "cgan-digits", role: "img",
                                                  "aria-label": label });

  // A whole number: each digit generated, cropped to its ink, placed 2 px after the previous one.
  async function drawNumber(canvas, text, seed) {
    const labels = [...text].map(Number);
    const pixels = await generate(labels.map((_, i) => latent(1000 * (seed + 1) + i)), labels);
    const pieces = labels.map((_, k) => {
      const d = pixels.subarray(k * 784, (k + 1) * 784);
      let lo = 27, hi = 0;
      for (let c = 0; c < 28; c++) for (let r = 0; r < 28; r++)
        if (d[r * 28 + c] > 40) { lo = Math.min(lo, c); hi = Math.max(hi, c); }
      if (hi < lo) { lo = 10; hi = 17; }
      return { d, lo: Math.max(lo - 1, 0), hi: Math.min(hi + 1, 27) };
    });
    const pad = 4, gap = 2;
    const width = pieces.reduce((w, p) => w + p.hi - p.lo + 1, 0) + gap * (pieces.length - 1) + 2 * pad;
    const height = 28 + 2 * pad, out = new Float32Array(width * height);
    let x = pad;
    for (const p of pieces) {
      for (let r = 0; r < 28; r++) for (let c = p.lo; c <= p.hi; c++)
        out[(r + pad) * width + x + c - p.lo] = p.d[r * 28 + c];
      x += p.hi - p.lo + 1 + gap;
    }
    paint(canvas, out, width, height);
  }
  function numberProblem(text) {
    if (text === "") return "Type at least one digit 0-9.";
    const bad = [...text].findIndex((c) => c < "0" || c > "9");
    if (bad >= 0) return `"${text[bad]}" at position ${bad + 1} is not a digit 0-9.`;
    if (text.length > MAX_DIGITS) return `At most ${MAX_DIGITS} digits are drawn.`;
    return "";
  }

  // ---- the generator widgets ------------------------------------------------------------------------------
  function digitButtons(onPick) {
    const group = make("div", { role: "group", "aria-label": "digit", class: "cgan-buttons" });
    for (let d = 0; d < 10; d++) {
      const b = make("button", { type: "button", "data-digit": d, "aria-pressed": "false", text: String(d) });
      b.addEventListener("click", () => onPick(d));
      group.append(b);
    }
    return group;
  }
  function pressDigit(group, digit) {
    group.querySelectorAll("button[data-digit]").forEach((b) => {
      const on = Number(b.dataset.digit) === digit;
      b.classList.toggle("cgan-active", on);
      b.setAttribute("aria-pressed", String(on));
    });
  }

  // Chapter 7: pick a digit, eight fresh samples.
  function picker(root) {
    const state = { digit: Number(root.dataset.digit || 7), seed: 0 }, n = 8;
    const canvas = digitCanvas("eight generated samples of the chosen digit");
    const buttons = digitButtons((d) => { state.digit = d; draw(); });
    const fresh = make("button", { type: "button", class: "cgan-new", text: "new samples" });
    fresh.addEventListener("click", () => { state.seed += n; draw(); });
    root.append(make("p", {}, make("strong", { text: "Pick a digit: " }), buttons, fresh), canvas);
    async function draw() {
      pressDigit(buttons, state.digit);
      const zs = Array.from({ length: n }, (_, i) => latent(state.seed + i));
      paintRow(canvas, await generate(zs, zs.map(() => state.digit)), n);
      root.dataset.drawn = `${state.digit}:${state.seed}`;
    }
    return draw();
  }

  // Chapter 10: a slider along lerp or slerp between two seeds, and the same z under all ten labels.
  function slider(root) {
    const state = { digit: Number(root.dataset.digit || 4), t: 0, method: "slerp" };
    const seeds = (root.dataset.seeds || "3,4").split(",").map(Number);
    const [za, zb] = seeds.map(latent);
    const range = make("input", { type: "range", min: 0, max: 100, value: 0, class: "cgan-t" });
    const method = select([["slerp", "slerp (spherical)"], ["lerp", "lerp (linear)"]], "slerp", "cgan-method");
    const digit = select([...Array(10).keys()].map((d) => [d, String(d)]), state.digit, "cgan-digit");
    const canvas = digitCanvas("the generated digit at this point of the path");
    const all = make("canvas", { width: 280, height: 28, class: "cgan-digits cgan-all", role: "img",
                                 "aria-label": "the same latent point drawn as each digit 0 to 9" });
    const readout = make("span", { class: "cgan-readout", "aria-live": "polite" });
    range.addEventListener("input", () => { state.t = Number(range.value) / 100; draw(); });
    method.addEventListener("change", () => { state.method = method.value; draw(); });
    digit.addEventListener("change", () => { state.digit = Number(digit.value); draw(); });
    root.append(
      make("p", {}, labelled("Digit", digit), " ", labelled("Path", method)),
      make("p", {}, labelled(`From seed ${seeds[0]} to seed ${seeds[1]}: t`, range), " ", readout),
      make("div", { class: "cgan-row" }, canvas),
      make("p", { class: "cgan-caption", text: "The same z under all ten labels:" }), all);
    async function draw() {
      const z = (state.method === "lerp" ? lerp : slerp)(za, zb, state.t);
      readout.textContent = `t = ${state.t.toFixed(2)}, |z| = ${norm(z).toFixed(2)}`;
      const zs = [z, ...Array(10).fill(z)], labels = [state.digit, ...[...Array(10).keys()]];
      const pixels = await generate(zs, labels);
      paint(canvas, pixels.subarray(0, 784), 28, 28);
      paintRow(all, pixels.subarray(784), 10);
      root.dataset.drawn = `${state.digit}:${state.method}:${state.t}`;
    }
    return draw();
  }

  // Chapter 11: a number box.
  function numberBox(root) {
    const input = make("input", { type: "text", value: root.dataset.number || "9830976450",
                                  maxlength: MAX_DIGITS, inputmode: "numeric", class: "cgan-number" });
    const seed = make("input", { type: "number", min: 0, max: 9999, value: 0, class: "cgan-seed" });
    const canvas = make("canvas", { width: 1, height: 1, class: "cgan-digits cgan-number-canvas",
                                    role: "img", "aria-label": "the number, in generated handwriting" });
    const message = make("p", { class: "cgan-message", role: "status" });
    root.append(make("p", {}, labelled("Write a number:", input), " ", labelled("seed", seed)),
                make("div", { class: "cgan-row" }, canvas), message);
    async function draw() {
      const text = input.value, problem = numberProblem(text);
      message.textContent = problem;
      if (problem) return;
      const s = Math.max(0, Math.min(9999, Math.floor(Number(seed.value) || 0)));
      await drawNumber(canvas, text, s);
      root.dataset.drawn = `${text}:${s}`;
    }
    input.addEventListener("input", draw);
    seed.addEventListener("input", draw);
    return draw();
  }

  // The live demo page keeps its own markup (ids), driven by the same helpers.
  function demo(root) {
    const state = { digit: 7, seed: 0, t: 0 };
    const el = (id) => document.getElementById(id);
    const message = el("cgan-message");
    async function drawDigit() {
      const z = slerp(latent(state.seed), latent(state.seed + 1), state.t);
      paint(el("cgan-canvas"), await generate([z], [state.digit]), 28, 28);
      root.querySelectorAll("button[data-digit]").forEach((b) =>
        b.classList.toggle("cgan-active", Number(b.dataset.digit) === state.digit));
      root.dataset.drawn = `${state.digit}:${state.seed}:${state.t}`;
    }
    async function number() {
      const text = el("cgan-number").value, problem = numberProblem(text);
      message.textContent = problem;
      if (!problem) await drawNumber(el("cgan-number-canvas"), text, 0);
    }
    root.querySelectorAll("button[data-digit]").forEach((b) =>
      b.addEventListener("click", () => { state.digit = Number(b.dataset.digit); drawDigit(); }));
    el("cgan-new").addEventListener("click", () => { state.seed += 2; drawDigit(); });
    el("cgan-slider").addEventListener("input", (e) => { state.t = Number(e.target.value) / 100; drawDigit(); });
    el("cgan-number").addEventListener("input", number);
    return drawDigit().then(number);
  }

  // ---- a 2-D GAN trained in the page (chapter 2) ----------------------------------------------------------
  let tfPromise = null;
  function tensorflow() {  // TensorFlow.js, from the book's files
    if (!tfPromise) {
      // the CPU backend: exact and the same on every machine, so a seed always gives the same run
      tfPromise = loadScript("tf.es2017.min.js").then(async () => { await tf.setBackend("cpu"); return tf; });
    }
    return tfPromise;
  }

  // The data: points and the modes a generator should reach (for the distance figure).
  const DATASETS = {
    ring: (rand, n) => {  // eight Gaussians on a circle of radius 2
      const modes = [...Array(8).keys()].map((k) => [2 * Math.cos(k * Math.PI / 4), 2 * Math.sin(k * Math.PI / 4)]);
      return gaussians(rand, n, modes, 0.1);
    },
    grid: (rand, n) => {  // a 5 x 5 grid of Gaussians
      const modes = [];
      for (let i = -2; i <= 2; i++) for (let j = -2; j <= 2; j++) modes.push([i, j]);
      return gaussians(rand, n, modes, 0.06);
    },
    moons: (rand, n) => {  // two interleaved half circles, scaled to about [-2, 2]
      const curve = (s, upper) => upper ? [Math.cos(s) * 1.6 - 0.8, Math.sin(s) * 1.6 - 0.4]
                                        : [0.8 - Math.cos(s) * 1.6, 0.4 - Math.sin(s) * 1.6];
      const modes = [];
      for (let k = 0; k <= 40; k++) modes.push(curve(Math.PI * k / 40, true), curve(Math.PI * k / 40, false));
      const noise = normals(rand, 2 * n), points = new Float32Array(2 * n);
      for (let i = 0; i < n; i++) {
        const [x, y] = curve(Math.PI * rand(), rand() < 0.5);
        points[2 * i] = x + 0.08 * noise[2 * i]; points[2 * i + 1] = y + 0.08 * noise[2 * i + 1];
      }
      return { points, modes };
    },
  };
  function gaussians(rand, n, modes, std) {
    const noise = normals(rand, 2 * n), points = new Float32Array(2 * n);
    for (let i = 0; i < n; i++) {
      const m = modes[Math.floor(rand() * modes.length)];
      points[2 * i] = m[0] + std * noise[2 * i]; points[2 * i + 1] = m[1] + std * noise[2 * i + 1];
    }
    return { points, modes };
  }

  // A small MLP as plain variables, initialised from the seeded RNG (Glorot uniform), so a seed fixes the run.
  function mlp(tf, rand, sizes) {
    const layers = [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const limit = Math.sqrt(6 / (sizes[i] + sizes[i + 1])), w = new Float32Array(sizes[i] * sizes[i + 1]);
      for (let k = 0; k < w.length; k++) w[k] = (2 * rand() - 1) * limit;
      layers.push({ w: tf.variable(tf.tensor2d(w, [sizes[i], sizes[i + 1]])),
                    b: tf.variable(tf.zeros([sizes[i + 1]])) });
    }
    // (functional ops: the core bundle registers no chained tensor methods)
    const apply = (x) => layers.reduce((h, l, i) => {
      const y = tf.add(tf.matMul(h, l.w), l.b);
      return i + 1 < layers.length ? tf.relu(y) : y;
    }, x);
    return { apply, vars: layers.flatMap((l) => [l.w, l.b]) };
  }

  const RATES = ["0.0001", "0.0003", "0.001", "0.003", "0.01"].map((r) => [r, r]);
  // G's loss from D's logits l on generated points. Saturating: minimise log(1 - D) = -softplus(l);
  // non-saturating: minimise -log D = softplus(-l) (chapter 3).
  function generatorLoss(tf, logit, saturating, reduce) {
    return saturating ? tf.neg(reduce(tf.softplus(logit))) : reduce(tf.softplus(tf.neg(logit)));
  }
  function toygan(root) {
    const SIZE = 300, SPAN = 3, HEAT = 30, BATCH = 128, SHOW = 300, Z = 2;
    const controls = {
      play: make("button", { type: "button", class: "cgan-play", text: "play" }),
      step: make("button", { type: "button", class: "cgan-step", text: "one step" }),
      reset: make("button", { type: "button", class: "cgan-reset", text: "reset" }),
      loss: select([["nonsaturating", "non-saturating"], ["saturating", "saturating"]], "nonsaturating",
                   "cgan-loss"),
      data: select([["ring", "ring of Gaussians"], ["grid", "grid"], ["moons", "two moons"]], "ring", "cgan-data"),
      lrG: select(RATES, "0.001", "cgan-lr-g"),
      lrD: select(RATES, "0.001", "cgan-lr-d"),
      seed: make("input", { type: "number", min: 0, max: 9999, value: 0, class: "cgan-seed" }),
    };
    // a chapter may open the widget on other settings (data-loss, data-data, data-lr-g, data-lr-d, data-seed)
    for (const [key, control] of [["loss", controls.loss], ["data", controls.data], ["lrG", controls.lrG],
                                  ["lrD", controls.lrD], ["seed", controls.seed]]) {
      const wanted = root.dataset[key];
      if (wanted === undefined) continue;
      if (control.tagName === "SELECT" && ![...control.options].some((o) => o.value === wanted))
        throw new Error(`data-${key} must be one of ${[...control.options].map((o) => o.value).join(", ")}`);
      control.value = wanted;
    }
    const field = make("canvas", { width: SIZE, height: SIZE, class: "cgan-field", role: "img",
      "aria-label": "real points (green), generated points (purple), D(x) as the background, "
        + "the generator's gradient as arrows" });
    const chart = make("canvas", { width: SIZE, height: 90, class: "cgan-chart", role: "img",
                                   "aria-label": "D and G losses over the steps" });
    const readout = make("p", { class: "cgan-readout", "aria-live": "off" });
    root.append(
      make("p", { class: "cgan-toolbar" }, controls.play, controls.step, controls.reset),
      make("p", { class: "cgan-toolbar" }, labelled("G loss", controls.loss), " ",
           labelled("data", controls.data), " ", labelled("seed", controls.seed)),
      make("p", { class: "cgan-toolbar" }, labelled("learning rate G", controls.lrG), " ",
           labelled("learning rate D", controls.lrD)),
      make("div", { class: "cgan-row" }, field), make("div", { class: "cgan-row" }, chart), readout,
      make("p", { class: "cgan-caption", text: "Background: D(x), dark = fake, light = real. Green: real "
        + "points; purple: G(z); arrows: the direction G's loss pushes each generated point. Lines: D's "
        + "loss (blue) and G's loss (orange) over the steps." }));

    let run = null, playing = false;
    const tfReady = tensorflow();

    async function reset() {
      const tf = await tfReady;
      if (run) { run.G.vars.concat(run.D.vars).forEach((v) => v.dispose()); run.zShow.dispose(); }
      const seed = Math.max(0, Math.min(9999, Math.floor(Number(controls.seed.value) || 0)));
      const rand = mulberry32(seed * 104729 + 7), data = DATASETS[controls.data.value];
      const shown = data(rand, SHOW);
      run = {
        tf, rand, data, shown, step: 0, history: [],
        G: mlp(tf, rand, [Z, 32, 32, 2]), D: mlp(tf, rand, [2, 32, 32, 1]),
        zShow: tf.tensor2d(normals(rand, SHOW * Z), [SHOW, Z]),
        optG: tf.train.adam(Number(controls.lrG.value), 0.5, 0.999),
        optD: tf.train.adam(Number(controls.lrD.value), 0.5, 0.999),
      };
      draw();
    }

    function trainStep() {
      const { tf, rand, G, D } = run;
      const real = tf.tensor2d(run.data(rand, BATCH).points, [BATCH, 2]);
      const z = tf.tensor2d(normals(rand, BATCH * Z), [BATCH, Z]);
      const saturating = controls.loss.value === "saturating";
      const dLoss = run.optD.minimize(() => tf.tidy(() => {
        const fake = G.apply(z);
        // -log D(x) - log(1 - D(G(z))), from the logits: softplus(-l_real) + softplus(l_fake)
        return tf.add(tf.mean(tf.softplus(tf.neg(D.apply(real)))), tf.mean(tf.softplus(D.apply(fake))));
      }), true, D.vars);
      const gLoss = run.optG.minimize(() => tf.tidy(() => {
        const logit = D.apply(G.apply(z));
        return generatorLoss(tf, logit, saturating, tf.mean);
      }), true, G.vars);
      run.history.push([dLoss.dataSync()[0], gLoss.dataSync()[0]]);
      tf.dispose([real, z, dLoss, gLoss]);
      run.step++;
    }

    function toPixel(x, y) { return [(x + SPAN) / (2 * SPAN) * SIZE, (SPAN - y) / (2 * SPAN) * SIZE]; }

    function draw() {
      const { tf, G, D, shown } = run, ctx = field.getContext("2d");
      const saturating = controls.loss.value === "saturating";
      // D(x) on a HEAT x HEAT grid, painted as the background
      const cells = new Float32Array(2 * HEAT * HEAT);
      for (let i = 0; i < HEAT; i++) for (let j = 0; j < HEAT; j++) {
        cells[2 * (i * HEAT + j)] = -SPAN + (j + 0.5) * 2 * SPAN / HEAT;
        cells[2 * (i * HEAT + j) + 1] = SPAN - (i + 0.5) * 2 * SPAN / HEAT;
      }
      const [heat, fake, push] = tf.tidy(() => {
        const d = tf.sigmoid(D.apply(tf.tensor2d(cells, [HEAT * HEAT, 2])));
        const x = G.apply(run.zShow);
        // G's gradient on each generated point: minus d(G's loss)/dx, where G moves it
        const lossAt = (p) => generatorLoss(tf, D.apply(p), saturating, tf.sum);
        return [d.dataSync(), x.dataSync(), tf.neg(tf.grad(lossAt)(x)).dataSync()];
      });
      const cell = SIZE / HEAT;
      for (let i = 0; i < HEAT * HEAT; i++) {
        const v = Math.round(40 + 200 * heat[i]);
        ctx.fillStyle = `rgb(${v},${v},${Math.min(255, v + 15)})`;
        ctx.fillRect((i % HEAT) * cell, Math.floor(i / HEAT) * cell, cell + 1, cell + 1);
      }
      const dot = (x, y, colour) => {
        const [px, py] = toPixel(x, y);
        ctx.fillStyle = colour; ctx.fillRect(px - 1.5, py - 1.5, 3, 3);
      };
      for (let i = 0; i < SHOW; i++) dot(shown.points[2 * i], shown.points[2 * i + 1], "#1a9641");
      let scale = 0;
      for (let i = 0; i < SHOW; i++) scale = Math.max(scale, Math.hypot(push[2 * i], push[2 * i + 1]));
      ctx.strokeStyle = "rgba(255,140,0,0.9)"; ctx.lineWidth = 1;
      for (let i = 0; i < SHOW; i += 5) {  // every fifth point's arrow, at most 20 px long
        const [px, py] = toPixel(fake[2 * i], fake[2 * i + 1]), k = scale > 0 ? 20 / scale : 0;
        ctx.beginPath(); ctx.moveTo(px, py); ctx.lineTo(px + k * push[2 * i], py - k * push[2 * i + 1]); ctx.stroke();
      }
      for (let i = 0; i < SHOW; i++) dot(fake[2 * i], fake[2 * i + 1], "#7b3294");
      // the losses over the steps
      const c = chart.getContext("2d"), h = run.history;
      c.fillStyle = "#fff"; c.fillRect(0, 0, chart.width, chart.height);
      if (h.length > 1) {
        const top = Math.max(2, ...h.map(([a, b]) => Math.max(a, b)));
        [["#2b83ba", 0], ["#fdae61", 1]].forEach(([colour, k]) => {
          c.strokeStyle = colour; c.beginPath();
          h.forEach((p, i) => {
            const x = i / (h.length - 1) * chart.width, y = chart.height * (1 - Math.max(0, p[k]) / top);
            if (i) c.lineTo(x, y); else c.moveTo(x, y);
          });
          c.stroke();
        });
      }
      // the figure the text (and the browser test) reads: mean distance of G(z) to the nearest mode
      let total = 0;
      for (let i = 0; i < SHOW; i++) {
        let best = Infinity;
        for (const [mx, my] of shown.modes) best = Math.min(best, Math.hypot(fake[2 * i] - mx, fake[2 * i + 1] - my));
        total += best;
      }
      const distance = total / SHOW, last = h[h.length - 1];
      root.dataset.step = String(run.step);
      root.dataset.modeDistance = distance.toFixed(4);
      readout.textContent = `step ${run.step}` + (last ? `, D loss ${last[0].toFixed(3)}, G loss `
        + `${last[1].toFixed(3)}` : "") + `, mean distance of G(z) to the nearest mode ${distance.toFixed(3)}`;
    }

    // Train `n` steps and redraw (the play loop uses it; so can a test or the console).
    async function advance(n) {
      await tfReady;
      for (let i = 0; i < n; i++) trainStep();
      draw();
    }
    root.cganAdvance = advance;
    root.cganReset = reset;

    function loop() {
      if (!playing) return;
      advance(5).then(() => requestAnimationFrame(loop));
    }
    controls.play.addEventListener("click", () => {
      playing = !playing;
      controls.play.textContent = playing ? "pause" : "play";
      controls.play.setAttribute("aria-pressed", String(playing));
      loop();
    });
    controls.step.addEventListener("click", () => advance(1));
    controls.reset.addEventListener("click", reset);
    for (const k of ["data", "seed", "lrG", "lrD"]) controls[k].addEventListener("change", reset);
    controls.loss.addEventListener("change", () => draw());  // the loss may change mid-run, as in GAN Lab
    return reset();
  }

  // ---- start every widget on the page ---------------------------------------------------------------------
  const KINDS = { picker, slider, number: numberBox, demo, toygan };
  function launch(root) {
    const kind = KINDS[root.dataset.cganWidget];
    root.dataset.state = "loading";
    Promise.resolve().then(() => kind(root)).then(() => { root.dataset.state = "ready"; })
      .catch((err) => {
        root.dataset.state = "error";
        root.append(make("p", { class: "cgan-message", role: "status",
                                text: "This live widget could not start: " + err }));
        console.error(err);
      });
  }
  // A widget starts (and downloads its model and runtime) when it comes near the screen, so a reader
  // who never scrolls to it loads nothing.
  const nearby = "IntersectionObserver" in window && new IntersectionObserver((entries, observer) => {
    for (const e of entries) if (e.isIntersecting) { observer.unobserve(e.target); launch(e.target); }
  }, { rootMargin: "600px" });
  function start() {
    document.querySelectorAll("[data-cgan-widget]").forEach((root) => {
      if (!KINDS[root.dataset.cganWidget]) return;
      root.querySelectorAll(".cgan-live-note").forEach((n) => n.remove());  // the no-script note
      root.classList.add("cgan-js");
      root.dataset.state = "waiting";
      if (nearby) nearby.observe(root); else launch(root);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
