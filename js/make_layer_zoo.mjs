#!/usr/bin/env node
// The layer zoo: one small tfjs 4.22 model per layer class tfjs-layers registers for
// deserialization, and per option that changes the math, for tfjs_codec.torch.
// Each fixtures/zoo_<name>/ is saved the browser way (model.json + model.weights.bin) with
// seeded weights (mulberry32, as make_fixtures.mjs), expected.json/bin (js/decode.mjs) and
// predict.json (the files reloaded with tf.loadLayersModel, then model.predict).
// Deterministic: run as its own process, so generated names always start from 1.
//   cd js && node make_layer_zoo.mjs                   # everything
//   cd js && node make_layer_zoo.mjs NAME [NAME ...]   # only these (without the zoo_ prefix)
//   cd js && node make_layer_zoo.mjs --list            # the classes tfjs registers, one a line
//
// Discrepancy fixtures (zoo_discrepancy_*): tfjs_predict.json is what tfjs computes; predict.json
// is the prediction of an equivalent model, which tfjs computes as the layer is defined (see
// fixtures/README.md). zoo_random_width: tfjs_predict.json only (tfjs resizes at random even in predict).
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {initTf, tf, writeJSON} from './common.mjs';
import {decodeToExpected} from './decode.mjs';
import {freshDir, layersFixture, makeInput, saveBrowserStyle, seedOf, setDeterministicWeights} from './make_fixtures.mjs';
import {predictJSON} from './predict.mjs';

const L = tf.layers;
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

function seq(name, layers) {
  const m = tf.sequential({name});
  for (const l of layers) m.add(l);
  return m;
}

/** Functional model: one input of `shape`, `branches` applied to `trunk(x)` each, concatenated when several. */
function fan(name, shape, trunk, branches, axis = -1) {
  const x = tf.input({name: 'x', shape});
  const h = trunk ? trunk.apply(x) : x;
  const outs = branches.map((b) => b.apply(h));
  const y = outs.length === 1 ? outs[0] : L.concatenate({name: 'concat', axis}).apply(outs);
  return tf.model({name, inputs: x, outputs: y});
}

/**
 * Functional model: input of `shape` -> Reshape to the same shape -> `layers` in turn. tfjs 4.22's
 * CenterCrop / CategoryEncoding / Resizing computeOutputShape change the shape array they are given
 * (which most layers pass through from the model input); Reshape makes a fresh one.
 */
function pre(name, shape, ...layers) {
  const x = tf.input({name: 'x', shape});
  const h = L.reshape({name: 'identity', targetShape: shape}).apply(x);
  return tf.model({name, inputs: x, outputs: layers.reduce((t, l) => l.apply(t), h)});
}

/** Layers applied one after the other (a branch of `fan`), without making a nested model. */
function chain(...layers) {
  return {apply: (x) => layers.reduce((h, l) => l.apply(h), x)};
}

/** Input with whole time steps set to `value` (for Masking / mask_zero): steps listed per sample. */
function maskedInput(shape, seed, steps, value = 0) {
  const input = makeInput(shape, seed);
  const [b, t] = shape;
  const per = shape.slice(2).reduce((a, c) => a * c, 1);
  for (let i = 0; i < b; i++) {
    for (const s of steps[i]) {
      for (let k = 0; k < per; k++) input.data[(i * t + s) * per + k] = value;
    }
  }
  return input;
}

function intInput(shape, seed, maxInt) {
  return makeInput(shape, seed, maxInt);
}

const ACTS = ['elu', 'selu', 'relu', 'relu6', 'sigmoid', 'hardSigmoid', 'softplus', 'softsign', 'tanh',
  'linear', 'softmax', 'logSoftmax', 'swish', 'mish', 'gelu'];

