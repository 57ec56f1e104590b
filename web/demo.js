// The book's live generator: the shipped conditional DCGAN, exported to ONNX, run by onnxruntime-web (wasm)
// from files served by the book itself. No network access beyond this site, no kernel.
(function () {
  "use strict";
  const root = document.getElementById("cgan-demo");
  if (!root) return;
  const base = document.currentScript.src.replace(/[^/]*$/, "");  // the folder demo.js was served from
  const Z_DIM = 64;
  const MAX_DIGITS = 64;

  // Seeded standard normals (mulberry32 + Box-Muller), so a seed always gives the same latent vector.
  function mulberry32(a) {
    return function () {
      a |= 0; a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function latent(seed) {
    const rand = mulberry32(seed * 7919 + 17), z = new Float32Array(Z_DIM);
    for (let i = 0; i < Z_DIM; i += 2) {
      const u = Math.max(rand(), 1e-12), v = rand(), r = Math.sqrt(-2 * Math.log(u));
      z[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < Z_DIM) z[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return z;
  }
  // Spherical interpolation (chapter 10): stays on the shell where Gaussian latents live.
  function slerp(a, b, t) {
    let dot = 0, na = 0, nb = 0;
    for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
    const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb)))), s = Math.sin(omega);
    const out = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) {
      out[i] = s < 1e-6 ? (1 - t) * a[i] + t * b[i]
                        : (Math.sin((1 - t) * omega) * a[i] + Math.sin(t * omega) * b[i]) / s;
    }
    return out;
  }

  const state = { digit: 7, seed: 0, t: 0, session: null };
  const el = (id) => document.getElementById(id);
  const message = el("cgan-message");

  async function generate(zs, labels) {
    const n = labels.length, z = new Float32Array(n * Z_DIM);
    zs.forEach((v, i) => z.set(v, i * Z_DIM));
    const feeds = {
      z: new ort.Tensor("float32", z, [n, Z_DIM]),
      labels: new ort.Tensor("int64", BigInt64Array.from(labels.map(BigInt)), [n]),
    };
    const out = await state.session.run(feeds);
    return out.pixels.data;  // n * 28 * 28 floats in 0..255
  }

  function paint(canvas, gray, width, height) {
    canvas.width = width; canvas.height = height;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(width, height);
    for (let i = 0; i < width * height; i++) {
      const v = Math.round(gray[i]);
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  async function drawDigit() {
    const z = slerp(latent(state.seed), latent(state.seed + 1), state.t);
    paint(el("cgan-canvas"), await generate([z], [state.digit]), 28, 28);
    root.querySelectorAll("button[data-digit]").forEach((b) =>
      b.classList.toggle("cgan-active", Number(b.dataset.digit) === state.digit));
    root.dataset.drawn = `${state.digit}:${state.seed}:${state.t}`;
  }

  // A whole number: each digit generated, cropped to its ink, placed 2 px after the previous one.
  async function drawNumber() {
    const text = el("cgan-number").value;
    if (!/^[0-9]+$/.test(text) || text.length > MAX_DIGITS) {
      const bad = [...text].findIndex((c) => c < "0" || c > "9");
      message.textContent = text === "" ? "Type at least one digit 0-9."
        : bad >= 0 ? `"${text[bad]}" at position ${bad + 1} is not a digit 0-9.`
        : `At most ${MAX_DIGITS} digits are drawn.`;
      return;
    }
    message.textContent = "";
    const labels = [...text].map(Number);
    const pixels = await generate(labels.map((_, i) => latent(1000 + i)), labels);
    const pieces = labels.map((_, k) => {
      const d = pixels.subarray(k * 784, (k + 1) * 784);
      let lo = 27, hi = 0;
      for (let c = 0; c < 28; c++) for (let r = 0; r < 28; r++) if (d[r * 28 + c] > 40) { lo = Math.min(lo, c); hi = Math.max(hi, c); }
      if (hi < lo) { lo = 10; hi = 17; }
      return { d, lo: Math.max(lo - 1, 0), hi: Math.min(hi + 1, 27) };
    });
    const pad = 4, gap = 2;
    const width = pieces.reduce((w, p) => w + p.hi - p.lo + 1, 0) + gap * (pieces.length - 1) + 2 * pad;
    const height = 28 + 2 * pad, canvas = new Float32Array(width * height);
    let x = pad;
    for (const p of pieces) {
      for (let r = 0; r < 28; r++) for (let c = p.lo; c <= p.hi; c++)
        canvas[(r + pad) * width + x + c - p.lo] = p.d[r * 28 + c];
      x += p.hi - p.lo + 1 + gap;
    }
    paint(el("cgan-number-canvas"), canvas, width, height);
  }

  async function start() {
    ort.env.wasm.wasmPaths = base;  // the .wasm and its loader come from this site, not a CDN
    ort.env.wasm.numThreads = 1;    // threads would need cross-origin isolation headers
    state.session = await ort.InferenceSession.create(base + "cdcgan.onnx", { executionProviders: ["wasm"] });
    root.querySelectorAll("button[data-digit]").forEach((b) =>
      b.addEventListener("click", () => { state.digit = Number(b.dataset.digit); drawDigit(); }));
    el("cgan-new").addEventListener("click", () => { state.seed += 2; drawDigit(); });
    el("cgan-slider").addEventListener("input", (e) => { state.t = Number(e.target.value) / 100; drawDigit(); });
    el("cgan-number").addEventListener("input", drawNumber);
    await drawDigit();
    await drawNumber();
    root.classList.add("cgan-ready");
    root.dataset.state = "ready";
  }

  root.classList.add("cgan-js");  // reveal the controls; without JavaScript only the static picture shows
  start().catch((err) => {
    root.dataset.state = "error";
    message.textContent = "The live generator could not start: " + err;
    console.error(err);
  });
})();
