#!/usr/bin/env node
// node record_graph_models.mjs PACKAGE_DIR OUT_DIR PACKAGE_SPEC [MODEL ...]
// node record_graph_models.mjs --dynamic-ops OUT.json
//
// Records what tfjs 4.22 (CPU backend) computes for every graph model (format "graph-model")
// in PACKAGE_DIR (an npm package's model folder, fetched by tests/npm_models.py), into
// OUT_DIR/<model>.json + OUT_DIR/<model>.bin. Runs once (minutes); tests compare against it.
//
// Per model: the op census (op -> node count), the inputs fed (name, dtype, shape and the seed
// and range of the counter-based generator below, which tests/test_torch_graph_zoo.py
// reproduces bit for bit), and every output of tf.loadGraphModel(...).executeAsync(feeds, names):
// dtype, shape, values (all of them up to CAP elements, else every stride-th element of the
// flattened output, which the test compares element-wise at the same positions), float64 sum,
// max |y|, and the sensitivity: how far tfjs's own output moves when every float input value is
// moved by one ulp (up, then down): max |y(x±ulp) - y(x)| over the stored elements, and for
// integer/bool outputs the number of elements that changed.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import {tf, initTf, fsGraphHandler, writeJSON} from './common.mjs';

// graph_executor warns on every executeAsync of a graph without dynamic ops: not news here.
const consoleWarn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).startsWith('This model execution did not contain')) consoleWarn(...args);
};

const CAP = 16384; // elements stored per output at most

// Input sizes for dimensions the graph leaves open (-1), from the models' own documentation /
// the sizes @vladmandic/human feeds them. Batch is always 1.
const OPEN_DIMS = {
  'faceboxes': [1, 256, 256, 3],  // uint8 image, any size
  'handtrack': [1, 320, 320, 3],  // signature says 320x320
  'movenet-multipose': [1, 256, 256, 3],  // signature says 256x256 (multiple of 32)
  'rvm': [1, 128, 128, 3],  // src: any size; recurrent states r1i..r4i: scalars 0 on the first frame
};
// Value range of each input (float: uniform in [lo, hi); int/uint8: integers in [lo, hi)).
// Images: [0, 1) floats unless the model's own preprocessing says otherwise; integer images 0..255.
const RANGES = {
  'rvm': {'downsample_ratio': [0.5, 0.5], 'r1i': [0, 0], 'r2i': [0, 0], 'r3i': [0, 0], 'r4i': [0, 0]},
};

/** Counter-based generator: value i of seed s. tests/test_torch_graph_zoo.py has the same code. */
function uniform01(seed, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 0x9E3779B9) + seed) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x = (x ^ (x >>> 15)) >>> 0;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x = (x ^ (x >>> 16)) >>> 0;
    out[i] = (x >>> 8) / 16777216;  // 24 bits: exact in float32
  }
  return out;
}

/**
 * Values in [0, 1) for an input: images (rank 4, 1 or 3 channels) get a smooth random field
 * (bilinear interpolation of a coarse random grid with CELL-pixel cells) plus a little noise,
 * so that detectors and segmenters see structure rather than white noise; other inputs get
 * plain noise. Float64 arithmetic in an order numpy reproduces exactly.
 */
const CELL = 16;
function field01(spec) {
  const shape = spec.shape;
  const n = shape.reduce((a, b) => a * b, 1);
  if (spec.layout == null) return uniform01(spec.seed, n);
  const nchw = spec.layout === 'NCHW';
  const [H, W, C] = nchw ? [shape[2], shape[3], shape[1]] : [shape[1], shape[2], shape[3]];
  const gh = Math.floor((H - 1) / CELL) + 2;
  const gw = Math.floor((W - 1) / CELL) + 2;
  const grid = uniform01(spec.seed + 7919, gh * gw * C);  // [gh, gw, C]
  const noise = uniform01(spec.seed, n);  // in the input's own layout
  const out = new Float64Array(n);
  for (let y = 0; y < H; y++) {
    const y0 = Math.floor(y / CELL);
    const ty = y / CELL - y0;
    for (let x = 0; x < W; x++) {
      const x0 = Math.floor(x / CELL);
      const tx = x / CELL - x0;
      for (let c = 0; c < C; c++) {
        const g = (yy, xx) => grid[(yy * gw + xx) * C + c];
        const top = g(y0, x0) * (1 - tx) + g(y0, x0 + 1) * tx;
        const bot = g(y0 + 1, x0) * (1 - tx) + g(y0 + 1, x0 + 1) * tx;
        const smooth = top * (1 - ty) + bot * ty;
        const i = nchw ? (c * H + y) * W + x : (y * W + x) * C + c;
        out[i] = smooth * 0.875 + noise[i] * 0.125;
      }
    }
  }
  return out;
}