// name -> [build, input shape | (seed) => input, options {after, fromMemory}]
const zoo = {
  // ------------------------------------------------------------ activations
  activation_all: [() => fan('activation_all', [5], L.dense({name: 'dense', units: 6}),
    ACTS.map((a) => L.activation({name: `act_${a}`, activation: a}))), [3, 5]],
  // tfjs saves gelu_new but cannot load it back (it looks up geluNew): prediction of the in-memory model.
  activation_gelu_new: [() => fan('activation_gelu_new', [5], L.dense({name: 'dense', units: 6}),
    [L.activation({name: 'act_gelu_new', activation: 'gelu_new'})]), [3, 5], {fromMemory: true}],
  advanced_activations: [() => fan('advanced_activations', [6], L.dense({name: 'dense', units: 7}), [
    L.reLU({name: 'relu'}),
    L.reLU({name: 'relu_max', maxValue: 0.25}),
    L.leakyReLU({name: 'leaky_default'}),
    L.leakyReLU({name: 'leaky_01', alpha: 0.1}),
    L.elu({name: 'elu'}),
    L.thresholdedReLU({name: 'thresholded', theta: 0.15}),
    L.softmax({name: 'softmax_default'}),
  ]), [3, 6]],
  // Softmax layer (default axis 1, not -1: on 2-D inputs in advanced_activations; tfjs 4.22 cannot take the
  // softmax along a non-last axis), axis -1 of a 3-D tensor, axes [1, 2] (exp(x - logsumexp)).
  softmax_axes: [() => fan('softmax_axes', [4, 3], null, [
    L.softmax({name: 'softmax_last', axis: -1}),
    L.softmax({name: 'softmax_12', axis: [1, 2]}),
  ]), [2, 4, 3]],
  prelu: [() => fan('prelu', [4, 5, 3], null, [
    L.prelu({name: 'prelu_full'}),
    L.prelu({name: 'prelu_shared', sharedAxes: [1, 2]}),
  ]), [2, 4, 5, 3]],

  // ------------------------------------------------------------ convolutions
  conv2d_channels_first: [() => seq('conv2d_channels_first', [
    L.conv2d({name: 'c_same', inputShape: [3, 7, 6], filters: 4, kernelSize: 3, strides: 2, padding: 'same',
      dataFormat: 'channelsFirst'}),
    L.conv2d({name: 'c_dil', filters: 2, kernelSize: [2, 2], dilationRate: 2, dataFormat: 'channelsFirst',
      activation: 'tanh'}),
  ]), [2, 3, 7, 6]],
  conv3d: [() => seq('conv3d', [
    L.conv3d({name: 'c3_valid', inputShape: [5, 6, 7, 2], filters: 3, kernelSize: [2, 3, 2]}),
    L.conv3d({name: 'c3_same_s2', filters: 2, kernelSize: 3, strides: [2, 1, 2], padding: 'same', activation: 'relu'}),
  ]), [2, 5, 6, 7, 2]],
  conv3d_dilation: [() => seq('conv3d_dilation', [
    L.conv3d({name: 'c3_dil', inputShape: [6, 6, 6, 2], filters: 3, kernelSize: 2, dilationRate: [2, 1, 2],
      padding: 'same', useBias: false}),
  ]), [2, 6, 6, 6, 2]],
  conv3d_channels_first: [() => seq('conv3d_channels_first', [
    L.conv3d({name: 'c3_cf', inputShape: [2, 4, 5, 6], filters: 3, kernelSize: 2, strides: 2, padding: 'same',
      dataFormat: 'channelsFirst'}),
  ]), [2, 2, 4, 5, 6]],
  conv2d_transpose_channels_first: [() => seq('conv2d_transpose_channels_first', [
    L.conv2dTranspose({name: 'ct_cf', inputShape: [3, 4, 5], filters: 2, kernelSize: 3, strides: 2, padding: 'same',
      dataFormat: 'channelsFirst'}),
  ]), [2, 3, 4, 5]],
  conv3d_transpose: [() => seq('conv3d_transpose', [
    L.conv3dTranspose({name: 'ct3_same', inputShape: [3, 4, 3, 2], filters: 3, kernelSize: 3, strides: [2, 1, 2],
      padding: 'same'}),
    L.conv3dTranspose({name: 'ct3_valid', filters: 2, kernelSize: [2, 3, 2], strides: 2, padding: 'valid',
      activation: 'sigmoid'}),
  ]), [2, 3, 4, 3, 2]],
  conv3d_transpose_channels_first: [() => seq('conv3d_transpose_channels_first', [
    L.conv3dTranspose({name: 'ct3_cf', inputShape: [2, 3, 4, 3], filters: 2, kernelSize: 2, strides: 2,
      dataFormat: 'channelsFirst'}),
  ]), [2, 2, 3, 4, 3]],
  depthwise_channels_first: [() => seq('depthwise_channels_first', [
    L.depthwiseConv2d({name: 'dw_cf', inputShape: [3, 6, 5], kernelSize: 3, depthMultiplier: 2, padding: 'same',
      strides: 2, dataFormat: 'channelsFirst'}),
  ]), [2, 3, 6, 5]],
  separable_dilation: [() => seq('separable_dilation', [
    L.separableConv2d({name: 'sep_dil', inputShape: [7, 7, 2], filters: 3, kernelSize: 2, dilationRate: 2}),
  ]), [2, 7, 7, 2]],

  // ------------------------------------------------------------ pooling
  pool3d: [() => fan('pool3d', [5, 6, 4, 2], null, [
    chain(L.maxPooling3d({name: 'mp3_valid', poolSize: 2}), L.flatten({name: 'flat_a'})),
    chain(L.maxPooling3d({name: 'mp3_same', poolSize: [3, 2, 3], strides: [2, 2, 1], padding: 'same'}),
      L.flatten({name: 'flat_b'})),
    chain(L.averagePooling3d({name: 'ap3_valid', poolSize: [2, 3, 2], strides: 1}), L.flatten({name: 'flat_c'})),
    chain(L.averagePooling3d({name: 'ap3_same', poolSize: 3, strides: 2, padding: 'same'}), L.flatten({name: 'flat_d'})),
  ]), [2, 5, 6, 4, 2]],
  pool2d_channels_first: [() => seq('pool2d_channels_first', [
    L.maxPooling2d({name: 'mp_cf', inputShape: [3, 7, 6], poolSize: 2, dataFormat: 'channelsFirst'}),
    L.averagePooling2d({name: 'ap_cf', poolSize: 2, strides: 1, padding: 'same', dataFormat: 'channelsFirst'}),
    L.globalAveragePooling2d({name: 'gap_cf', dataFormat: 'channelsFirst'}),
  ]), [2, 3, 7, 6]],
  global_max_channels_first: [() => seq('global_max_channels_first', [
    L.globalMaxPooling2d({name: 'gmp_cf', inputShape: [3, 4, 5], dataFormat: 'channelsFirst'}),
  ]), [2, 3, 4, 5]],

  // ------------------------------------------------------------ padding, cropping, resizing, reshaping
  zero_padding2d: [() => seq('zero_padding2d', [
    L.zeroPadding2d({name: 'zp_default', inputShape: [3, 4, 2]}),
    L.zeroPadding2d({name: 'zp_sym', padding: [2, 1]}),
    L.zeroPadding2d({name: 'zp_asym', padding: [[1, 2], [0, 3]]}),
    L.conv2d({name: 'conv', filters: 2, kernelSize: 2}),
  ]), [2, 3, 4, 2]],
  zero_padding2d_channels_first: [() => seq('zero_padding2d_channels_first', [
    L.zeroPadding2d({name: 'zp_cf', inputShape: [2, 3, 4], padding: [[1, 0], [2, 1]], dataFormat: 'channelsFirst'}),
  ]), [2, 2, 3, 4]],
  cropping2d: [() => seq('cropping2d', [
    L.cropping2D({name: 'crop_asym', inputShape: [7, 8, 2], cropping: [[1, 2], [3, 0]]}),
    L.cropping2D({name: 'crop_sym', cropping: [1, 2]}),
  ]), [2, 7, 8, 2]],
  cropping2d_channels_first: [() => seq('cropping2d_channels_first', [
    L.cropping2D({name: 'crop_cf', inputShape: [2, 6, 7], cropping: [[0, 2], [1, 3]], dataFormat: 'channelsFirst'}),
  ]), [2, 2, 6, 7]],
  upsampling2d_nearest: [() => seq('upsampling2d_nearest', [
    L.upSampling2d({name: 'up_nearest', inputShape: [3, 4, 2], size: [2, 3]}),
  ]), [2, 3, 4, 2]],
  upsampling2d_bilinear: [() => seq('upsampling2d_bilinear', [
    L.upSampling2d({name: 'up_bilinear', inputShape: [3, 4, 2], size: [3, 2], interpolation: 'bilinear'}),
  ]), [2, 3, 4, 2]],
  upsampling2d_channels_first: [() => seq('upsampling2d_channels_first', [
    L.upSampling2d({name: 'up_cf', inputShape: [2, 3, 4], size: [2, 2], interpolation: 'bilinear',
      dataFormat: 'channelsFirst'}),
  ]), [2, 2, 3, 4]],
  // A small decoder (the fine-tune round trip of tests/test_torch_zoo.py trains it).
  conv_upsampling: [() => seq('conv_upsampling', [
    L.conv2d({name: 'conv_a', inputShape: [4, 4, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu'}),
    L.upSampling2d({name: 'up_nearest', size: [2, 2]}),
    L.conv2d({name: 'conv_b', filters: 2, kernelSize: 3, padding: 'same'}),
    L.upSampling2d({name: 'up_bilinear', size: [2, 2], interpolation: 'bilinear'}),
    L.conv2d({name: 'conv_out', filters: 1, kernelSize: 1, activation: 'sigmoid'}),
  ]), [2, 4, 4, 2]],
  flatten_channels_first: [() => seq('flatten_channels_first', [
    L.flatten({name: 'flat_cf', inputShape: [3, 2, 4], dataFormat: 'channelsFirst'}),
    L.dense({name: 'out', units: 3}),
  ]), [2, 3, 2, 4]],
  // tfjs saves the -1 of targetShape as null.
  reshape_unknown: [() => seq('reshape_unknown', [
    L.reshape({name: 'reshape_m1', inputShape: [12], targetShape: [-1, 3]}),
    L.dense({name: 'dense', units: 2}),
  ]), [2, 12]],
  repeat_vector: [() => seq('repeat_vector', [
    L.dense({name: 'dense', inputShape: [3], units: 2}),
    L.repeatVector({name: 'repeat', n: 3}),
  ]), [2, 3]],
  // ------------------------------------------------------------ normalization
  // axis 2 of a 3-D input is the last axis (any other axis is a discrepancy, see discrepancy_batchnorm_axis1).
  batchnorm_axes: [() => seq('batchnorm_axes', [
    L.batchNormalization({name: 'bn_axis2_3d', inputShape: [4, 3], axis: 2, epsilon: 0.01}),
    L.batchNormalization({name: 'bn_last_nocenter', center: false, scale: false, epsilon: 0.1}),
  ]), [2, 4, 3]],

  // ------------------------------------------------------------ recurrent
  rnn_cells: [() => fan('rnn_cells', [5, 3], null, [
    L.rnn({name: 'rnn_lstm', cell: L.lstmCell({name: 'lstm_cell_a', units: 4}), returnSequences: true}),
    L.rnn({name: 'rnn_gru', cell: L.gruCell({name: 'gru_cell_a', units: 3}), returnSequences: true, goBackwards: true}),
    L.rnn({name: 'rnn_simple', cell: L.simpleRNNCell({name: 'simple_cell_a', units: 2, activation: 'relu'}),
      returnSequences: true}),
  ]), [2, 5, 3]],
  rnn_stacked: [() => seq('rnn_stacked', [
    L.rnn({name: 'rnn_stack', inputShape: [4, 3], cell: [
      L.lstmCell({name: 'stack_lstm', units: 4}),
      L.gruCell({name: 'stack_gru', units: 3}),
      L.simpleRNNCell({name: 'stack_simple', units: 2}),
    ]}),
  ]), [2, 4, 3]],
  rnn_stacked_cells_layer: [() => seq('rnn_stacked_cells_layer', [
    L.rnn({name: 'rnn_stack2', inputShape: [4, 3], returnSequences: true,
      cell: L.stackedRNNCells({cells: [L.simpleRNNCell({name: 'inner_a', units: 3}),
        L.lstmCell({name: 'inner_b', units: 2})]})}),
  ]), [2, 4, 3]],
  conv_lstm2d: [() => seq('conv_lstm2d', [
    L.convLstm2d({name: 'convlstm_seq', inputShape: [3, 5, 5, 2], filters: 3, kernelSize: 3, padding: 'same',
      returnSequences: true}),
    L.convLstm2d({name: 'convlstm_last', filters: 2, kernelSize: [2, 3], strides: [1, 2], padding: 'valid'}),
  ]), [2, 3, 5, 5, 2]],
  conv_lstm2d_options: [() => seq('conv_lstm2d_options', [
    L.convLstm2d({name: 'convlstm_back', inputShape: [3, 6, 6, 2], filters: 2, kernelSize: 2, dilationRate: 2,
      goBackwards: true, activation: 'relu', recurrentActivation: 'sigmoid'}),
  ]), [2, 3, 6, 6, 2]],
  bidirectional_concat: [() => seq('bidirectional_concat', [
    L.bidirectional({name: 'bi_lstm', inputShape: [5, 3], layer: L.lstm({units: 4, returnSequences: true})}),
    L.bidirectional({name: 'bi_gru', layer: L.gru({units: 3}), mergeMode: 'concat'}),
  ]), [2, 5, 3]],
  bidirectional_modes: [() => fan('bidirectional_modes', [5, 3], null, [
    L.bidirectional({name: 'bi_sum', layer: L.lstm({units: 3, returnSequences: true}), mergeMode: 'sum'}),
    L.bidirectional({name: 'bi_mul', layer: L.simpleRNN({units: 3, returnSequences: true}), mergeMode: 'mul'}),
    L.bidirectional({name: 'bi_ave', layer: L.gru({units: 3, returnSequences: true, goBackwards: true}),
      mergeMode: 'ave'}),
  ]), [2, 5, 3]],
  bidirectional_none: [() => {
    const x = tf.input({name: 'x', shape: [4, 3]});
    const [f, b] = L.bidirectional({name: 'bi_none', layer: L.lstm({units: 3}), mergeMode: null}).apply(x);
    const y = L.multiply({name: 'prod'}).apply([f, b]);
    return tf.model({name: 'bidirectional_none', inputs: x, outputs: [y, f]});
  }, [2, 4, 3]],
  time_distributed: [() => seq('time_distributed', [
    L.timeDistributed({name: 'td_dense', inputShape: [4, 3], layer: L.dense({units: 5, activation: 'tanh'})}),
    L.timeDistributed({name: 'td_dense2', layer: L.dense({name: 'inner', units: 2})}),
  ]), [2, 4, 3]],
  time_distributed_conv: [() => seq('time_distributed_conv', [
    L.timeDistributed({name: 'td_conv', inputShape: [3, 5, 5, 2], layer: L.conv2d({filters: 3, kernelSize: 2})}),
    L.timeDistributed({name: 'td_pool', layer: L.maxPooling2d({poolSize: 2})}),
    L.timeDistributed({name: 'td_flat', layer: L.flatten()}),
  ]), [2, 3, 5, 5, 2]],
  masking_lstm: [() => seq('masking_lstm', [
    L.masking({name: 'mask', inputShape: [5, 3], maskValue: 0}),
    L.lstm({name: 'lstm', units: 4, returnSequences: true}),
  ]), (seed) => maskedInput([3, 5, 3], seed, [[1, 4], [], [0, 2, 3]])],
  masking_gru_value: [() => seq('masking_gru_value', [
    L.masking({name: 'mask', inputShape: [5, 2], maskValue: 0.5}),
    L.gru({name: 'gru', units: 3, goBackwards: true}),
  ]), (seed) => maskedInput([2, 5, 2], seed, [[0, 1], [3]], 0.5)],
  masking_alone: [() => seq('masking_alone', [
    L.masking({name: 'mask', inputShape: [4, 2], maskValue: 0}),
    L.dense({name: 'dense', units: 3}),
  ]), (seed) => maskedInput([2, 4, 2], seed, [[1], [0, 3]])],
  embedding_mask_zero: [() => seq('embedding_mask_zero', [
    L.embedding({name: 'emb', inputDim: 6, outputDim: 3, inputLength: 5, maskZero: true}),
    L.simpleRNN({name: 'rnn', units: 3, returnSequences: true}),
  ]), (seed) => intInput([3, 5], seed, 6)],
  // The mask passes through the layers tfjs declares supportsMasking.
  masking_through_layers: [() => seq('masking_through_layers', [
    L.masking({name: 'mask', inputShape: [5, 3]}),
    L.dense({name: 'dense', units: 4}),
    L.activation({name: 'act', activation: 'tanh'}),
    L.batchNormalization({name: 'bn'}),
    L.timeDistributed({name: 'td', layer: L.dense({units: 3})}),
    L.lstm({name: 'lstm_seq', units: 3, returnSequences: true}),
    L.gru({name: 'gru_last', units: 2}),
  ]), (seed) => maskedInput([3, 5, 3], seed, [[1, 2], [], [4]])],
  embedding_mask_dropout: [() => seq('embedding_mask_dropout', [
    L.embedding({name: 'emb', inputDim: 5, outputDim: 3, inputLength: 6, maskZero: true}),
    L.dropout({name: 'dropout', rate: 0.5}),
    L.layerNormalization({name: 'ln'}),
    L.reLU({name: 'relu', maxValue: 6}),
    L.simpleRNN({name: 'rnn', units: 3, returnSequences: true}),
  ]), (seed) => intInput([3, 6], seed, 5)],
  bidirectional_masked: [() => seq('bidirectional_masked', [
    L.masking({name: 'mask', inputShape: [5, 2]}),
    L.bidirectional({name: 'bi', layer: L.lstm({units: 2, returnSequences: true})}),
  ]), (seed) => maskedInput([2, 5, 2], seed, [[4], [0, 1]])],

  // ------------------------------------------------------------ noise (identity at inference)
  noise: [() => seq('noise', [
    L.dense({name: 'dense', inputShape: [4, 3], units: 5}),
    L.dropout({name: 'dropout', rate: 0.3}),
    L.spatialDropout1d({name: 'spatial_dropout', rate: 0.4}),
    L.gaussianNoise({name: 'gaussian_noise', stddev: 0.2}),
    L.gaussianDropout({name: 'gaussian_dropout', rate: 0.25}),
    L.alphaDropout({name: 'alpha_dropout', rate: 0.1}),
  ]), [2, 4, 3]],

  // ------------------------------------------------------------ merge
  merge_all: [() => {
    const a = tf.input({name: 'a', shape: [4]});
    const b = tf.input({name: 'b', shape: [4]});
    const c = tf.input({name: 'c', shape: [4]});
    const outs = [
      L.add({name: 'add3'}).apply([a, b, c]),
      L.multiply({name: 'mul3'}).apply([a, b, c]),
      L.average({name: 'avg3'}).apply([a, b, c]),
      L.maximum({name: 'max3'}).apply([a, b, c]),
      L.minimum({name: 'min3'}).apply([a, b, c]),
      L.dot({name: 'dot_last', axes: -1}).apply([a, b]),
      L.dot({name: 'dot_norm', axes: 1, normalize: true}).apply([b, c]),
    ];
    const y = L.concatenate({name: 'concat'}).apply(outs);
    return tf.model({name: 'merge_all', inputs: [a, b, c], outputs: y});
  }, [[2, 4], [2, 4], [2, 4]]],
  dot_3d: [() => {
    const a = tf.input({name: 'a', shape: [3, 4]});
    const b = tf.input({name: 'b', shape: [5, 4]});
    const c = tf.input({name: 'c', shape: [3, 2]});
    const ab = L.dot({name: 'dot_22', axes: 2}).apply([a, b]); // [3, 5]
    const ac = L.dot({name: 'dot_11', axes: [1, 1]}).apply([a, c]); // [4, 2]
    const bn = L.dot({name: 'dot_norm', axes: [2, 2], normalize: true}).apply([b, a]); // [5, 3]
    const cat = L.concatenate({name: 'concat_axis1', axis: 1}).apply([
      L.flatten({name: 'f1'}).apply(ab), L.flatten({name: 'f2'}).apply(ac), L.flatten({name: 'f3'}).apply(bn)]);
    return tf.model({name: 'dot_3d', inputs: [a, b, c], outputs: cat});
  }, [[2, 3, 4], [2, 5, 4], [2, 3, 2]]],
  concatenate_axes: [() => {
    const a = tf.input({name: 'a', shape: [2, 3]});
    const b = tf.input({name: 'b', shape: [4, 3]});
    const c = tf.input({name: 'c', shape: [2, 5]});
    const ab = L.concatenate({name: 'cat_axis1', axis: 1}).apply([a, b]);
    const ac = L.concatenate({name: 'cat_axis2', axis: 2}).apply([a, c]);
    const y = L.concatenate({name: 'cat_flat'}).apply([L.flatten({name: 'f1'}).apply(ab), L.flatten({name: 'f2'}).apply(ac)]);
    return tf.model({name: 'concatenate_axes', inputs: [a, b, c], outputs: y});
  }, [[2, 2, 3], [2, 4, 3], [2, 2, 5]]],

  // ------------------------------------------------------------ preprocessing
  rescaling: [() => seq('rescaling', [
    L.rescaling({name: 'rescale', inputShape: [3, 2], scale: 1 / 127.5, offset: -1}),
    L.rescaling({name: 'rescale_no_offset', scale: 3}),
  ]), [2, 3, 2]],
  // tfjs 4.22 cannot run Resizing, RandomWidth or the upsizing branch of CenterCrop inside a model (their call
  // hands the list of inputs to resizeBilinear): `direct` records the layers applied one by one to the tensor.
  center_crop_even: [() => pre('center_crop_even', [8, 9, 2], L.centerCrop({name: 'crop', height: 4, width: 5})),
    [2, 8, 9, 2]],
  center_crop_odd: [() => pre('center_crop_odd', [8, 10, 2], L.centerCrop({name: 'crop', height: 5, width: 7})),
    [2, 8, 10, 2]],
  center_crop_upsize: [() => pre('center_crop_upsize', [3, 4, 2], L.centerCrop({name: 'crop_up', height: 5, width: 6})),
    [2, 3, 4, 2], {direct: true}],
  resizing_bilinear: [() => pre('resizing_bilinear', [4, 5, 2], L.resizing({name: 'resize', height: 7, width: 3})),
    [2, 4, 5, 2], {direct: true}],
  resizing_nearest: [() => pre('resizing_nearest', [4, 5, 2],
    L.resizing({name: 'resize', height: 6, width: 8, interpolation: 'nearest'})), [2, 4, 5, 2], {direct: true}],
  resizing_crop_aspect: [() => pre('resizing_crop_aspect', [4, 5, 2],
    L.resizing({name: 'resize', height: 3, width: 7, cropToAspectRatio: true}),
    L.resizing({name: 'resize_n', height: 5, width: 4, interpolation: 'nearest', cropToAspectRatio: true})),
    [2, 4, 5, 2], {direct: true}],
  category_encoding: [() => {
    const x = tf.input({name: 'x', shape: [3]});
    const h = L.reshape({name: 'ids', targetShape: [3]}).apply(x);
    const a = L.categoryEncoding({name: 'multi_hot', numTokens: 6}).apply(h);
    const h2 = L.reshape({name: 'ids2', targetShape: [3]}).apply(x);
    const b = L.categoryEncoding({name: 'count', numTokens: 6, outputMode: 'count'}).apply(h2);
    return tf.model({name: 'category_encoding', inputs: x, outputs: L.concatenate({name: 'concat'}).apply([a, b])});
  }, (seed) => intInput([4, 3], seed, 6)],
  category_encoding_one_hot: [() => pre('category_encoding_one_hot', [1],
    L.categoryEncoding({name: 'one_hot', numTokens: 5, outputMode: 'oneHot'})), (seed) => intInput([4, 1], seed, 5)],
  random_width: [() => pre('random_width', [3, 4, 2], L.randomWidth({name: 'random_width', factor: 0.5, seed: 7})),
    [2, 3, 4, 2], {direct: true, random: true}],

  // ------------------------------------------------------------ discrepancies (tfjs_predict.json: tfjs; predict.json: definition)
  discrepancy_batchnorm_axis1: [() => seq('discrepancy_batchnorm_axis1', [
    L.batchNormalization({name: 'bn_axis1', inputShape: [3, 4, 5], axis: 1, epsilon: 0.01}),
  ]), [2, 3, 4, 5], {intended: intendedBatchNorm}],
  discrepancy_depthwise_dilation: [() => seq('discrepancy_depthwise_dilation', [
    L.depthwiseConv2d({name: 'dw_dil', inputShape: [7, 7, 2], kernelSize: 2, depthMultiplier: 2, dilationRate: 2}),
  ]), [2, 7, 7, 2], {intended: intendedDepthwise}],
  discrepancy_center_crop: [() => pre('discrepancy_center_crop', [6, 5, 2],
    L.centerCrop({name: 'crop', height: 3, width: 4})), [2, 6, 5, 2], {intended: intendedCenterCrop}],
};

/** BatchNormalization(axis 1) as defined: Permute channels last, BatchNormalization(axis -1), Permute back. */
function intendedBatchNorm(model) {
  const bn = model.getLayer('bn_axis1');
  const ref = seq('intended', [
    L.permute({inputShape: [3, 4, 5], dims: [2, 3, 1]}),
    L.batchNormalization({epsilon: 0.01}),
    L.permute({dims: [3, 1, 2]}),
  ]);
  ref.layers[1].setWeights(bn.getWeights());
  return ref;
}

/** DepthwiseConv2D(dilation 2) as defined: a dilated Conv2D with the block-diagonal kernel (output channel c*m + j). */
function intendedDepthwise(model) {
  const dw = model.getLayer('dw_dil');
  const [dk, bias] = dw.getWeights(); // [kh, kw, in, m]
  const [kh, kw, cin, m] = dk.shape;
  const src = dk.dataSync();
  const full = new Float32Array(kh * kw * cin * cin * m);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let c = 0; c < cin; c++) {
        for (let j = 0; j < m; j++) {
          full[((y * kw + x) * cin + c) * cin * m + c * m + j] = src[((y * kw + x) * cin + c) * m + j];
        }
      }
    }
  }
  const ref = seq('intended', [
    L.conv2d({inputShape: [7, 7, 2], filters: cin * m, kernelSize: 2, dilationRate: 2}),
  ]);
  ref.layers[0].setWeights([tf.tensor(full, [kh, kw, cin, cin * m]), bias]);
  return ref;
}

