#!/usr/bin/env node
// node bench_engines.mjs BACKEND      (BACKEND: wasm | cpu)
//
// The tfjs 4.22 side of benchmarks/engines.py: one graph model on one tfjs backend, driven over
// stdin/stdout (one JSON object per line) so that its runs alternate with the Python engines'.
// The wasm backend loads its binaries from node_modules/@tensorflow/tfjs-backend-wasm/dist
// (setWasmPaths with a file path; no network); in Node it runs the SIMD binary in one thread
// (the threaded binary needs web workers: tfjs reports no multithread support in Node).
//
// Commands:
//   {"op": "load", "model": PATH, "inputs": [{"name", "dtype", "shape", "file"}], "outputs": [NAME, ...]}
//       -> {"backend", "simd", "threads", "load_ms", "dynamic"}: loads the model, reads each input's
//          raw little-endian values (float32 / int32) from its file, keeps them as tensors
//   {"op": "run", "n": N} -> {"ms": [...]}: N timed calls, each execute (executeAsync for graphs with
//          dynamic ops) + dataSync of every output (the values in JS memory), outputs disposed after
//   {"op": "dump", "dir": D} -> {"outputs": [{"name", "dtype", "shape", "file"}]}: one call, each
//          output's values written to D (float32 / int32 / uint8 for bool), for the parent's check
//   {"op": "quit"}
// A failed command replies {"error": message}.
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import {createRequire} from 'node:module';
import * as tf from '@tensorflow/tfjs';
import {setWasmPaths, getThreadsCount} from '@tensorflow/tfjs-backend-wasm';
import {fsGraphHandler} from './common.mjs';

const backend = process.argv[2];
if (!['wasm', 'cpu'].includes(backend)) {
  console.error('usage: node bench_engines.mjs wasm|cpu');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const wasmDist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;

// graph_executor warns on every executeAsync of a graph without dynamic ops: not news here.
const consoleWarn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).startsWith('This model execution did not contain')) consoleWarn(...args);
};

// stdout carries the replies: anything a library prints goes to stderr.
console.log = (...args) => console.error(...args);

tf.enableProdMode();
if (backend === 'wasm') setWasmPaths(wasmDist);
if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not initialize`);
await tf.ready();

let model = null;
let feeds = null;
let names = null;
let dynamic = false;

function readInput(spec) {
  const b = fs.readFileSync(spec.file);
  const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const data = spec.dtype === 'float32' ? new Float32Array(buf) : new Int32Array(buf);
  return tf.tensor(data, spec.shape, spec.dtype === 'float32' ? 'float32' : 'int32');
}

async function call() {
  const outs = dynamic ? await model.executeAsync(feeds, names) : model.execute(feeds, names);
  const list = Array.isArray(outs) ? outs : [outs];
  const data = list.map((t) => t.dataSync());
  return {list, data};
}

async function handle(cmd) {
  if (cmd.op === 'load') {
    const t0 = performance.now();
    model = await tf.loadGraphModel(fsGraphHandler(cmd.model));
    const loadMs = performance.now() - t0;
    feeds = Object.fromEntries(cmd.inputs.map((s) => [s.name, readInput(s)]));
    names = cmd.outputs;
    try {
      tf.dispose(model.execute(feeds, names));
    } catch (e) {
      if (!/executeAsync/.test(String(e.message))) throw e;
      dynamic = true;
    }
    const simd = backend === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : false;
    const threads = backend === 'wasm' ? getThreadsCount() : 1;
    return {backend: tf.getBackend(), simd, threads, load_ms: loadMs, dynamic, tfjs: tf.version.tfjs};
  }
  if (cmd.op === 'run') {
    const ms = [];
    for (let i = 0; i < cmd.n; i++) {
      const t0 = performance.now();
      const {list} = await call();
      ms.push(performance.now() - t0);
      tf.dispose(list);
    }
    return {ms};
  }
  if (cmd.op === 'dump') {
    const {list, data} = await call();
    const outputs = list.map((t, k) => {
      const file = path.join(cmd.dir, `${backend}-${k}.bin`);
      let arr = data[k];
      if (t.dtype === 'bool') arr = Uint8Array.from(arr);
      else if (t.dtype === 'float32' && !(arr instanceof Float32Array)) arr = Float32Array.from(arr);
      fs.writeFileSync(file, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
      return {name: names[k], dtype: t.dtype, shape: t.shape, file};
    });
    tf.dispose(list);
    return {outputs};
  }
  throw new Error(`unknown op ${cmd.op}`);
}

const rl = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
for await (const line of rl) {
  if (!line.trim()) continue;
  const cmd = JSON.parse(line);
  if (cmd.op === 'quit') break;
  let reply;
  try {
    reply = await handle(cmd);
  } catch (e) {
    reply = {error: String((e && e.stack) || e)};
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
}
process.exit(0);
