// @ts-check
/**
 * Try it: for a signature with an MNIST-shaped input ([?,784] or [?,28,28,1]), a canvas to draw a digit, made
 * MNIST-like (mnist-digit.js) and sent to /v1/models/NAME/versions/V:predict; the class scores show as bars. For any
 * signature, a JSON request editor prefilled from the signature, and the server's response.
 */
import { requestJson } from './api.js';
import { barChart } from './charts.js';
import { el, replaceChildren } from './dom.js';
import { MNIST_SIDE, mnistInputLayout, toMnistImage } from './mnist-digit.js';
import { classScores, formatJson, predictRequestTemplate } from './request-template.js';
import { versionPicker } from './version-picker.js';

/** @typedef {import('./version-picker.js').LoadedVersion} LoadedVersion */
/** @typedef {import('./types.js').DashboardSignature} DashboardSignature */

const CANVAS_SIDE = 280;

/** @type {import('./types.js').View} */
export const tryView = {
  id: 'try',
  title: 'Try it',
  mount(container, context) {
    const body = el('div', { id: 'try-body' });
    const picker = versionPicker(context, 'Model', (chosen) =>
      replaceChildren(body, chosen ? tryPanel(chosen) : el('p', { class: 'muted' }, 'No loaded version.')),
    );
    replaceChildren(container, picker, body);
  },
};

/** @param {LoadedVersion} chosen */
function tryPanel(chosen) {
  const loaded = /** @type {NonNullable<LoadedVersion['version']['loaded']>} */ (chosen.version.loaded);
  const keys = Object.keys(loaded.signatures);
  const drawable = keys.filter(
    (key) => mnistInput(/** @type {DashboardSignature} */ (loaded.signatures[key])) !== null,
  );
  // Prefer a predict signature for drawing (its outputs are the scores), else the default.
  const initial =
    drawable.find((key) => loaded.signatures[key]?.methodName.endsWith('/predict')) ??
    drawable[0] ??
    (keys.includes(loaded.defaultSignature) ? loaded.defaultSignature : keys[0]) ??
    '';
  const signatureSelect = el(
    'select',
    { id: 'try-signature' },
    keys.map((key) => el('option', { value: key }, key)),
  );
  signatureSelect.value = initial;
  const panel = el('div');
  const render = () => {
    const key = signatureSelect.value;
    const signature = loaded.signatures[key];
    if (!signature) return;
    const path = `/v1/models/${encodeURIComponent(chosen.model.name)}/versions/${chosen.version.version}:predict`;
    replaceChildren(panel, digitPanel(path, key, signature), jsonPanel(path, key, signature));
  };
  signatureSelect.addEventListener('change', render);
  render();
  return [el('label', { class: 'picker' }, 'Signature ', signatureSelect), panel];
}

/**
 * @param {DashboardSignature} signature
 * @returns {{ alias: string, layout: 'flat' | 'image' } | null}
 */
function mnistInput(signature) {
  const entries = Object.entries(signature.inputs);
  if (entries.length !== 1) return null;
  const [alias, tensor] = /** @type {[string, import('./types.js').DashboardTensor]} */ (entries[0]);
  if (tensor.dtype !== 'DT_FLOAT') return null;
  const layout = mnistInputLayout(tensor.shape);
  return layout ? { alias, layout } : null;
}

/**
 * @param {string} path
 * @param {string} signatureName
 * @param {DashboardSignature} signature
 */