function makeInput(spec) {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const u = field01(spec);
  const [lo, hi] = spec.range;
  if (spec.dtype === 'float32') {
    const f = new Float32Array(n);
    for (let i = 0; i < n; i++) f[i] = lo + (hi - lo) * u[i];
    return f;
  }
  const a = new Int32Array(n);  // int32 and uint8 placeholders: tfjs feeds both as int32
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor((hi - lo) * u[i]);
  return a;
}

/** 'NHWC' / 'NCHW' for image-like inputs (rank 4 with 1 or 3 channels), else null. */
function layoutOf(shape) {
  if (shape.length !== 4 || shape[0] !== 1) return null;
  if ([1, 3].includes(shape[3])) return 'NHWC';
  if ([1, 3].includes(shape[1])) return 'NCHW';
  return null;
}

/** Every value moved by one ulp in direction dir (+1/-1). */
function nudge(f32, dir) {
  const out = new Float32Array(f32);
  const bits = new Int32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    const v = out[i];
    if (v === 0) bits[i] = dir > 0 ? 1 : (0x80000001 | 0);
    else if ((v > 0) === (dir > 0)) bits[i] += 1;
    else bits[i] -= 1;
  }
  return out;
}

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The tensor names tfjs returns by default: signature outputs in tfjs's order, else sink nodes. */
function outputNames(model) {
  const sig = model.modelSignature && model.modelSignature.outputs;
  if (sig && Object.keys(sig).length > 0) {
    // graph_executor maps signature entries by tensor name, in the signature's key order
    const names = [];
    for (const k of Object.keys(sig)) if (!names.includes(sig[k].name)) names.push(sig[k].name);
    return names;
  }
  return model.outputNodes;
}

async function run(model, feeds, names) {
  const outs = await model.executeAsync(feeds, names);
  const list = Array.isArray(outs) ? outs : [outs];
  const res = list.map((t) => {
    let data = t.dataSync().slice();
    let backing;
    // tfjs can hand out a float32 tensor backed by an Int32Array (handtrack's detection classes
    // and count): the values are what the tensor means, stored as float32 like its dtype says.
    if (t.dtype === 'float32' && !(data instanceof Float32Array)) {
      backing = data.constructor.name;
      data = Float32Array.from(data);
    }
    return {dtype: t.dtype, shape: t.shape, data, backing};
  });
  tf.dispose(list);
  return res;
}

function feedTensors(specs, arrays) {
  const feeds = {};
  specs.forEach((s, k) => {
    const dtype = s.dtype === 'float32' ? 'float32' : 'int32';
    // uint8 placeholders: tfjs has no uint8 dtype; graph_executor checks 'int32'
    feeds[s.name] = tf.tensor(arrays[k], s.shape, dtype);
  });
  return feeds;
}

function sampleIndex(n) {
  const stride = n <= CAP ? 1 : Math.ceil(n / CAP);
  return {stride, count: Math.ceil(n / stride)};
}

function pick(data, stride, count) {
  const Ctor = data.constructor;
  const out = new Ctor(count);
  for (let i = 0; i < count; i++) out[i] = data[i * stride];
  return out;
}

