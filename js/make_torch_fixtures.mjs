#!/usr/bin/env node
// Extra tfjs 4.22 layers fixtures for tfjs_codec.torch (options the layer zoo of
// make_fixtures.mjs leaves out). Deterministic: run as its own process, so the
// auto-generated layer names (dense_Dense1, ...) always start from 1.
//   cd js && node make_torch_fixtures.mjs                    # everything
//   cd js && node make_torch_fixtures.mjs NAME [NAME ...]    # only these fixture directories
import path from 'node:path';
import {initTf, tf, writeJSON} from './common.mjs';
import {layersFixture, makeInput, seedOf} from './make_fixtures.mjs';
import {loadModel, tensorToJSON} from './predict.mjs';

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
  // LayerNormalization over non-last axes: axis 1 of [B, 4, 3] (gamma/beta [4], broadcast along axis 1),
  // axes [1, 2], and axes [2, 1] (gamma [3, 4] is reshaped, not transposed, to [1, 4, 3] by tfjs and Keras).
  browser_layers_layernorm_axes: [() => seq('layernorm_axes_model', [
    L.dense({name: 'dense', inputShape: [4, 2], units: 3}),
    L.layerNormalization({name: 'ln_axis1', axis: 1, epsilon: 0.01}),
    L.layerNormalization({name: 'ln_axes12', axis: [1, 2]}),
    L.layerNormalization({name: 'ln_axes21', axis: [2, 1], epsilon: 0.05}),
    L.flatten({name: 'flat'}),
    L.dense({name: 'out', units: 3}),
  ]), [2, 4, 2]],
  // GlobalAveragePooling1D and GlobalMaxPooling1D over the steps of a Conv1D output.
  browser_layers_global_pool1d: [() => {
    const x = tf.input({name: 'seq', shape: [6, 2]});
    const h = L.conv1d({name: 'conv', filters: 3, kernelSize: 2, padding: 'valid'}).apply(x);
    const a = L.globalAveragePooling1d({name: 'gap1d'}).apply(h);
    const m = L.globalMaxPooling1d({name: 'gmp1d'}).apply(h);
    const c = L.concatenate({name: 'concat'}).apply([a, m]);
    const y = L.dense({name: 'out', units: 2}).apply(c);
    return tf.model({name: 'global_pool1d_model', inputs: x, outputs: y});
  }, [3, 6, 2]],
  // BatchNormalization in training: the model as saved (inference predict.json), plus train_step.json with
  // the moving statistics after one fit() step (SGD lr 0, one batch of 6) of the reloaded files and the
  // training-mode output (model.apply(x, {training: true})) for that batch.
  browser_layers_batchnorm_train: [() => seq('batchnorm_train_model', [
    L.dense({name: 'dense', inputShape: [3, 4], units: 4}),
    L.batchNormalization({name: 'bn_seq', momentum: 0.9, epsilon: 0.01}),
    L.flatten({name: 'flat'}),
    L.batchNormalization({name: 'bn_flat', momentum: 0.5}),
    L.dense({name: 'out', units: 2}),
  ]), [6, 3, 4], trainStep],
};

/** Reload the saved fixture, fit one step with SGD(0), record the BatchNormalization moving statistics. */
async function trainStep(dir, input) {
  // Training-mode output of a separate copy (its own moving statistics move too).
  const copy = await loadModel(dir);
  const x0 = tf.tensor(input.data, input.shape, 'float32');
  const trainingOut = copy.apply(x0, {training: true});
  const outputTraining = tensorToJSON(trainingOut);
  tf.dispose([x0, trainingOut]);
  copy.dispose();

  const model = await loadModel(dir);
  model.compile({optimizer: tf.train.sgd(0), loss: 'meanSquaredError'});
  const x = tf.tensor(input.data, input.shape, 'float32');
  const target = makeInput([input.shape[0], 2], seedOf('target'));
  const y = tf.tensor(target.data, target.shape, 'float32');
  await model.fit(x, y, {batchSize: input.shape[0], epochs: 1, shuffle: false, verbose: 0});
  const after = {};
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    for (const w of layer.weights) after[w.originalName] = tensorToJSON(w.read());
  }
  writeJSON(path.join(dir, 'train_step.json'), {
    source: 'tfjs-layers 4.22.0 model.fit (SGD learning rate 0, batchSize = the whole input, 1 epoch, no shuffle)',
    input, target, output_training: outputTraining, after,
  });
  tf.dispose([x, y]);
  model.dispose();
}

await initTf();
const only = process.argv.slice(2);
for (const [name, [build, shape, after]] of Object.entries(fixtures)) {
  if (only.length && !only.includes(name)) continue;
  const input = makeInput(shape, seedOf(name));
  const dir = await layersFixture(name, build, input);
  if (after) await after(dir, input);
  console.error(`made ${name}`);
}
