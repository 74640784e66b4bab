#!/usr/bin/env node
// Reference decoder: node decode.mjs DIR_OR_MANIFEST [--out DIR]
// Reads model.json (or a bare *weights_manifest.json), concatenates every
// group's shards and specs in manifest order, decodes them with
// tfjs-core 4.22.0 tf.io.decodeWeights and writes expected.json + expected.bin.
import fs from 'node:fs';
import path from 'node:path';
import {initTf, readManifest, loadWeightsFromManifest, tensorRawBytes, b64, writeJSON} from './common.mjs';

export async function decodeToExpected(input, outDir) {
  const tf = await initTf();
  const {dir, manifest} = readManifest(input);
  const [specs, buffers] = loadWeightsFromManifest(dir, manifest);
  const decoded = tf.io.decodeWeights(buffers, specs);
  const weights = [];
  const chunks = [];
  let offset = 0;
  for (const spec of specs) {
    const t = decoded[spec.name];
    if (t.dtype === 'string') {
      const vals = await t.bytes();
      weights.push({name: spec.name, dtype: 'string', shape: t.shape, values_b64: vals.map(b64)});
    } else {
      const bytes = tensorRawBytes(t);
      weights.push({name: spec.name, dtype: t.dtype, shape: t.shape, offset, nbytes: bytes.byteLength});
      chunks.push(Buffer.from(bytes));
      offset += bytes.byteLength;
    }
  }
  outDir = outDir || dir;
  fs.mkdirSync(outDir, {recursive: true});
  writeJSON(path.join(outDir, 'expected.json'), {source: `tfjs-core ${tf.version['tfjs-core']} tf.io.decodeWeights`, weights});
  fs.writeFileSync(path.join(outDir, 'expected.bin'), Buffer.concat(chunks));
  tf.dispose(Object.values(decoded));
  return weights;
}

function usage() {
  console.error('usage: node decode.mjs DIR_OR_MANIFEST [--out DIR]');
  process.exit(2);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname;
if (isMain) {
  const args = process.argv.slice(2);
  let input = null;
  let out = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') {
      out = args[++i];
      if (out == null) usage();
    } else if (args[i] === '-h' || args[i] === '--help') {
      usage();
    } else if (input == null) {
      input = args[i];
    } else {
      usage();
    }
  }
  if (input == null) usage();
  decodeToExpected(input, out).catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
