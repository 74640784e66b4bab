#!/usr/bin/env node
// tfjs 4.22 fixtures for nested models, shared layers, several inputs/outputs, and a
// Teachable-Machine-shaped image model (tfjs_codec.torch). Every layer and model is named
// explicitly, so the output does not depend on which fixtures are made in one run.
//   cd js && node make_nested_fixtures.mjs                    # everything
//   cd js && node make_nested_fixtures.mjs NAME [NAME ...]    # only these fixture directories
import fs from 'node:fs';
import path from 'node:path';
import {decodeToExpected} from './decode.mjs';
import {initTf, tf, writeJSON} from './common.mjs';
import {freshDir, makeInput, seedOf, setDeterministicWeights, saveBrowserStyle, writePredict} from './make_fixtures.mjs';

const L = tf.layers;

function dense(name, units, extra = {}) {
  return L.dense({name, units, ...extra});
}

/** inner: functional Dense(3, tanh) -> Dense(2), used as a layer. */
function innerModel() {
  const x = tf.input({name: 'inner_in', shape: [4]});
  const h = dense('inner_d1', 3, {activation: 'tanh'}).apply(x);
  return tf.model({name: 'inner_model', inputs: x, outputs: dense('inner_d2', 2).apply(h)});
}

/** A functional model with two outputs (tensor indices 0 and 1 of its calls). */
function multiOutModel() {
  const x = tf.input({name: 'mo_in', shape: [2]});
  const o1 = dense('mo_d1', 1).apply(x);
  const o2 = dense('mo_d2', 3, {activation: 'softplus'}).apply(x);
  return tf.model({name: 'multi_out', inputs: x, outputs: [o1, o2]});
}

/** A functional model with two inputs. */
function multiInModel() {
  const p = tf.input({name: 'mi_p', shape: [2]});
  const q = tf.input({name: 'mi_q', shape: [3]});
  const c = L.concatenate({name: 'mi_cat'}).apply([p, q]);
  return tf.model({name: 'multi_in', inputs: [p, q], outputs: dense('mi_d', 2).apply(c)});
}

const fixtures = {
  // Functional outer model, two inputs and three outputs: a nested functional model called twice
  // (refs to its calls are node 1 and 2), a Dense shared by both call sites, a nested Sequential,
  // a nested model with two outputs (one output of the outer model is its tensor 1), a nested
  // model with two inputs.
  browser_nested_functional: [() => {
    const a = tf.input({name: 'a', shape: [4]});
    const b = tf.input({name: 'b', shape: [4]});
    const inner = innerModel();
    const shared = dense('shared', 2, {activation: 'sigmoid'});
    const sa = shared.apply(inner.apply(a));
    const sb = shared.apply(inner.apply(b));
    const seqIn = tf.sequential({name: 'seq_in', layers: [dense('seq_d', 3, {inputShape: [4], activation: 'elu'})]});
    const sum = L.add({name: 'sum'}).apply([sa, sb]);
    const [o1, o2] = multiOutModel().apply(sum);
    const mi = multiInModel().apply([sum, seqIn.apply(b)]);
    return tf.model({name: 'nested_functional', inputs: [a, b], outputs: [o1, o2, L.multiply({name: 'mul'}).apply([mi, sb])]});
  }, [[3, 4], [3, 4]]],
  // A Sequential whose first layer is a functional model (as Teachable Machine's truncated MobileNet),
  // called twice inside a functional model: it has no InputLayer or input shape of its own in the
  // config, and tfjs still counts its calls from node 1.
  browser_nested_sequential_first_model: [() => {
    const xi = tf.input({name: 'fm_in', shape: [4]});
    const first = tf.model({name: 'first_model', inputs: xi, outputs: dense('fm_d', 4, {activation: 'tanh'}).apply(xi)});
    const seqm = tf.sequential({name: 'seq_of_model', layers: [first, dense('sm_d', 3)]});
    const x = tf.input({name: 'x', shape: [4]});
    const y1 = seqm.apply(x);
    const y2 = seqm.apply(dense('pre', 4).apply(x));
    return tf.model({name: 'outer', inputs: x, outputs: L.add({name: 'sum'}).apply([y1, y2])});
  }, [3, 4]],
  // Depth 4: Sequential > functional > Sequential > functional, with layers between the levels.
  browser_nested_deep: [() => {
    const x3 = tf.input({name: 'l3_in', shape: [5]});
    const level3 = tf.model({name: 'level3', inputs: x3, outputs: dense('l3_d', 5, {activation: 'relu'}).apply(x3)});
    const level2 = tf.sequential({name: 'level2', layers: [dense('l2_d', 5, {inputShape: [5]}), level3]});
    const x1 = tf.input({name: 'l1_in', shape: [5]});
    const h1 = level2.apply(dense('l1_d', 5).apply(x1));
    const level1 = tf.model({name: 'level1', inputs: x1, outputs: L.add({name: 'l1_add'}).apply([h1, x1])});
    return tf.sequential({name: 'level0', layers: [dense('l0_in', 5, {inputShape: [6]}), level1, dense('l0_out', 2, {activation: 'softmax'})]});
  }, [4, 6]],
};

