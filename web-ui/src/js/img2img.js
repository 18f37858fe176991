import { api, ApiError } from './api.js';
import { readNumber } from './fields.js';

/**
 * The "Image to image / Inpaint" section: an init image (dropped, picked, or sent from a result) drawn on a canvas
 * and uploaded at once to POST /v1/uploads; a mask painted with pointer events on a canvas laid over it (brush,
 * eraser, clear, invert), kept at the init image's pixel size and uploaded as a black/white PNG (white = repaint)
 * only when something is painted; `strength`, the inpainting options and the outpainting pads.
 */
export class ImageToImage {
  constructor(el, onChange, onUploadError) {
    this.el = el;
    this.onChange = onChange;
    this.onUploadError = onUploadError;
    this.section = el('img2img-section');
    this.drop = el('init-drop');
    this.file = el('init-file');
    this.status = el('init-status');
    this.editor = el('mask-editor');
    this.image = el('init-canvas');
    this.mask = el('mask-canvas');
    this.brush = el('mask-brush');
    this.eraser = el('mask-eraser');
    this.strength = el('strength');
    this.init = null; // {id, blob, at, ttlMs} of the uploaded init image
    this.maskUpload = null; // {id, at, ttlMs} of the mask as last uploaded; null when the mask changed since
    this.pending = null;
    this.painting = null;

    this.file.addEventListener('change', () => {
      if (this.file.files[0]) this.setImage(this.file.files[0]).catch(() => {});
    });
    this.drop.addEventListener('dragover', (ev) => {
      ev.preventDefault();
      this.drop.classList.add('dragging');
    });
    this.drop.addEventListener('dragleave', () => this.drop.classList.remove('dragging'));
    this.drop.addEventListener('drop', (ev) => {
      ev.preventDefault();
      this.drop.classList.remove('dragging');
      const f = [...(ev.dataTransfer?.files || [])].find((x) => x.type.startsWith('image/'));
      if (f) this.setImage(f).catch(() => {});
    });
    el('init-remove').addEventListener('click', () => this.removeImage());
    el('mask-clear').addEventListener('click', () => this.clearMask());
    el('mask-invert').addEventListener('click', () => this.invertMask());
    this.eraser.addEventListener('click', () => {
      this.eraser.setAttribute('aria-pressed', String(this.eraser.getAttribute('aria-pressed') !== 'true'));
    });
    const brushText = el('mask-brush-value');
    const strengthText = el('strength-value');
    this.brush.addEventListener('input', () => { brushText.textContent = this.brush.value; });
    this.strength.addEventListener('input', () => { strengthText.textContent = Number(this.strength.value).toFixed(2); });
    this.showValues = () => {
      brushText.textContent = this.brush.value;
      strengthText.textContent = Number(this.strength.value).toFixed(2);
    };
    this.mask.addEventListener('pointerdown', (ev) => this.paintStart(ev));
    this.mask.addEventListener('pointermove', (ev) => this.paintMove(ev));
    for (const type of ['pointerup', 'pointercancel']) this.mask.addEventListener(type, (ev) => this.paintEnd(ev));
  }

  /** Shows `blob` as the init image (the mask starts empty at its size) and uploads it now. */
  async setImage(blob) {
    const bitmap = await createImageBitmap(blob);
    for (const c of [this.image, this.mask]) {
      c.width = bitmap.width;
      c.height = bitmap.height;
    }
    this.image.getContext('2d').drawImage(bitmap, 0, 0);
    bitmap.close?.();
    this.editor.hidden = false;
    this.section.open = true;
    this.clearMask();
    this.onImageSize?.(this.image.width, this.image.height);
    this.init = null;
    this.status.textContent = 'Uploading…';
    this.pending = this.uploadBlob(blob).then((u) => {
      this.init = { ...u, blob };
      this.status.textContent = `${this.image.width}×${this.image.height} init image uploaded`;
      return this.init;
    }, (e) => {
      this.status.textContent = '';
      if (e instanceof ApiError) e.field = e.field || 'init_image';
      this.onUploadError?.(e);
      throw e;
    }).finally(() => { this.pending = null; });
    this.onChange?.();
    return this.pending;
  }

  removeImage() {
    this.init = null;
    this.editor.hidden = true;
    this.file.value = '';
    this.status.textContent = '';
    this.clearMask();
    this.onChange?.();
  }

  /** Canvas pixel under the pointer: the canvas is shown scaled, its bitmap has the init image's size. */
  point(ev) {
    const r = this.mask.getBoundingClientRect();
    return [(ev.clientX - r.left) * (this.mask.width / r.width), (ev.clientY - r.top) * (this.mask.height / r.height)];
  }

  paintStart(ev) {
    if (ev.button !== 0) return;
    ev.preventDefault();
    this.mask.setPointerCapture?.(ev.pointerId);
    this.painting = { id: ev.pointerId, last: this.point(ev) };
    this.stroke(this.painting.last, this.painting.last);
  }

  paintMove(ev) {
    if (!this.painting || ev.pointerId !== this.painting.id) return;
    const p = this.point(ev);
    this.stroke(this.painting.last, p);
    this.painting.last = p;
  }

  paintEnd(ev) {
    if (!this.painting || ev.pointerId !== this.painting.id) return;
    this.painting = null;
    this.onChange?.();
  }

