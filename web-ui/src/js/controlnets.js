import { api, ApiError } from './api.js';
import { readNumber } from './fields.js';

/** Most ControlNet units one request may carry (the server's limit). */
export const MAX_UNITS = 4;

/**
 * The ControlNet units of the form: each has a ControlNet model, a control image uploaded at once to
 * POST /v1/uploads (its id goes into the request), and scale / start / end. Uploads expire on the server, so an
 * image older than ~90 % of its lifetime is uploaded again before it is used.
 */
export class ControlNets {
  constructor(section, container, template, addButton, onChange) {
    this.section = section;
    this.container = container;
    this.template = template;
    this.addButton = addButton;
    this.onChange = onChange;
    this.units = [];
    this.available = [];
    this.serial = 0;
    addButton.addEventListener('click', () => {
      const unit = this.add();
      unit?.model.focus();
    });
  }

  /** Shows the section only when the model has ControlNets; keeps units whose ControlNet still exists. */
  setAvailable(names) {
    this.available = names || [];
    this.section.hidden = this.available.length === 0;
    for (const u of [...this.units]) {
      if (!this.available.includes(u.model.value)) this.remove(u);
    }
    this.refresh();
  }

  add(values = {}) {
    if (this.units.length >= MAX_UNITS || this.available.length === 0) return null;
    const root = this.template.content.firstElementChild.cloneNode(true);
    const n = this.serial++;
    const u = {
      root,
      model: root.querySelector('.cn-model'),
      file: root.querySelector('.cn-file'),
      thumb: root.querySelector('.cn-thumb'),
      status: root.querySelector('.cn-status'),
      scale: root.querySelector('.cn-scale'),
      start: root.querySelector('.cn-start'),
      end: root.querySelector('.cn-end'),
      upload: null,
      pending: null,
    };
    for (const field of root.querySelectorAll('.field')) {
      const control = field.querySelector('select, input');
      const id = `cn${n}-${field.dataset.cn}`;
      control.id = id;
      field.querySelector('label').htmlFor = id;
    }
    for (const name of this.available) u.model.add(new Option(name, name));
    if (values.model && this.available.includes(values.model)) u.model.value = values.model;
    if (values.scale != null) u.scale.value = values.scale;
    if (values.start != null) u.start.value = values.start;
    if (values.end != null) u.end.value = values.end;
    if (values.image) {
      u.upload = { id: values.image, file: null, at: Date.now(), ttlMs: Infinity };
      u.status.textContent = `Reusing upload ${values.image}`;
    }
    u.file.addEventListener('change', () => {
      const f = u.file.files[0];
      if (f) this.upload(u, f).catch(() => {});
    });
    root.querySelector('.cn-remove').addEventListener('click', () => {
      this.remove(u);
      this.addButton.focus();
    });
    this.units.push(u);
    this.container.append(root);
    this.section.open = true;
    this.refresh();
    return u;
  }

  remove(u) {
    this.units = this.units.filter((x) => x !== u);
    if (u.thumb.src.startsWith('blob:')) URL.revokeObjectURL(u.thumb.src);
    u.root.remove();
    this.refresh();
  }

  clear() {
    for (const u of [...this.units]) this.remove(u);
  }

  refresh() {
    this.units.forEach((u, i) => {
      u.root.querySelector('.cn-index').textContent = this.units.length > 1 ? String(i + 1) : '';
      u.root.dataset.index = String(i);
    });
    this.addButton.disabled = this.units.length >= MAX_UNITS;
    document.getElementById('controlnet-count').textContent = this.units.length ? String(this.units.length) : '';
    this.onChange?.();
  }

  /** Uploads the control image now; errors are shown on the image field by the caller's error display. */
  upload(u, file) {
    u.status.textContent = 'Uploading…';
    if (u.thumb.src.startsWith('blob:')) URL.revokeObjectURL(u.thumb.src);
    u.thumb.src = URL.createObjectURL(file);
    u.thumb.hidden = false;
    u.upload = null;
    const index = this.units.indexOf(u);
    u.pending = api('/v1/uploads', { method: 'POST', body: file }).then((r) => {
      u.upload = { id: r.id, file, at: Date.now(), ttlMs: (r.expires_in_s ?? Infinity) * 1000 };
      u.status.textContent = `${r.width}×${r.height} ${String(r.format || '').toUpperCase()} uploaded`;
      return u.upload;
    }, (e) => {
      u.status.textContent = '';
      if (e instanceof ApiError) e.field = e.field || `controlnets[${index}].image`;
      this.onUploadError?.(e);
      throw e;
    }).finally(() => {
      u.pending = null;
    });
    return u.pending;
  }

  /** The `controlnets` request field; waits for uploads in flight and renews nearly expired ones. */
  async collect() {
    const out = [];
    for (const [i, u] of this.units.entries()) {
      if (u.pending) await u.pending;
      if (u.upload && u.upload.file && Date.now() - u.upload.at > 0.9 * u.upload.ttlMs) {
        await this.upload(u, u.upload.file);
      }
      out.push({
        model: u.model.value,
        image: u.upload ? u.upload.id : null,
        scale: readNumber(u.scale, `controlnets[${i}].scale`),
        start: readNumber(u.start, `controlnets[${i}].start`),
        end: readNumber(u.end, `controlnets[${i}].end`),
      });
    }
    return out;
  }

  /** The control element an error path such as `controlnets[1].scale` names, or null. */
  controlFor(path) {
    const m = /^controlnets\[(\d+)\](?:\.(\w+))?$/.exec(path);
    if (!m) return null;
    const u = this.units[Number(m[1])];
    if (!u) return null;
    switch (m[2]) {
      case 'model': return u.model;
      case 'scale': return u.scale;
      case 'start': return u.start;
      case 'end': return u.end;
      default: return u.file;
    }
  }
}
