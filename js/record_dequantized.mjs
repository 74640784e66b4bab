#!/usr/bin/env node
// node record_dequantized.mjs
// For each quantized converter fixture, loads it with tf.loadLayersModel (which
// dequantizes as tfjs-core decodeWeights does) and records model.predict() of
// the input stored in its predict.json (whose output is the ORIGINAL float
// Keras model's) into ../fixtures/dequantized_predict/<fixture>.json.
import fs from 'node:fs';
import path from 'node:path';
import {loadModel, predictJSON} from './predict.mjs';
import {writeJSON} from './common.mjs';

const here = path.dirname(new URL(import.meta.url).pathname);
const fixtures = path.join(here, '..', 'fixtures');
const CASES = ['tfjs_converter_dense_uint8', 'tfjs_converter_dense_uint16', 'tfjs_converter_dense_float16',
  'tfjs_converter_dense_mixed'];

const outDir = path.join(fixtures, 'dequantized_predict');
fs.mkdirSync(outDir, {recursive: true});
for (const name of CASES) {
  const dir = path.join(fixtures, name);
  const {input} = JSON.parse(fs.readFileSync(path.join(dir, 'predict.json'), 'utf8'));
  const model = await loadModel(dir);
  const x = {shape: input.shape, data: input.data};
  writeJSON(path.join(outDir, `${name}.json`), {
    source: `tf.loadLayersModel(fixtures/${name}) + predict, tfjs 4.22.0 (weights dequantized by tfjs-core)`,
    input: x,
    output: predictJSON(model, x),
  });
  model.dispose();
}