async function recordModel(file, outDir, pkgSpec) {
  const base = path.basename(file, '.json');
  const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  const ops = {};
  for (const n of doc.modelTopology.node) ops[n.op] = (ops[n.op] || 0) + 1;
  const functions = ((doc.modelTopology.library || {}).function || []).map((f) => f.signature.name);
  const files = {[path.basename(file)]: sha256(file)};
  let bytes = fs.statSync(file).size;
  for (const g of doc.weightsManifest) {
    for (const p of g.paths) {
      const f = path.join(path.dirname(file), p);
      files[p] = sha256(f);
      bytes += fs.statSync(f).size;
    }
  }
  const t0 = Date.now();
  const model = await tf.loadGraphModel(fsGraphHandler(file));
  const loadMs = Date.now() - t0;
  const specs = model.inputs.map((inp, k) => {
    const open = OPEN_DIMS[base];
    const shape = (inp.shape || []).map((d, j) => (d === -1 || d == null ? (j === 0 ? 1 : open[j]) : d));
    if (shape.some((d) => d == null)) throw new Error(`${base}: no size for the open dims of ${inp.name}`);
    const dtype = inp.dtype === 'float32' ? 'float32' : inp.dtype;
    const range = (RANGES[base] || {})[inp.name] || (dtype === 'float32' ? [0, 1] : [0, 256]);
    return {name: inp.name, dtype, shape, layout: layoutOf(shape), seed: 1000 + k, range};
  });
  for (const s of specs) if (!['float32', 'int32'].includes(s.dtype)) throw new Error(`${base}: input dtype ${s.dtype}`);
  const placeholderDtypes = Object.fromEntries(doc.modelTopology.node.filter((n) => n.op === 'Placeholder')
    .map((n) => [n.name, ((n.attr || {}).dtype || {}).type]));
  const arrays = specs.map(makeInput);
  const names = outputNames(model);
  const t1 = Date.now();
  const ref = await run(model, feedTensors(specs, arrays), names);
  const runMs = Date.now() - t1;
  const floatIn = specs.map((s) => s.dtype === 'float32' && s.range[0] !== s.range[1]);
  const moved = [];
  if (floatIn.some((x) => x)) {
    for (const dir of [1, -1]) {
      const nudged = arrays.map((a, k) => (floatIn[k] ? nudge(a, dir) : a));
      moved.push(await run(model, feedTensors(specs, nudged), names));
    }
  }
  const chunks = [];
  let offset = 0;
  const outputs = ref.map((o, k) => {
    const n = o.data.length;
    const {stride, count} = sampleIndex(n);
    const stored = pick(o.data, stride, count);
    const raw = o.dtype === 'bool' ? Uint8Array.from(stored) : stored;
    const bytesOut = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    let sum = 0;
    let maxAbs = 0;
    let finite = true;
    for (let i = 0; i < n; i++) {
      const v = Number(o.data[i]);
      if (!Number.isFinite(v)) finite = false;
      else {
        sum += v;
        maxAbs = Math.max(maxAbs, Math.abs(v));
      }
    }
    const rec = {name: names[k], dtype: o.dtype, shape: o.shape, stride, count, offset, nbytes: bytesOut.length,
      sum, max_abs: maxAbs, all_finite: finite, tfjs_backing_array: o.backing};
    if (moved.length) {
      let sens = 0;
      let changed = 0;
      for (const m of moved) {
        const d = m[k].data;
        if (d.length !== n) { sens = null; break; }
        for (let i = 0; i < n; i++) {
          if (o.dtype === 'float32') {
            const diff = Math.abs(d[i] - o.data[i]);
            if (diff > sens || Number.isNaN(diff)) sens = diff;
          } else if (d[i] !== o.data[i]) changed += 1;
        }
      }
      if (o.dtype === 'float32') rec.sensitivity = sens;
      else rec.changed_by_ulp = changed;
    }
    chunks.push(bytesOut);
    offset += bytesOut.length;
    return rec;
  });
  model.dispose();
  const bin = Buffer.concat(chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)));
  fs.writeFileSync(path.join(outDir, `${base}.bin`), bin);
  writeJSON(path.join(outDir, `${base}.json`), {
    package: pkgSpec, model: path.basename(file), files, bytes, tfjs: tf.version.tfjs, backend: tf.getBackend(),
    nodes: doc.modelTopology.node.length, ops, functions,
    placeholder_dtypes: placeholderDtypes,
    inputs: specs, outputs, load_ms: loadMs, run_ms: runMs,
  });
  return {base, runMs, nbytes: bin.length};
}

/**
 * The dynamic-shape ops on small hand-made cases with ties, flipped and empty boxes, soft-NMS,
 * padding and the partition path of top-k (> 600 elements): tfjs-core's own kernels, called with
 * the arguments tfjs-converter's dynamic/evaluation executors pass them.
 */
