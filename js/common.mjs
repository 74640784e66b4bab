// Shared helpers for the Node.js reference scripts (tfjs 4.22.0, pure-JS CPU backend).
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

// PROD mode silences backend_util.warn(), which is what prints the
// "Hi, looks like you are running TensorFlow.js in Node.js" banner.
tf.enableProdMode();

export {tf};

export async function initTf() {
  await tf.setBackend('cpu');
  await tf.ready();
  return tf;
}

/**
 * Resolve DIR_OR_MANIFEST into {dir, manifestPath, modelJSON, manifest}.
 * A directory must contain model.json; a file is either a model.json-like
 * object with "weightsManifest" or a bare weights manifest (JSON list of groups).
 */
export function readManifest(arg) {
  let manifestPath = arg;
  if (fs.statSync(arg).isDirectory()) {
    manifestPath = path.join(arg, 'model.json');
    if (!fs.existsSync(manifestPath)) {
      const cands = fs.readdirSync(arg).filter((f) => f.endsWith('weights_manifest.json'));
      if (cands.length !== 1) {
        throw new Error(`${arg}: no model.json and not exactly one *weights_manifest.json`);
      }
      manifestPath = path.join(arg, cands[0]);
    }
  }
  const parsed = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  let modelJSON = null;
  let manifest;
  if (Array.isArray(parsed)) {
    manifest = parsed;
  } else {
    modelJSON = parsed;
    manifest = parsed.weightsManifest;
    if (manifest == null) throw new Error(`${manifestPath}: no weightsManifest`);
  }
  return {dir: path.dirname(manifestPath), manifestPath, modelJSON, manifest};
}

/**
 * Like tfjs-core's http/browserFiles loaders: all groups' specs concatenated in
 * order, all groups' shard files read in order. Returns [specs, ArrayBuffer[]].
 */
export function loadWeightsFromManifest(dir, manifest) {
  const specs = [];
  const buffers = [];
  for (const group of manifest) {
    specs.push(...group.weights);
    for (const p of group.paths) {
      const b = fs.readFileSync(path.join(dir, p));
      buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
    }
  }
  return [specs, buffers];
}

export function b64(u8) {
  return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');
}

/** Raw little-endian bytes of a numeric tensor (Uint8Array view). */
export function tensorRawBytes(t) {
  if (t.dtype === 'complex64') {
    const re = tf.real(t);
    const im = tf.imag(t);
    const r = re.dataSync();
    const i = im.dataSync();
    const out = new Float32Array(r.length * 2);
    for (let k = 0; k < r.length; k++) {
      out[2 * k] = r[k];
      out[2 * k + 1] = i[k];
    }
    re.dispose();
    im.dispose();
    return new Uint8Array(out.buffer);
  }
  const d = t.dataSync();
  if (t.dtype === 'float32' && !(d instanceof Float32Array)) throw new Error('float32 data not Float32Array');
  if (t.dtype === 'int32' && !(d instanceof Int32Array)) throw new Error('int32 data not Int32Array');
  if (t.dtype === 'bool' && !(d instanceof Uint8Array)) throw new Error('bool data not Uint8Array');
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/** JSON with 2-space indentation, but arrays of primitives kept on one line. */
export function prettyJSON(v, indent = '') {
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
    const inner = indent + '  ';
    return '[\n' + v.map((x) => inner + prettyJSON(x, inner)).join(',\n') + '\n' + indent + ']';
  }
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length === 0) return '{}';
    const inner = indent + '  ';
    return '{\n' + keys.map((k) => inner + JSON.stringify(k) + ': ' + prettyJSON(v[k], inner)).join(',\n') +
      '\n' + indent + '}';
  }
  return JSON.stringify(v);
}

/** Write a JSON file (prettyJSON) with a trailing newline. */
export function writeJSON(file, obj) {
  fs.writeFileSync(file, prettyJSON(obj) + '\n');
}

/** A tf.io IOHandler loading the graph or layers model at `file` (a model.json or its folder) from disk. */
export function fsGraphHandler(file) {
  return {
    load: async () => {
      const {dir, modelJSON} = readManifest(file);
      return tf.io.getModelArtifactsForJSON(modelJSON, async (m) => loadWeightsFromManifest(dir, m));
    },
  };
}
