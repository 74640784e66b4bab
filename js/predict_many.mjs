#!/usr/bin/env node
// node predict_many.mjs JOBS.json OUT.json
// Runs many layers models in one process (tfjs 4.22, CPU backend), for tests that
// check exported models: JOBS.json is [{"dir", "input", "fit"?}, ...] with "input"
// as predict.mjs reads it ({shape, data} or {inputs: [...]}). OUT.json is one entry
// per job: {"output": <predict.mjs output>} or {"error": message}; with "fit": true
// also {"fit": {"loss_first", "loss_second", "prediction_change"}}: the losses of two
// model.fit steps (SGD 0.01, mean squared error towards zeros, batch = the whole input,
// training mode: dropout and batch statistics active) and the largest change of the
// (inference) prediction after them.
import fs from 'node:fs';
import {tf, writeJSON} from './common.mjs';
import {loadModel, predictJSON} from './predict.mjs';

async function fitStep(model, input) {
  const xs = (input.inputs ?? [input]).map((x) => tf.tensor(x.data, x.shape, 'float32'));
  const x = xs.length === 1 ? xs[0] : xs;
  const pred = model.predict(x);
  const ys = (Array.isArray(pred) ? pred : [pred]).map((p) => tf.zerosLike(p));
  model.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const h1 = await model.fit(x, ys.length === 1 ? ys[0] : ys, {epochs: 1, batchSize: xs[0].shape[0], shuffle: false});
  const h2 = await model.fit(x, ys.length === 1 ? ys[0] : ys, {epochs: 1, batchSize: xs[0].shape[0], shuffle: false});
  const after = model.predict(x);
  const change = tf.max(tf.abs(tf.sub(Array.isArray(after) ? after[0] : after, Array.isArray(pred) ? pred[0] : pred)));
  const res = {loss_first: h1.history.loss[0], loss_second: h2.history.loss[0], prediction_change: change.dataSync()[0]};
  tf.dispose([xs, pred, ys, after, change]);
  return res;
}

const [jobsFile, outFile] = process.argv.slice(2);
if (!jobsFile || !outFile) {
  console.error('usage: node predict_many.mjs JOBS.json OUT.json');
  process.exit(2);
}
const jobs = JSON.parse(fs.readFileSync(jobsFile, 'utf8'));
const results = [];
for (const job of jobs) {
  try {
    const model = await loadModel(job.dir);
    const res = {output: predictJSON(model, job.input)};
    if (job.fit) res.fit = await fitStep(model, job.input);
    model.dispose();
    results.push(res);
  } catch (e) {
    results.push({error: String(e && e.message ? e.message : e)});
  }
}
writeJSON(outFile, results);
