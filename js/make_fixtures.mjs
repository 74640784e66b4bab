#!/usr/bin/env node
// Writes the "Made with @tensorflow/tfjs 4.22 in Node" fixtures into ../fixtures/.
// Deterministic and re-runnable:  cd js && npm ci && node make_fixtures.mjs
// Only the directories listed here are (re)written; other fixtures are left alone.
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {tf, initTf, writeJSON, b64} from './common.mjs';
import {decodeToExpected} from './decode.mjs';
import {loadModel, predictJSON} from './predict.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const FIXTURES = path.resolve(HERE, '..', 'fixtures');

// ---------------------------------------------------------------- helpers

/** mulberry32: tiny deterministic PRNG returning floats in [0, 1). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seedOf(str) {
  let h = 2166136261;
  for (let i = 0; i < str.length; i++) h = Math.imul(h ^ str.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function freshDir(name) {
  const dir = path.join(FIXTURES, name);
  fs.rmSync(dir, {recursive: true, force: true});
  fs.mkdirSync(dir, {recursive: true});
  return dir;
}

/** Set every weight of `model` to seeded uniform values (positive where needed). */
function setDeterministicWeights(model, seed) {
  const r = rng(seed);
  const ws = model.weights.map((w) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const vals = new Float32Array(n);
    const name = w.originalName || w.name;
    for (let i = 0; i < n; i++) {
      const u = r();
      if (/moving_variance|gamma/.test(name)) vals[i] = 0.5 + u; // positive
      else vals[i] = u - 0.5; // (-0.5, 0.5): biases non-zero too
    }
    return tf.tensor(vals, w.shape, w.dtype);
  });
  model.setWeights(ws);
  tf.dispose(ws);
}

/** Seeded float32-exact input values in [-1, 1) (or ints in [0, maxInt)). */
function makeInput(shape, seed, maxInt = null) {
  const r = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = [];
  for (let i = 0; i < n; i++) {
    data.push(maxInt == null ? Math.fround(2 * r() - 1) : Math.floor(r() * maxInt));
  }
  return {shape, data};
}

/** Same as tfjs-core io_utils.getModelJSONForModelArtifacts (not exported by tf.io). */
function getModelJSONForModelArtifacts(artifacts, manifest) {
  const result = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: manifest,
  };
  if (artifacts.signature != null) result.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) result.userDefinedMetadata = artifacts.userDefinedMetadata;
  if (artifacts.modelInitializer != null) result.modelInitializer = artifacts.modelInitializer;
  if (artifacts.initializerSignature != null) result.initializerSignature = artifacts.initializerSignature;
  if (artifacts.trainingConfig != null) result.trainingConfig = artifacts.trainingConfig;
  return result;
}

/**
 * Save exactly what tfjs-core 4.22 browser_files.ts BrowserDownloads.save
 * ('downloads://model') makes the browser download: model.json =
 * JSON.stringify(getModelJSONForModelArtifacts(artifacts,
 *   [{paths: ['./model.weights.bin'], weights: weightSpecs}])) and
 * model.weights.bin = CompositeArrayBuffer.join(weightData).
 */
async function saveBrowserStyle(model, dir, saveConfig = undefined) {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weightBuffer = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
    const manifest = [{paths: ['./model.weights.bin'], weights: artifacts.weightSpecs}];
    const modelJSON = getModelJSONForModelArtifacts(artifacts, manifest);
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJSON));
    if (artifacts.weightData != null) {
      fs.writeFileSync(path.join(dir, 'model.weights.bin'), Buffer.from(weightBuffer));
    }
    return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
  }), saveConfig);
}

/** Load the saved fixture back (from files) and record a prediction. */
async function writePredict(dir, input) {
  const m = await loadModel(dir);
  const output = predictJSON(m, input);
  writeJSON(path.join(dir, 'predict.json'), {input, output});
  m.dispose();
}