// --------------------------------------------------------------- Teachable Machine

/**
 * The layers of one Keras MobileNetV2 inverted-residual block (names as Keras writes them):
 * 1x1 expand conv + BN + ReLU(6); ZeroPadding2D before a stride-2 depthwise conv ('valid'),
 * else a 'same' depthwise conv; BN + ReLU(6); 1x1 project conv + BN; Add when the shape allows.
 */
function invertedResidual(x, id, inCh, expansion, outCh, stride) {
  const p = id === 0 ? 'expanded_conv_' : `block_${id}_`;
  let h = x;
  if (expansion !== 1) {
    h = L.conv2d({name: `${p}expand`, filters: inCh * expansion, kernelSize: 1, padding: 'same', useBias: false}).apply(h);
    h = L.batchNormalization({name: `${p}expand_BN`, epsilon: 1e-3, momentum: 0.999}).apply(h);
    h = L.reLU({name: `${p}expand_relu`, maxValue: 6}).apply(h);
  }
  if (stride === 2) h = L.zeroPadding2d({name: `${p}pad`, padding: [[0, 1], [0, 1]]}).apply(h);
  h = L.depthwiseConv2d({name: `${p}depthwise`, kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false}).apply(h);
  h = L.batchNormalization({name: `${p}depthwise_BN`, epsilon: 1e-3, momentum: 0.999}).apply(h);
  h = L.reLU({name: `${p}depthwise_relu`, maxValue: 6}).apply(h);
  h = L.conv2d({name: `${p}project`, filters: outCh, kernelSize: 1, padding: 'same', useBias: false}).apply(h);
  h = L.batchNormalization({name: `${p}project_BN`, epsilon: 1e-3, momentum: 0.999}).apply(h);
  if (stride === 1 && inCh === outCh) h = L.add({name: `${p}add`}).apply([x, h]);
  return h;
}

/** A small MobileNetV2 (Keras layer names), truncated at 'out_relu' as Teachable Machine does. */
function tinyMobileNetV2(size) {
  const input = tf.input({name: 'input_1', shape: [size, size, 3]});
  let h = L.zeroPadding2d({name: 'Conv1_pad', padding: [[0, 1], [0, 1]]}).apply(input);
  h = L.conv2d({name: 'Conv1', filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false}).apply(h);
  h = L.batchNormalization({name: 'bn_Conv1', epsilon: 1e-3, momentum: 0.999}).apply(h);
  h = L.reLU({name: 'Conv1_relu', maxValue: 6}).apply(h);
  h = invertedResidual(h, 0, 8, 1, 4, 1);
  h = invertedResidual(h, 1, 4, 6, 6, 2);
  h = invertedResidual(h, 2, 6, 6, 6, 1);
  h = L.conv2d({name: 'Conv_1', filters: 16, kernelSize: 1, useBias: false}).apply(h);
  h = L.batchNormalization({name: 'Conv_1_bn', epsilon: 1e-3, momentum: 0.999}).apply(h);
  h = L.reLU({name: 'out_relu', maxValue: 6}).apply(h);
  return tf.model({name: 'model1', inputs: input, outputs: h});
}

const TM_SIZE = 32;
const TM_LABELS = ['cat', 'dog', 'neither'];

/**
 * What @teachablemachine/image 0.8.x builds (loadTruncatedMobileNet for MobileNet v2, then train()):
 * jointModel = Sequential[Sequential[truncated MobileNetV2 (functional), GlobalAveragePooling2D],
 * Sequential[Dense(relu), Dense(softmax, no bias)]], with the browser's generated names.
 */