  /** One round-capped segment, white (brush) or cleared (eraser), `brush` image pixels wide. */
  stroke([x0, y0], [x1, y1]) {
    const g = this.mask.getContext('2d');
    g.save();
    g.globalCompositeOperation = this.eraser.getAttribute('aria-pressed') === 'true' ? 'destination-out' : 'source-over';
    g.strokeStyle = '#fff';
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.lineWidth = Number(this.brush.value) || 1;
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1 + 0.01, y1); // a zero-length segment draws nothing; a click should leave a dot
    g.stroke();
    g.restore();
    this.maskUpload = null;
  }

  clearMask() {
    this.mask.getContext('2d').clearRect(0, 0, this.mask.width, this.mask.height);
    this.maskUpload = null;
  }

  /** Painted becomes unpainted and the other way round (XOR with an opaque white fill). */
  invertMask() {
    const g = this.mask.getContext('2d');
    g.save();
    g.globalCompositeOperation = 'xor';
    g.fillStyle = '#fff';
    g.fillRect(0, 0, this.mask.width, this.mask.height);
    g.restore();
    this.maskUpload = null;
    this.onChange?.();
  }

  /** The mask as a black/white PNG of the init image's size (painted alpha >= 0.5: white), or null when empty. */
  async maskPng() {
    const { width, height } = this.mask;
    if (!width || !height) return null;
    const src = this.mask.getContext('2d').getImageData(0, 0, width, height);
    const out = new ImageData(width, height);
    let painted = 0;
    for (let i = 0; i < width * height; i++) {
      const v = src.data[4 * i + 3] >= 128 ? 255 : 0;
      if (v) painted++;
      out.data[4 * i] = out.data[4 * i + 1] = out.data[4 * i + 2] = v;
      out.data[4 * i + 3] = 255;
    }
    if (painted === 0) return null;
    const c = document.createElement('canvas');
    c.width = width;
    c.height = height;
    c.getContext('2d').putImageData(out, 0, 0);
    return new Promise((resolve) => c.toBlob(resolve, 'image/png'));
  }

  async uploadBlob(blob) {
    const r = await api('/v1/uploads', { method: 'POST', body: blob });
    return { id: r.id, at: Date.now(), ttlMs: (r.expires_in_s ?? Infinity) * 1000 };
  }

  /**
   * Adds the section's fields to the POST /v1/generations `body`: nothing without an init image; else
   * `init_image` and `strength`, `mask` (+ its options) when painted, `outpaint` when a pad is set. Waits for the
   * init image's upload and renews nearly expired uploads.
   */
  async collect(body) {
    if (this.editor.hidden) return;
    if (this.pending) await this.pending;
    if (!this.init) {
      throw new ApiError(400, 'invalid_value', 'The init image was not uploaded: pick it again or remove it.',
        'init_image');
    }
    const stale = (u) => Date.now() - u.at > 0.9 * u.ttlMs;
    if (stale(this.init)) this.init = { ...(await this.uploadBlob(this.init.blob)), blob: this.init.blob };
    body.init_image = this.init.id;
    body.strength = readNumber(this.strength, 'strength');
    const pads = {};
    for (const side of ['left', 'right', 'top', 'bottom']) {
      const v = readNumber(this.el(`outpaint_${side}`), `outpaint.${side}`);
      if (v) pads[side] = v;
    }
    const png = await this.maskPng();
    if (png) {
      if (!this.maskUpload || stale(this.maskUpload)) this.maskUpload = await this.uploadBlob(png);
      body.mask = this.maskUpload.id;
      body.inpaint_full_res = this.el('inpaint_full_res').checked;
      if (body.inpaint_full_res) {
        body.inpaint_full_res_padding = readNumber(this.el('inpaint_full_res_padding'), 'inpaint_full_res_padding');
      }
    }
    if (Object.keys(pads).length) {
      body.outpaint = pads;
      // the canvas size follows from the init image and the pads; the server refuses other sizes
      delete body.width;
      delete body.height;
    }
    if (png || body.outpaint) {
      body.mask_blur = readNumber(this.el('mask_blur'), 'mask_blur');
      body.paste_back = this.el('paste_back').checked;
    }
  }

  /** Puts a result's img2img parameters back (the numbers and switches; the pictures stay as they are). */
  apply(p) {
    const set = (id, v) => { if (v !== undefined && v !== null) this.el(id).value = String(v); };
    set('strength', p.strength);
    set('mask_blur', p.mask_blur);
    set('inpaint_full_res_padding', p.inpaint_full_res_padding);
    if (p.inpaint_full_res != null) this.el('inpaint_full_res').checked = !!p.inpaint_full_res;
    if (p.paste_back != null) this.el('paste_back').checked = !!p.paste_back;
    for (const side of ['left', 'right', 'top', 'bottom']) set(`outpaint_${side}`, p.outpaint ? p.outpaint[side] ?? 0 : 0);
    this.showValues();
  }

  /** The control an error path names (`init_image`, `mask`, `outpaint.left`, ...), or null. */
  controlFor(path) {
    if (path === 'init_image') return this.file;
    if (path === 'mask') return this.el('mask-clear');
    if (path === 'outpaint') return this.el('outpaint_left');
    const m = /^outpaint\.(left|right|top|bottom)$/.exec(path);
    if (m) return this.el(`outpaint_${m[1]}`);
    if (['strength', 'mask_blur', 'inpaint_full_res', 'inpaint_full_res_padding', 'paste_back'].includes(path)) {
      return this.el(path);
    }
    return null;
  }
}