async function layersFixture(name, build, input, saveConfig, fromMemory = false) {
  const dir = freshDir(name);
  const model = build();
  setDeterministicWeights(model, seedOf(name));
  await saveBrowserStyle(model, dir, saveConfig);
  if (fromMemory) {
    // tfjs cannot reload this model (see README): predict with the in-memory one.
    writeJSON(path.join(dir, 'predict.json'), {input, output: predictJSON(model, input)});
  } else {
    await writePredict(dir, input);
  }
  await decodeToExpected(dir);
  model.dispose();
  return dir;
}

const L = tf.layers;

function denseClassifier(prefix) {
  const model = tf.sequential({name: `${prefix}_sequential`});
  model.add(L.dense({name: `${prefix}_dense_1`, units: 16, activation: 'relu', inputShape: [4]}));
  model.add(L.dense({name: `${prefix}_dense_2`, units: 3, activation: 'softmax'}));
  return model;
}

// ---------------------------------------------------------------- fixtures

async function browserDense() {
  await layersFixture('browser_dense', () => denseClassifier('bd'), makeInput([5, 4], 1));
}

async function browserDenseOptimizer() {
  const name = 'browser_dense_optimizer';
  const dir = freshDir(name);
  const model = denseClassifier('bdo');
  setDeterministicWeights(model, seedOf(name));
  model.compile({optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy'});
  const x = tf.tensor(makeInput([6, 4], 2).data, [6, 4]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32'), 3).toFloat();
  // Two optimizer steps: one batch per epoch, no shuffling.
  await model.fit(x, y, {epochs: 2, batchSize: 6, shuffle: false, verbose: 0});
  tf.dispose([x, y]);
  await saveBrowserStyle(model, dir, {includeOptimizer: true});
  await writePredict(dir, makeInput([5, 4], 1));
  await decodeToExpected(dir);
  model.dispose();
}

async function ml5Bundle() {
  // ml5.js NeuralNetwork.save('model'): model.json holds ONLY modelTopology +
  // weightsManifest (no format/generatedBy/convertedBy), weights in
  // model.weights.bin, and NeuralNetworkData.meta in model_meta.json.
  const name = 'ml5_bundle';
  const dir = freshDir(name);
  const model = denseClassifier('ml5');
  setDeterministicWeights(model, seedOf(name));
  await model.save(tf.io.withSaveHandler(async (data) => {
    const weightsManifest = {
      modelTopology: data.modelTopology,
      weightsManifest: [{paths: ['./model.weights.bin'], weights: data.weightSpecs}],
    };
    fs.writeFileSync(path.join(dir, 'model.weights.bin'), Buffer.from(tf.io.CompositeArrayBuffer.join(data.weightData)));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(weightsManifest));
    return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(data)};
  }));
  const meta = {
    inputUnits: [4],
    outputUnits: 3,
    inputs: {
      x0: {dtype: 'number', min: 0, max: 10},
      x1: {dtype: 'number', min: -5, max: 5},
      x2: {dtype: 'number', min: 1.5, max: 2.5},
      x3: {dtype: 'number', min: 0, max: 255},
    },
    outputs: {
      label: {
        dtype: 'string', min: 0, max: 1, uniqueValues: ['a', 'b', 'c'],
        legend: {a: [1, 0, 0], b: [0, 1, 0], c: [0, 0, 1]},
      },
    },
    isNormalized: true,
  };
  fs.writeFileSync(path.join(dir, 'model_meta.json'), JSON.stringify(meta));
  await writePredict(dir, makeInput([5, 4], 1));
  await decodeToExpected(dir);
  model.dispose();
}

function f32FromBits(bitsList) {
  const u = new Uint32Array(bitsList);
  return new Float32Array(u.buffer);
}

async function encodeAllDtypes() {
  const dir = freshDir('tfjs_encode_all_dtypes');
  const enc = new TextEncoder();
  const specials = f32FromBits([
    0x7fc00000, // canonical NaN
    0x7fc12345, // quiet NaN with payload
    0xffc00001, // negative NaN with payload
    0x7f800001, // signalling NaN
    0x80000000, // -0.0
    0x7f800000, // +Inf
    0xff800000, // -Inf
    0x00000001, // smallest subnormal
    0x807fffff, // largest negative subnormal
    0x7f7fffff, // max float32
    0x3f800000, // 1
    0xbeaaaaab, // -1/3
  ]);
  const tensors = [
    {name: 'f32/specials', tensor: tf.tensor(specials, [3, 4], 'float32')},
    {name: 'f32/scalar', tensor: tf.scalar(-1.25, 'float32')},
    {name: 'f32/empty_0x3', tensor: tf.tensor([], [0, 3], 'float32')},
    {name: 'f32/ramp_2x3x4', tensor: tf.tensor(Array.from({length: 24}, (_, i) => i * 0.5 - 6), [2, 3, 4], 'float32')},
    {name: 'i32/extremes', tensor: tf.tensor([-2147483648, 2147483647, 0, -1, 1, 123456789], [2, 3], 'int32')},
    {name: 'i32/scalar', tensor: tf.scalar(-7, 'int32')},
    {name: 'bool/mask', tensor: tf.tensor([true, false, false, true, true], [5], 'bool')},
    {name: 'bool/scalar', tensor: tf.scalar(true, 'bool')},
    // string tensors: JS strings are UTF-8 encoded by tfjs.
    {name: 'str/utf8', tensor: tf.tensor(['', 'hello', 'héllo wörld', '日本語', '🙂', 'a\u0000b'], [6], 'string')},
    {name: 'str/empty_0', tensor: tf.tensor([], [0], 'string')},
    {name: 'str/2x2', tensor: tf.tensor([['ab', 'cde'], ['', 'f']], [2, 2], 'string')},
    {name: 'str/scalar', tensor: tf.scalar('scalar string', 'string')},
    // Raw bytes (all Uint8Array: tfjs does not encode a mix of strings and
    // Uint8Arrays correctly), including invalid UTF-8.
    {name: 'str/raw_bytes', tensor: tf.tensor([
      new Uint8Array([0xff, 0xfe, 0x00, 0x80]),
      new Uint8Array([]),
      new Uint8Array([0xc3, 0x28]),
      enc.encode('ok'),
    ], [4], 'string')},
    {name: 'c64/values', tensor: tf.complex(
        f32FromBits([0x3f800000, 0x80000000, 0x7fc00000, 0x7f800000]),
        f32FromBits([0xc0000000, 0x00000000, 0x3e800000, 0x00000001]))},
    {name: 'c64/2x2', tensor: tf.complex(tf.tensor([[1, 2], [3, 4]]), tf.tensor([[-1, -2], [-3, -4]]))},
    {name: 'c64/scalar', tensor: tf.complex(tf.scalar(0.5), tf.scalar(-0.25))},
    {name: 'f32/after_strings', tensor: tf.tensor([3.5, -4.5], [2], 'float32')},
  ];
  const {data, specs} = await tf.io.encodeWeights(tensors);
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(data));
  fs.writeFileSync(path.join(dir, 'model.json'),
      JSON.stringify({weightsManifest: [{paths: ['weights.bin'], weights: specs}]}));
  tf.dispose(tensors.map((t) => t.tensor));
  await decodeToExpected(dir);
}

