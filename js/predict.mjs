#!/usr/bin/env node
// node predict.mjs DIR INPUT.json OUT.json
// Loads a tfjs layers model from DIR (model.json + shards, read with fs through
// a custom IOHandler) and writes model.predict() of the float32 input(s).
// INPUT.json: {"shape": [...], "data": [...]}  or  {"inputs": [{shape, data}, ...]}
// OUT.json:   {"shape", "data", "data_f32_b64"} or {"outputs": [{...}, ...]}
import fs from 'node:fs';
import path from 'node:path';
import {tf, initTf, readManifest, loadWeightsFromManifest, b64, writeJSON} from './common.mjs';

/** An IOHandler that loads model.json + shards from a local directory. */
export function fsHandler(dirOrModelJson) {
  return {
    load: async () => {
      const {dir, modelJSON} = readManifest(dirOrModelJson);
      if (modelJSON == null) throw new Error('predict needs a model.json, not a bare weights manifest');
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => loadWeightsFromManifest(dir, manifest));
    },
  };
}

export async function loadModel(dir) {
  await initTf();
  return tf.loadLayersModel(fsHandler(dir));
}

export function tensorToJSON(t) {
  const d = t.dataSync();
  const f32 = d instanceof Float32Array ? d : new Float32Array(d);
  return {shape: t.shape, data: Array.from(f32), data_f32_b64: b64(new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength))};
}

export function predictJSON(model, input) {
  const multi = input.inputs != null;
  const ins = (multi ? input.inputs : [input]).map((x) => tf.tensor(x.data, x.shape, 'float32'));
  const out = model.predict(ins.length === 1 && !multi ? ins[0] : ins);
  const outs = Array.isArray(out) ? out : [out];
  const res = outs.map(tensorToJSON);
  tf.dispose(ins);
  tf.dispose(outs);
  if (multi || Array.isArray(out)) return {outputs: res};
  return res[0];
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname;
if (isMain) {
  const [dir, inFile, outFile] = process.argv.slice(2);
  if (!dir || !inFile || !outFile) {
    console.error('usage: node predict.mjs DIR INPUT.json OUT.json');
    process.exit(2);
  }
  (async () => {
    const model = await loadModel(dir);
    const input = JSON.parse(fs.readFileSync(inFile, 'utf8'));
    writeJSON(outFile, predictJSON(model, input));
  })().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