function digitPanel(path, signatureName, signature) {
  const input = mnistInput(signature);
  if (!input) {
    return el(
      'p',
      { class: 'muted' },
      'This signature has no MNIST-shaped input ([?, 784] or [?, 28, 28, 1]); use the JSON editor.',
    );
  }
  const canvas = el('canvas', {
    id: 'digit-canvas',
    width: CANVAS_SIDE,
    height: CANVAS_SIDE,
    'aria-label': 'draw a digit here',
  });
  const preview = el('canvas', {
    id: 'digit-preview',
    width: MNIST_SIDE,
    height: MNIST_SIDE,
    'aria-label': 'what the model sees (28×28)',
  });
  const scores = el(
    'div',
    { id: 'digit-scores' },
    el('p', { class: 'muted' }, 'Draw a digit with the mouse or a finger.'),
  );
  const context2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d', { willReadFrequently: true }));
  context2d.lineCap = 'round';
  context2d.lineJoin = 'round';
  context2d.lineWidth = CANVAS_SIDE / 12;
  // Ink is read back from the alpha channel, so the colour only matters to the eye: the theme's text colour.
  const inkColour = () => getComputedStyle(canvas).color || '#000';
  /** @type {{ x: number, y: number } | null} */
  let last = null;
  let sent = 0;

  /** @param {PointerEvent} event */
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * CANVAS_SIDE,
      y: ((event.clientY - box.top) / box.height) * CANVAS_SIDE,
    };
  };
  canvas.addEventListener('pointerdown', (event) => {
    canvas.setPointerCapture(event.pointerId);
    context2d.strokeStyle = context2d.fillStyle = inkColour();
    last = point(event);
    context2d.beginPath();
    context2d.arc(last.x, last.y, context2d.lineWidth / 2, 0, Math.PI * 2);
    context2d.fill();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    const next = point(event);
    context2d.beginPath();
    context2d.moveTo(last.x, last.y);
    context2d.lineTo(next.x, next.y);
    context2d.stroke();
    last = next;
  });
  const finish = () => {
    if (!last) return;
    last = null;
    void predict();
  };
  canvas.addEventListener('pointerup', finish);
  canvas.addEventListener('pointercancel', finish);

  async function predict() {
    const pixels = context2d.getImageData(0, 0, CANVAS_SIDE, CANVAS_SIDE).data;
    const ink = new Float32Array(CANVAS_SIDE * CANVAS_SIDE);
    for (let i = 0; i < ink.length; i++) ink[i] = (pixels[i * 4 + 3] ?? 0) / 255;
    const image = toMnistImage(ink, CANVAS_SIDE, CANVAS_SIDE);
    drawPreview(preview, image);
    const values = Array.from(image, (v) => Math.round(v * 1000) / 1000);
    const instance =
      input?.layout === 'image'
        ? Array.from({ length: MNIST_SIDE }, (_, y) =>
            values.slice(y * MNIST_SIDE, (y + 1) * MNIST_SIDE).map((v) => [v]),
          )
        : values;
    const ticket = ++sent;
    try {
      const response = await requestJson(path, {
        method: 'POST',
        body: { signature_name: signatureName, instances: [instance] },
      });
      if (ticket !== sent) return;
      const found = classScores(response);
      if (!found) {
        replaceChildren(scores, el('pre', {}, JSON.stringify(response, null, 2).slice(0, 4000)));
        return;
      }
      const best = found.scores.indexOf(Math.max(...found.scores));
      replaceChildren(
        scores,
        el('p', { class: 'prediction', id: 'digit-prediction' }, `Predicted class: ${best}`),
        barChart({
          id: 'digit-bars',
          title: `Class scores${found.output ? ` (${found.output})` : ''}`,
          bars: found.scores.map((value, index) => ({ label: String(index), value, highlight: index === best })),
          max: Math.max(1e-9, ...found.scores),
          format: (v) => v.toFixed(3),
        }),
      );
    } catch (error) {
      if (ticket === sent)
        replaceChildren(scores, el('p', { class: 'error' }, error instanceof Error ? error.message : String(error)));
    }
  }

  const clear = el(
    'button',
    {
      type: 'button',
      onclick: () => {
        context2d.clearRect(0, 0, CANVAS_SIDE, CANVAS_SIDE);
        drawPreview(preview, new Float32Array(MNIST_SIDE * MNIST_SIDE));
        replaceChildren(scores, el('p', { class: 'muted' }, 'Draw a digit with the mouse or a finger.'));
      },
    },
    'Clear',
  );
  return el(
    'section',
    { class: 'card digit' },
    el('h3', {}, 'Draw a digit'),
    el(
      'div',
      { class: 'digit-layout' },
      el(
        'div',
        {},
        canvas,
        el('div', { class: 'digit-tools' }, clear, el('span', { class: 'muted small' }, 'model sees:'), preview),
      ),
      scores,
    ),
  );
}

/**
 * @param {HTMLCanvasElement} canvas
 * @param {Float32Array} image  784 values 0..1
 */
function drawPreview(canvas, image) {
  const context2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  const data = context2d.createImageData(MNIST_SIDE, MNIST_SIDE);
  for (let i = 0; i < image.length; i++) {
    const level = 255 - Math.round((image[i] ?? 0) * 255);
    data.data.set([level, level, level, 255], i * 4);
  }
  context2d.putImageData(data, 0, 0);
}

/**
 * @param {string} path
 * @param {string} signatureName
 * @param {DashboardSignature} signature
 */
function jsonPanel(path, signatureName, signature) {
  const endpoint = el('input', {
    id: 'json-endpoint',
    type: 'text',
    value: path,
    spellcheck: 'false',
    'aria-label': 'endpoint',
  });
  const editor = el('textarea', { id: 'json-request', rows: 10, spellcheck: 'false', 'aria-label': 'request body' });
  editor.value = formatJson(predictRequestTemplate(signatureName, signature));
  const output = el('pre', { id: 'json-response', class: 'log' });
  const status = el('p', { class: 'status', role: 'status' });
  const send = async () => {
    const target = endpoint.value.trim();
    // Only this server's serving APIs: the editor is not a general-purpose HTTP client.
    if (!/^\/v[12]\//.test(target)) {
      status.textContent = 'The endpoint must be a path on this server starting with /v1/ or /v2/.';
      return;
    }
    status.textContent = 'Sending…';
    const started = performance.now();
    try {
      const response = await requestJson(target, { method: 'POST', body: editor.value });
      status.textContent = `OK in ${(performance.now() - started).toFixed(1)} ms`;
      output.textContent = formatJson(response);
    } catch (error) {
      status.textContent = 'Error';
      output.textContent = error instanceof Error ? error.message : String(error);
    }
  };
  return el(
    'section',
    { class: 'card' },
    el('h3', {}, 'JSON request'),
    el('label', { class: 'stack' }, 'POST ', endpoint),
    editor,
    el('div', {}, el('button', { type: 'button', id: 'json-send', onclick: () => void send() }, 'Send'), ' ', status),
    output,
  );
}