async function quantizedManual() {
  // Hand-built quantized weights, as a browser running tfjs-core 4.22 reads
  // them (no original_dtype). Two groups; group 1 is split into two shards
  // in the middle of a weight, so readers must concatenate all shards/groups.
  const dir = freshDir('tfjs_quantized_manual');
  const parts = [];
  const specs1 = [];
  const specs2 = [];
  const u8 = (arr) => Buffer.from(Uint8Array.from(arr));
  const u16 = (arr) => Buffer.from(new Uint8Array(Uint16Array.from(arr).buffer));
  const f32 = (arr) => Buffer.from(new Uint8Array(Float32Array.from(arr).buffer));

  // uint8 -> float32, exact .5 grid: q*0.5 - 2.5
  specs1.push({name: 'q/u8_f32_half_grid', shape: [12], dtype: 'float32',
    quantization: {dtype: 'uint8', scale: 0.5, min: -2.5}});
  parts.push(u8([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]));
  // uint8 -> int32, ties: Math.round(-2.5) = -2, Math.round(-0.5) = -0 -> 0,
  // Math.round(0.5) = 1, Math.round(2.5) = 3 (half towards +inf, NOT half-even)
  specs1.push({name: 'q/u8_i32_ties', shape: [3, 4], dtype: 'int32',
    quantization: {dtype: 'uint8', scale: 0.5, min: -2.5}});
  parts.push(u8([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]));
  // uint8 -> float32 with a scale that is not exact: computed in float64
  // (q*scale + min) then rounded to float32 when stored in the Float32Array.
  specs1.push({name: 'q/u8_f32_inexact', shape: [2, 3], dtype: 'float32',
    quantization: {dtype: 'uint8', scale: 0.00784313725490196, min: -1.0000001}});
  parts.push(u8([0, 1, 127, 128, 254, 255]));
  // odd byte count so far (30): the next uint16 weight starts unaligned.
  specs1.push({name: 'q/u16_f32', shape: [7], dtype: 'float32',
    quantization: {dtype: 'uint16', scale: 1 / 3, min: -1000.25}});
  parts.push(u16([0, 1, 2, 3, 3000, 32768, 65535]));
  specs1.push({name: 'q/u16_i32_ties', shape: [8], dtype: 'int32',
    quantization: {dtype: 'uint16', scale: 0.5, min: -100.5}});
  parts.push(u16([0, 1, 2, 199, 200, 201, 202, 65535]));
  // float16 (dtype must be float32 in tfjs-core)
  specs1.push({name: 'q/f16_specials', shape: [16], dtype: 'float32',
    quantization: {dtype: 'float16'}});
  parts.push(u16([
    0x0000, 0x8000, 0x3c00, 0xc000, 0x7c00, 0xfc00, 0x7e00, 0x7d01,
    0xfe55, 0x0001, 0x03ff, 0x8001, 0x0400, 0x7bff, 0x3555, 0xfbff,
  ]));
  const group1 = Buffer.concat(parts);
  // group 2: a plain float32 weight after the quantized ones, then uint8 scalar
  const g2parts = [];
  specs2.push({name: 'plain/f32', shape: [2, 2], dtype: 'float32'});
  g2parts.push(f32([1.5, -0, 3.25, -7]));
  specs2.push({name: 'q/u8_f32_scalar', shape: [], dtype: 'float32',
    quantization: {dtype: 'uint8', scale: 0.25, min: 1}});
  g2parts.push(u8([9]));
  specs2.push({name: 'q/u16_i32_empty', shape: [0, 2], dtype: 'int32',
    quantization: {dtype: 'uint16', scale: 2, min: 0}});
  const group2 = Buffer.concat(g2parts);

  const cut = 41; // inside 'q/u16_f32'
  fs.writeFileSync(path.join(dir, 'group1-shard1of2.bin'), group1.subarray(0, cut));
  fs.writeFileSync(path.join(dir, 'group1-shard2of2.bin'), group1.subarray(cut));
  fs.writeFileSync(path.join(dir, 'group2-shard1of1.bin'), group2);
  const manifest = [
    {paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: specs1},
    {paths: ['group2-shard1of1.bin'], weights: specs2},
  ];
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({weightsManifest: manifest}, null, 2) + '\n');
  await decodeToExpected(dir);
}

