#!/usr/bin/env node
// Extra tfjs 4.22 layers fixtures for tfjs_codec.torch (options the layer zoo of
// make_fixtures.mjs leaves out). Deterministic: run as its own process, so the
// auto-generated layer names (dense_Dense1, ...) always start from 1.
//   cd js && node make_torch_fixtures.mjs
import {initTf, tf} from './common.mjs';
import {layersFixture, makeInput, seedOf} from './make_fixtures.mjs';

const L = tf.layers;

function seq(name, layers) {
  const m = tf.sequential({name});
  for (const l of layers) m.add(l);
  return m;
}

const fixtures = {
  // Unnamed layers: weights saved under browser names (dense_Dense1/kernel, ...).
  browser_layers_autonames: [() => seq(undefined, [
    L.dense({inputShape: [5], units: 8, activation: 'relu'}),
    L.batchNormalization({}),
    L.dense({units: 3, activation: 'softmax'}),
  ]), [4, 5]],
  // Conv1D same with dilation (tfjs 4.22 cannot run causal padding), MaxPooling1D same, Activation layer, LSTM goBackwards with
  // sigmoid recurrent activation, GRU with relu activation.
  browser_layers_rnn_options: [() => seq('rnn_options_model', [
    L.conv1d({name: 'c1_same_dil', inputShape: [9, 3], filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same'}),
    L.maxPooling1d({name: 'mp_same', poolSize: 3, strides: 2, padding: 'same'}),
    L.activation({name: 'act_relu6', activation: 'relu6'}),
    L.lstm({name: 'lstm_back', units: 5, returnSequences: true, goBackwards: true, recurrentActivation: 'sigmoid'}),
    L.gru({name: 'gru_relu', units: 4, activation: 'relu', recurrentActivation: 'sigmoid'}),
    L.dense({name: 'out', units: 2}),
  ]), [2, 9, 3]],
  // MaxPooling2D / AveragePooling2D with same padding on odd sizes, softmax over channels of a 4-D tensor.
  browser_layers_pool_same: [() => seq('pool_same_model', [
    L.conv2d({name: 'conv', inputShape: [7, 7, 2], filters: 3, kernelSize: 2, padding: 'same'}),
    L.maxPooling2d({name: 'mp_same', poolSize: 3, strides: 2, padding: 'same'}),
    L.activation({name: 'softmax4d', activation: 'softmax'}),
    L.averagePooling2d({name: 'ap_same', poolSize: 2, strides: 2, padding: 'same'}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [2, 7, 7, 2]],
};

await initTf();
for (const [name, [build, shape]] of Object.entries(fixtures)) {
  await layersFixture(name, build, makeInput(shape, seedOf(name)));
  console.error(`made ${name}`);
}