async function recordDynamicOps(outFile) {
  const cases = [];
  const round = (u, step) => Array.from(u, (v) => Math.floor(v / step) * step);
  const n = 60;
  const u = uniform01(42, n * 5);
  const boxes = [];
  for (let i = 0; i < n; i++) {
    const y = u[5 * i] * 0.8;
    const x = u[5 * i + 1] * 0.8;
    const h = 0.05 + u[5 * i + 2] * 0.3;
    const w = 0.05 + u[5 * i + 3] * 0.3;
    if (i % 7 === 3) boxes.push([y + h, x + w, y, x]);  // corners given the other way round
    else if (i % 11 === 5) boxes.push([y, x, y, x + w]);  // zero area
    else boxes.push([y, x, y + h, x + w]);
  }
  const scores = round(uniform01(43, n), 0.05);  // many ties
  const flatBoxes = Float32Array.from(boxes.flat());
  const f32 = (a) => Array.from(Float32Array.from(a));
  const bT = tf.tensor2d(flatBoxes, [n, 4]);
  const sT = tf.tensor1d(scores);
  const nms = [
    {op: 'NonMaxSuppressionV3', max: 20, iou: 0.5, score: 0.3},
    {op: 'NonMaxSuppressionV3', max: 100, iou: 0.3, score: -1e9},
    {op: 'NonMaxSuppressionV3', max: 5, iou: 1.0, score: 0.0},
    {op: 'NonMaxSuppressionV4', max: 30, iou: 0.4, score: 0.5, pad: true},
    {op: 'NonMaxSuppressionV4', max: 30, iou: 0.4, score: 0.5, pad: false},
    {op: 'NonMaxSuppressionV5', max: 25, iou: 0.5, score: 0.2, sigma: 0.0},
    {op: 'NonMaxSuppressionV5', max: 25, iou: 1.0, score: 0.1, sigma: 0.5},
    {op: 'NonMaxSuppressionV5', max: 60, iou: 0.6, score: 0.05, sigma: 0.25},
  ];
  for (const c of nms) {
    let outs;
    if (c.op === 'NonMaxSuppressionV3') {
      outs = [await tf.image.nonMaxSuppressionAsync(bT, sT, c.max, c.iou, c.score)];
    } else if (c.op === 'NonMaxSuppressionV4') {
      const r = await tf.image.nonMaxSuppressionPaddedAsync(bT, sT, c.max, c.iou, c.score, c.pad);
      outs = [r.selectedIndices, r.validOutputs];
    } else {
      const r = await tf.image.nonMaxSuppressionWithScoreAsync(bT, sT, c.max, c.iou, c.score, c.sigma);
      outs = [r.selectedIndices, r.selectedScores];
    }
    cases.push({...c, boxes: f32(flatBoxes), scores: f32(scores),
      outputs: outs.map((t) => ({dtype: t.dtype, shape: t.shape, values: Array.from(t.dataSync())}))});
    tf.dispose(outs);
  }
  tf.dispose([bT, sT]);
  const topk = [
    {shape: [7], k: 4, sorted: true, step: 0.25},
    {shape: [3, 50], k: 10, sorted: true, step: 0.1},
    {shape: [3, 50], k: 10, sorted: false, step: 0.1},
    {shape: [2000], k: 37, sorted: false, step: 0.001},
    {shape: [2000], k: 1500, sorted: false, step: 0.01},
    {shape: [2, 1300], k: 100, sorted: true, step: 0.01},
    {shape: [5], k: 0, sorted: true, step: 0.5},
  ];
  for (const c of topk) {
    const size = c.shape.reduce((a, b) => a * b, 1);
    const x = f32(round(uniform01(44 + cases.length, size), c.step));
    const t = tf.tensor(x, c.shape);
    const r = tf.topk(t, c.k, c.sorted);
    cases.push({op: 'TopKV2', ...c, x, outputs: [r.values, r.indices].map((o) => ({dtype: o.dtype, shape: o.shape, values: Array.from(o.dataSync())}))});
    tf.dispose([t, r.values, r.indices]);
  }
  for (const shape of [[4, 5, 3], [9], [0, 3]]) {
    const size = shape.reduce((a, b) => a * b, 1);
    const x = Array.from(uniform01(99, size), (v) => (v > 0.6 ? 1 : 0));
    const t = tf.tensor(x, shape, 'bool');
    const r = await tf.whereAsync(t);
    cases.push({op: 'Where', shape, x, outputs: [{dtype: r.dtype, shape: r.shape, values: Array.from(r.dataSync())}]});
    tf.dispose([t, r]);
  }
  writeJSON(outFile, {tfjs: tf.version.tfjs, backend: tf.getBackend(), cases});
}

async function recordPackage(pkgDir, outDir, pkgSpec, only) {
  fs.mkdirSync(outDir, {recursive: true});
  const files = fs.readdirSync(pkgDir).filter((f) => f.endsWith('.json')).sort().filter((f) => {
    const doc = JSON.parse(fs.readFileSync(path.join(pkgDir, f), 'utf8'));
    return !Array.isArray(doc) && doc.format === 'graph-model';
  }).filter((f) => only.length === 0 || only.includes(path.basename(f, '.json')));
  for (const f of files) {
    try {
      const r = await recordModel(path.join(pkgDir, f), outDir, pkgSpec);
      console.log(`${r.base}: ${r.runMs} ms, ${r.nbytes} bytes`);
    } catch (e) {
      console.error(`${f}: FAILED ${e && e.stack ? e.stack : e}`);
      process.exitCode = 1;
    }
  }
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname;
if (isMain) {
  const args = process.argv.slice(2);
  const usage = 'usage: node record_graph_models.mjs PACKAGE_DIR OUT_DIR PACKAGE_SPEC [MODEL ...]\n' +
    '       node record_graph_models.mjs --dynamic-ops OUT.json';
  if (args[0] === '--dynamic-ops' ? args.length !== 2 : args.length < 3) {
    console.error(usage);
    process.exit(2);
  }
  (async () => {
    await initTf();
    if (args[0] === '--dynamic-ops') await recordDynamicOps(args[1]);
    else await recordPackage(args[0], args[1], args[2], args.slice(3));
  })().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