// ---------------------------------------------------------------- layer zoo

function seq(name, layers) {
  const m = tf.sequential({name});
  for (const l of layers) m.add(l);
  return m;
}

const zoo = {
  conv2d: [() => seq('conv2d_model', [
    L.conv2d({name: 'c_same', inputShape: [9, 9, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu'}),
    L.conv2d({name: 'c_valid_s2', filters: 5, kernelSize: [3, 2], strides: 2, padding: 'valid'}),
    L.conv2d({name: 'c_dilated', filters: 3, kernelSize: 2, dilationRate: 2, padding: 'same', activation: 'tanh'}),
    L.conv2d({name: 'c_nobias', filters: 2, kernelSize: 1, useBias: false}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 5}),
  ]), [2, 9, 9, 3]],
  depthwise_conv2d: [() => seq('depthwise_model', [
    L.depthwiseConv2d({name: 'dw_same', inputShape: [6, 6, 3], kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu'}),
    L.depthwiseConv2d({name: 'dw_valid_s2', kernelSize: 2, strides: 2, depthMultiplier: 1, padding: 'valid'}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 4}),
  ]), [2, 6, 6, 3]],
  separable_conv2d: [() => seq('separable_model', [
    L.separableConv2d({name: 'sep_valid', inputShape: [7, 7, 3], filters: 4, kernelSize: 3, padding: 'valid', activation: 'relu'}),
    L.separableConv2d({name: 'sep_same_s2', filters: 3, kernelSize: 3, strides: 2, padding: 'same'}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 4}),
  ]), [2, 7, 7, 3]],
  // tfjs-layers 4.22 SeparableConv2D.getConfig() drops depth_multiplier, so this
  // saved model.json cannot be reloaded by tfjs itself (kernel shape mismatch);
  // predict.json comes from the in-memory model. Readers must infer the depth
  // multiplier from depthwise_kernel's shape [kh, kw, in, dm].
  separable_conv2d_dm2: [() => seq('separable_dm2_model', [
    L.separableConv2d({name: 'sep_dm2', inputShape: [5, 5, 2], filters: 3, kernelSize: 3, depthMultiplier: 2, padding: 'same'}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 2}),
  ]), [2, 5, 5, 2], null, true],
  conv2d_transpose: [() => seq('conv2d_transpose_model', [
    L.conv2dTranspose({name: 'ct_same_s2', inputShape: [4, 4, 3], filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}),
    L.conv2dTranspose({name: 'ct_valid', filters: 2, kernelSize: [2, 3], padding: 'valid'}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [2, 4, 4, 3]],
  conv1d: [() => seq('conv1d_model', [
    L.conv1d({name: 'c1_same', inputShape: [12, 3], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu'}),
    L.maxPooling1d({name: 'maxpool1d', poolSize: 2}),
    L.conv1d({name: 'c1_valid_dil', filters: 5, kernelSize: 2, dilationRate: 2, padding: 'valid'}),
    L.averagePooling1d({name: 'avgpool1d', poolSize: 2, strides: 1}),
    L.conv1d({name: 'c1_s2', filters: 3, kernelSize: 2, strides: 2}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [2, 12, 3]],
  pool2d: [() => {
    const x = tf.input({name: 'img', shape: [8, 8, 2]});
    let h = L.conv2d({name: 'conv', filters: 3, kernelSize: 3, padding: 'same'}).apply(x);
    h = L.maxPooling2d({name: 'maxpool', poolSize: 2, strides: 2}).apply(h);
    h = L.averagePooling2d({name: 'avgpool_same', poolSize: 3, strides: 1, padding: 'same'}).apply(h);
    const h2 = L.maxPooling2d({name: 'maxpool_valid_s1', poolSize: [2, 3], strides: 1, padding: 'valid'}).apply(h);
    const g1 = L.globalAveragePooling2d({name: 'gap'}).apply(h);
    const g2 = L.globalMaxPooling2d({name: 'gmp'}).apply(h2);
    const c = L.concatenate({name: 'concat'}).apply([g1, g2]);
    const y = L.dense({name: 'out', units: 3}).apply(c);
    return tf.model({name: 'pool2d_model', inputs: x, outputs: y});
  }, [2, 8, 8, 2]],
  batchnorm: [() => seq('batchnorm_model', [
    L.conv2d({name: 'conv', inputShape: [4, 4, 2], filters: 3, kernelSize: 2}),
    L.batchNormalization({name: 'bn_conv', epsilon: 0.01, momentum: 0.9}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'dense', units: 6}),
    L.batchNormalization({name: 'bn_dense', epsilon: 0.25, center: true, scale: true}),
    L.batchNormalization({name: 'bn_noscale', epsilon: 0.001, scale: false}),
    L.dense({name: 'out', units: 3}),
  ]), [3, 4, 4, 2]],
  layernorm: [() => seq('layernorm_model', [
    L.dense({name: 'dense', inputShape: [5], units: 6}),
    L.layerNormalization({name: 'ln', epsilon: 0.01}),
    L.dense({name: 'dense2', units: 4}),
    L.layerNormalization({name: 'ln_default'}),
    L.dense({name: 'out', units: 3}),
  ]), [4, 5]],
  embedding: [() => seq('embedding_model', [
    L.embedding({name: 'emb', inputShape: [6], inputDim: 10, outputDim: 4}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [3, 6], 10],
  lstm: [() => seq('lstm_model', [
    L.lstm({name: 'lstm_seq', inputShape: [7, 3], units: 5, returnSequences: true}),
    L.lstm({name: 'lstm_last', units: 4, returnSequences: false}),
    L.dense({name: 'out', units: 2}),
  ]), [2, 7, 3]],
  gru: [() => seq('gru_model', [
    L.gru({name: 'gru_seq', inputShape: [6, 3], units: 5, returnSequences: true}),
    L.gru({name: 'gru_last', units: 3}),
    L.dense({name: 'out', units: 2}),
  ]), [2, 6, 3]],
  simple_rnn: [() => seq('simple_rnn_model', [
    L.simpleRNN({name: 'rnn_seq', inputShape: [6, 3], units: 5, returnSequences: true}),
    L.simpleRNN({name: 'rnn_last', units: 3}),
    L.dense({name: 'out', units: 2}),
  ]), [2, 6, 3]],
  functional: [() => {
    const a = tf.input({name: 'in_a', shape: [4]});
    const b = tf.input({name: 'in_b', shape: [3]});
    const da = L.dense({name: 'da', units: 6, activation: 'relu'}).apply(a);
    const db = L.dense({name: 'db', units: 6, activation: 'tanh'}).apply(b);
    const sum = L.add({name: 'add'}).apply([da, db]);
    const prod = L.multiply({name: 'mul'}).apply([da, db]);
    const cat = L.concatenate({name: 'cat', axis: -1}).apply([sum, prod, a]);
    const out1 = L.dense({name: 'out_cls', units: 3, activation: 'softmax'}).apply(cat);
    const out2 = L.dense({name: 'out_reg', units: 1}).apply(sum);
    return tf.model({name: 'functional_model', inputs: [a, b], outputs: [out1, out2]});
  }, [[5, 4], [5, 3]]],
  activations: [() => {
    const acts = ['relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'tanh', 'softplus',
      'softsign', 'swish', 'mish', 'gelu', 'linear', 'logSoftmax', 'softmax'];
    return seq('activations_model', acts.map((act, i) => L.dense({
      name: `d${i}_${act}`, units: 6, activation: act, ...(i === 0 ? {inputShape: [6]} : {}),
    })));
  }, [5, 6]],
  reshape_dropout: [() => seq('reshape_dropout_model', [
    L.dense({name: 'dense', inputShape: [4], units: 12}),
    L.reshape({name: 'reshape', targetShape: [3, 4]}),
    L.dropout({name: 'dropout', rate: 0.5}),
    L.permute({name: 'permute', dims: [2, 1]}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [5, 4]],
};

async function layerZoo() {
  let seed = 100;
  for (const [kind, [build, inShape, maxInt, fromMemory]] of Object.entries(zoo)) {
    seed++;
    const input = Array.isArray(inShape[0]) ?
      {inputs: inShape.map((s, i) => makeInput(s, seed * 10 + i, maxInt))} :
      makeInput(inShape, seed, maxInt);
    await layersFixture(`browser_layers_${kind}`, build, input, undefined, fromMemory);
  }
}

// ---------------------------------------------------------------- main

async function main() {
  await initTf();
  fs.mkdirSync(FIXTURES, {recursive: true});
  const only = process.argv.slice(2);
  const steps = {browserDense, browserDenseOptimizer, ml5Bundle, encodeAllDtypes, quantizedManual, layerZoo};
  for (const [name, fn] of Object.entries(steps)) {
    if (only.length && !only.includes(name)) continue;
    await fn();
    console.error(`made ${name}`);
  }
}

// Helpers shared with make_torch_fixtures.mjs.
export {rng, seedOf, freshDir, setDeterministicWeights, makeInput, saveBrowserStyle, writePredict, layersFixture};

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
  });
}