function teachableImageModel() {
  const truncated = tf.sequential({name: 'sequential_1'});
  truncated.add(tinyMobileNetV2(TM_SIZE));
  truncated.add(L.globalAveragePooling2d({name: 'global_average_pooling2d_GlobalAveragePooling2D1'}));
  const head = tf.sequential({name: 'sequential_3', layers: [
    L.dense({name: 'dense_Dense1', inputShape: [16], units: 12, activation: 'relu', useBias: true}),
    L.dense({name: 'dense_Dense2', units: TM_LABELS.length, activation: 'softmax', useBias: false}),
  ]});
  const joint = tf.sequential({name: 'sequential_4'});
  joint.add(truncated);
  joint.add(head);
  return joint;
}

/** The three files of a Teachable Machine image export: model.json (paths ["weights.bin"]), weights.bin, metadata.json. */
async function saveTeachableStyle(model, dir, metadata) {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const modelJSON = {
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{paths: ['weights.bin'], weights: artifacts.weightSpecs}],
      format: artifacts.format,
      generatedBy: artifacts.generatedBy,
      convertedBy: artifacts.convertedBy,
    };
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJSON));
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(tf.io.CompositeArrayBuffer.join(artifacts.weightData)));
    return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
  }));
  fs.writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify(metadata));
}

/** Multiply some weights (by tfjs name) after the seeded fill, so ReLU(6) clips and the head tells images apart. */
function scaleWeights(model, factors) {
  const values = model.weights.map((w) => {
    const f = factors[w.originalName];
    return f == null ? w.read().clone() : w.read().mul(f);
  });
  model.setWeights(values);
  tf.dispose(values);
}

/**
 * Images of seeded pixels 0..255 (noise over a gradient that differs per image), fed as Teachable
 * Machine's capture() does: pixel / 127 - 1 (so 255 gives 1.0079, not 1).
 */
function tmInput(shape, seed) {
  const [n, h, w, c] = shape;
  const noise = makeInput(shape, seed, 96).data;
  const data = [];
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        for (let ch = 0; ch < c; ch++, k++) {
          const ramp = i % 2 === 0 ? (x * 159) / (w - 1) : ((h - 1 - y) * 159) / (h - 1);
          const pixel = Math.min(255, Math.round(ramp * (ch + 1) / c) + noise[k]);
          data.push(Math.fround(Math.fround(pixel / 127) - 1));
        }
      }
    }
  }
  return {shape, data};
}

async function teachableMachineImage() {
  const name = 'teachable_machine_image';
  const dir = freshDir(name);
  const model = teachableImageModel();
  setDeterministicWeights(model, seedOf(name));
  scaleWeights(model, {'bn_Conv1/gamma': 5, 'block_1_expand_BN/gamma': 4, 'dense_Dense1/kernel': 3, 'dense_Dense2/kernel': 3});
  await saveTeachableStyle(model, dir, {
    tfjsVersion: tf.version.tfjs, tmVersion: '2.4.10', packageVersion: '0.8.5', packageName: '@teachablemachine/image',
    timeStamp: '2026-11-27T12:00:00.000Z', userMetadata: {}, modelName: 'tm-my-image-model', labels: TM_LABELS,
    imageSize: TM_SIZE,
  });
  await writePredict(dir, tmInput([2, TM_SIZE, TM_SIZE, 3], seedOf(name)));
  await decodeToExpected(dir);
  model.dispose();
}

/**
 * A Teachable Machine pose export: @teachablemachine/pose 0.8 trains Sequential[Dense(relu),
 * Dropout(0.5), Dense(softmax)] on PoseNet's outputs (14739 values for its default settings;
 * 34 here, to keep the fixture small).
 */
async function teachableMachinePose() {
  const name = 'teachable_machine_pose';
  const dir = freshDir(name);
  const model = tf.sequential({name: 'sequential_1', layers: [
    L.dense({name: 'dense_Dense1', inputShape: [34], units: 16, activation: 'relu'}),
    L.dropout({name: 'dropout_Dropout1', rate: 0.5}),
    L.dense({name: 'dense_Dense2', units: 2, activation: 'softmax'}),
  ]});
  setDeterministicWeights(model, seedOf(name));
  await saveTeachableStyle(model, dir, {
    tfjsVersion: tf.version.tfjs, tmVersion: '2.4.10', packageVersion: '0.8.6', packageName: '@teachablemachine/pose',
    timeStamp: '2026-11-27T12:00:00.000Z', userMetadata: {}, modelName: 'tm-my-pose-model', labels: ['up', 'down'],
    modelSettings: {posenet: {architecture: 'MobileNetV1', outputStride: 16, inputResolution: 257, multiplier: 0.75}},
  });
  await writePredict(dir, makeInput([3, 34], seedOf(name)));
  await decodeToExpected(dir);
  model.dispose();
}

