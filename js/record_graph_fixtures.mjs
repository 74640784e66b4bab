#!/usr/bin/env node
// node record_graph_fixtures.mjs [NAME ...]
// For every fixtures/graph_* directory (or the NAMEs given) holding model.json +
// inputs.json (written by fixtures/make_graph_fixtures.py): load the graph model
// with tf.loadGraphModel through a file IOHandler, run executeAsync on the inputs
// and write tfjs_outputs.json:
//   {"source": "...", "outputs": [{name, dtype, shape, data_b64}]}
// in model.outputs order (the signature's), data_b64 the raw little-endian bytes
// (float32 / int32: 4 bytes per element, bool: 1 byte).
import fs from 'node:fs';
import path from 'node:path';
import {tf, initTf, readManifest, loadWeightsFromManifest, tensorRawBytes, writeJSON} from './common.mjs';

const FIXTURES = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures');

function fsHandler(dir) {
  return {
    load: async () => {
      const {dir: d, modelJSON} = readManifest(dir);
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => loadWeightsFromManifest(d, manifest));
    },
  };
}

async function record(dir) {
  const model = await tf.loadGraphModel(fsHandler(dir));
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'inputs.json'), 'utf8'));
  const feeds = {};
  for (const inp of spec.inputs) {
    feeds[inp.name] = tf.tensor(inp.data, inp.shape, inp.dtype === 'int32' ? 'int32' : inp.dtype === 'bool' ? 'bool' : 'float32');
  }
  const names = model.outputs.map((o) => o.name);
  const outs = await model.executeAsync(feeds, names);
  const list = Array.isArray(outs) ? outs : [outs];
  const outputs = list.map((t, i) => ({
    name: names[i],
    dtype: t.dtype,
    shape: t.shape,
    data_b64: Buffer.from(tensorRawBytes(t)).toString('base64'),
  }));
  writeJSON(path.join(dir, 'tfjs_outputs.json'), {
    source: 'tfjs 4.22.0 (cpu backend) tf.loadGraphModel + executeAsync',
    outputs,
  });
  tf.dispose(Object.values(feeds));
  tf.dispose(list);
  model.dispose();
}

(async () => {
  await initTf();
  const wanted = process.argv.slice(2);
  const dirs = fs.readdirSync(FIXTURES)
    .filter((n) => n.startsWith('graph_') && fs.existsSync(path.join(FIXTURES, n, 'inputs.json')))
    .filter((n) => wanted.length === 0 || wanted.includes(n))
    .sort();
  for (const name of dirs) {
    await record(path.join(FIXTURES, name));
    console.log(name);
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