/** CenterCrop(3, 4) of 6x5 as defined: offsets (6-3)//2 = 1 and (5-4)//2 = 0, i.e. Cropping2D. */
function intendedCenterCrop() {
  return seq('intended', [L.cropping2D({inputShape: [6, 5, 2], cropping: [[1, 2], [0, 1]]})]);
}

/**
 * Reload the saved files, then apply the layers of the (chain-shaped) model one by one to the input
 * tensor (layer.apply on a concrete tensor calls the layer's call with that tensor), and record that
 * as predict.json.
 */
async function directPredict(dir, input) {
  const {loadModel, tensorToJSON} = await import('./predict.mjs');
  const model = await loadModel(dir);
  const x = tf.tensor(input.data, input.shape, 'float32');
  let h = x;
  for (const layer of model.layers) {
    if (layer.getClassName() === 'InputLayer') continue;
    h = layer.apply(h);
  }
  writeJSON(path.join(dir, 'predict.json'), {
    input, output: tensorToJSON(h),
    note: 'tfjs 4.22 cannot run this layer inside model.predict: the model reloaded, its layers applied in turn',
  });
  tf.dispose([x, h]);
  model.dispose();
}

async function main() {
  await initTf();
  const args = process.argv.slice(2);
  const registered = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap).filter((n) => {
    const [cls] = tf.serialization.SerializationMap.getMap().classNameMap[n];
    return cls.prototype instanceof tf.layers.Layer;
  }).sort();
  if (args[0] === '--list') {
    console.log(registered.join('\n'));
    return;
  }
  if (!args.length) {
    writeJSON(path.join(FIXTURES, 'zoo_registered_classes.json'), {
      source: `tfjs ${tf.version.tfjs}: the layer classes in tf.serialization.SerializationMap (what tf.loadLayersModel can deserialize)`,
      classes: registered,
    });
  }
  const failed = [];
  for (const [name, [build, shape, opts = {}]] of Object.entries(zoo)) {
    if (args.length && !args.includes(name)) continue;
    if (opts.skip) continue;
    const seed = seedOf(`zoo_${name}`);
    let input;
    if (typeof shape === 'function') input = shape(seed);
    else if (Array.isArray(shape[0])) input = {inputs: shape.map((s, i) => makeInput(s, seed + i))};
    else input = makeInput(shape, seed);
    let dir;
    try {
      if (opts.direct) {
        dir = freshDir(`zoo_${name}`);
        const model = build();
        setDeterministicWeights(model, seedOf(`zoo_${name}`));
        await saveBrowserStyle(model, dir);
        model.dispose();
        await directPredict(dir, input);
        await decodeToExpected(dir);
      } else {
        dir = await layersFixture(`zoo_${name}`, build, input, undefined, opts.fromMemory === true);
      }
    } catch (e) {
      console.error(`FAILED zoo_${name}: ${e.message.split('\n')[0]}`);
      fs.rmSync(path.join(FIXTURES, `zoo_${name}`), {recursive: true, force: true});
      failed.push(name);
      continue;
    }
    if (opts.intended) {
      // predict.json: the equivalent model (the layer as defined); tfjs_predict.json: what tfjs computes.
      fs.renameSync(path.join(dir, 'predict.json'), path.join(dir, 'tfjs_predict.json'));
      const {loadModel} = await import('./predict.mjs');
      const model = await loadModel(dir);
      const ref = opts.intended(model);
      writeJSON(path.join(dir, 'predict.json'), {
        input, output: predictJSON(ref, input),
        note: 'not tfjs 4.22 model.predict (tfjs_predict.json): an equivalent model tfjs computes as the layer is defined',
      });
      ref.dispose();
      model.dispose();
    }
    if (opts.random) {
      fs.renameSync(path.join(dir, 'predict.json'), path.join(dir, 'tfjs_predict.json'));
    }
    console.error(`made zoo_${name}`);
  }
  if (failed.length) throw new Error(`failed: ${failed.join(', ')}`);
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