/**
 * A Teachable Machine audio export: speech-commands' transfer model is a functional model over the
 * base Sequential's layers up to its second-last Dense, then a nested Sequential head (NewHeadDense,
 * softmax) applied to that Dense's output (createTransferModelFromBaseModel). The base is the 18w
 * model's shape, smaller: spectrograms of 9 frames x 16 bins (real ones: 43 x 232). Inputs are
 * z-normalized per example with tf.moments as the library's normalize() does; predict.json keeps
 * the raw spectrograms too ("raw_input").
 */
async function teachableMachineAudio() {
  const name = 'teachable_machine_audio';
  const dir = freshDir(name);
  const base = tf.sequential({name: 'sequential_1', layers: [
    L.conv2d({name: 'conv2d_1', inputShape: [9, 16, 1], filters: 4, kernelSize: [2, 4], activation: 'relu'}),
    L.maxPooling2d({name: 'max_pooling2d_1', poolSize: [2, 2], strides: [2, 2]}),
    L.flatten({name: 'flatten_1'}),
    L.dropout({name: 'dropout_1', rate: 0.25}),
    L.dense({name: 'dense_1', units: 12, activation: 'relu'}),
    L.dropout({name: 'dropout_2', rate: 0.5}),
    L.dense({name: 'dense_2', units: 5, activation: 'softmax'}),
  ]});
  const head = tf.sequential({name: 'sequential_2'});
  head.add(L.dense({units: 3, activation: 'softmax', inputShape: [12], name: 'NewHeadDense'}));
  const model = tf.model({name: 'model1', inputs: base.inputs, outputs: head.apply(base.getLayer('dense_1').output)});
  setDeterministicWeights(model, seedOf(name));
  await saveTeachableStyle(model, dir, {
    tfjsSpeechCommandsVersion: '0.5.4', modelName: 'tm-my-audio-model', timeStamp: '2026-11-27T12:00:00.000Z',
    wordLabels: ['Background Noise', 'clap', 'snap'],
  });
  const raw = makeInput([2, 9, 16, 1], seedOf(name));
  raw.data = raw.data.map((v, i) => Math.fround(v * 40 - 60 + (i % 16)));  // dB-like values
  const normalized = tf.tidy(() => {
    const x = tf.tensor(raw.data, raw.shape);
    return tf.concat([0, 1].map((i) => {
      const e = x.slice([i, 0, 0, 0], [1, 9, 16, 1]);
      const {mean, variance} = tf.moments(e);
      return tf.div(tf.sub(e, mean), tf.add(tf.sqrt(variance), tf.backend().epsilon()));
    }));
  });
  const input = {shape: raw.shape, data: Array.from(normalized.dataSync())};
  normalized.dispose();
  await writePredict(dir, input);
  const record = JSON.parse(fs.readFileSync(path.join(dir, 'predict.json'), 'utf8'));
  writeJSON(path.join(dir, 'predict.json'), {raw_input: raw, ...record});
  await decodeToExpected(dir);
  model.dispose();
}

await initTf();
const only = process.argv.slice(2);
for (const [name, [build, shape]] of Object.entries(fixtures)) {
  if (only.length && !only.includes(name)) continue;
  const dir = freshDir(name);
  const model = build();
  setDeterministicWeights(model, seedOf(name));
  await saveBrowserStyle(model, dir);
  const input = Array.isArray(shape[0]) ?
    {inputs: shape.map((s, i) => makeInput(s, seedOf(name) + i))} : makeInput(shape, seedOf(name));
  await writePredict(dir, input);
  await decodeToExpected(dir);
  model.dispose();
  console.error(`made ${name}`);
}
for (const [name, make] of [['teachable_machine_image', teachableMachineImage], ['teachable_machine_pose', teachableMachinePose],
  ['teachable_machine_audio', teachableMachineAudio]]) {
  if (only.length && !only.includes(name)) continue;
  await make();
  console.error(`made ${name}`);
}
