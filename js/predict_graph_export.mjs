#!/usr/bin/env node
// node predict_graph_export.mjs JOBS.json OUT.json
// Runs many graph models in one process (tfjs 4.22, CPU backend), for the tests of
// tct.export(..., format="graph"). JOBS.json is [{"dir", "runs": [[input, ...], ...]}, ...]
// with each input {"name", "dtype": "float32" | "int32", "shape", "b64"} (little-endian raw
// values). Each model is loaded with tf.loadGraphModel (a custom IOHandler reading model.json
// and its shards) and run with executeAsync(feeds, outputNames) once per run.
// OUT.json: one entry per job, {"outputs": [[{"name", "dtype", "shape", "b64"}, ...] per run]}
// or {"error": message}.
import fs from 'node:fs';
import {tf, initTf, readManifest, loadWeightsFromManifest, writeJSON, tensorRawBytes, b64} from './common.mjs';

const consoleWarn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).startsWith('This model execution did not contain')) consoleWarn(...args);
};

function fsGraphHandler(dir) {
  return {
    load: async () => {
      const {dir: d, modelJSON} = readManifest(dir);
      return tf.io.getModelArtifactsForJSON(modelJSON, async (m) => loadWeightsFromManifest(d, m));
    },
  };
}

function tensorOf(input) {
  const buf = Buffer.from(input.b64, 'base64');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const data = input.dtype === 'int32' ? new Int32Array(ab) : new Float32Array(ab);
  return tf.tensor(data, input.shape, input.dtype);
}

const [jobsFile, outFile] = process.argv.slice(2);
if (!jobsFile || !outFile) {
  console.error('usage: node predict_graph_export.mjs JOBS.json OUT.json');
  process.exit(2);
}
await initTf();
const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
const results = [];
for (const job of jobs) {
  try {
    const model = await tf.loadGraphModel(fsGraphHandler(job.dir));
    const names = model.outputs.map((o) => o.name);
    const runs = [];
    for (const inputs of job.runs) {
      const feeds = {};
      for (const x of inputs) feeds[x.name] = tensorOf(x);
      const out = await model.executeAsync(feeds, names);
      const outs = Array.isArray(out) ? out : [out];
      runs.push(outs.map((t, i) => ({name: names[i], dtype: t.dtype, shape: t.shape, b64: b64(tensorRawBytes(t))})));
      tf.dispose(Object.values(feeds));
      tf.dispose(outs);
    }
    model.dispose();
    results.push({outputs: runs});
  } catch (e) {
    results.push({error: String(e && e.stack ? e.stack : e)});
  }
}
writeJSON(outFile, results);
