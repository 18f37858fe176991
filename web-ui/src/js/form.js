import { ApiError } from './api.js';
import { ControlNets } from './controlnets.js';
import { ImageToImage } from './img2img.js';
import { EmbeddingPicker } from './embeddings.js';
import { LoraPicker } from './loras.js';
import { clearFieldError, clearFieldErrors, readNumber, showFieldError } from './fields.js';

const STORAGE_KEY = 'jdiffuse.form.v1';

/** Request fields (the API's names) backed by a plain form control with the same id. */
const NUMBER_FIELDS = ['steps', 'guidance_scale', 'guidance_rescale', 'width', 'height', 'batch_size'];
const TEXT_FIELDS = ['prompt', 'negative_prompt', 'model', 'sampler', 'schedule'];
/** The SDXL refiner's conditioning scores, sent only for a model of that family. */
const REFINER_FIELDS = ['aesthetic_score', 'negative_aesthetic_score'];
/** FLUX's true classifier-free guidance, sent only for a model of that family. */
const FLUX_FIELDS = ['true_cfg_scale'];
const PREVIEW_FIELDS = { 'preview.method': 'preview_method', 'preview.every': 'preview_every',
  'preview.max_size': 'preview_max_size' };

/**
 * The generation form: fills its choices from GET /v1/models and /v1/samplers, builds the POST /v1/generations
 * body, applies a result's parameters back ("reuse"), shows API errors next to the field they name, handles the
 * seed's dice and lock, and remembers its values in localStorage across reloads.
 */
export class GenerationForm {
  constructor(form) {
    this.form = form;
    this.el = (id) => form.querySelector(`#${id}`) || document.getElementById(id);
    this.models = [];
    this.formError = this.el('form-error');
    this.seedLock = this.el('seed-lock');
    this.seedHint = this.el('seed-hint');
    this.controlnets = new ControlNets(this.el('controlnet-section'), this.el('controlnet-units'),
      document.getElementById('controlnet-template'), this.el('controlnet-add'), () => this.save());
    this.controlnets.onUploadError = (e) => this.showError(e);
    this.loras = new LoraPicker(this.el, () => this.save());
    this.embeddings = new EmbeddingPicker(this.el, () => this.save());
    this.img2img = new ImageToImage(this.el, () => this.save(), (e) => this.showError(e));
    // a new init image sets the generation size to its own (down to the model's multiple)
    this.img2img.onImageSize = (w, h) => {
      const unit = this.model()?.pixels_per_latent || 8;
      this.el('width').value = String(Math.max(unit, w - (w % unit)));
      this.el('height').value = String(Math.max(unit, h - (h % unit)));
      this.save();
    };

    form.addEventListener('input', (ev) => {
      clearFieldError(ev.target);
      if (ev.target.id === 'seed' && ev.target.value !== '') this.setLocked(true);
      if (ev.target.id === 'true_cfg_scale') this.negativeOffered();
      this.save();
    });
    form.addEventListener('change', () => this.save());
    this.el('model').addEventListener('change', () => this.modelChanged(true));
    this.el('seed-dice').addEventListener('click', () => {
      this.el('seed').value = '';
      this.setLocked(false);
      clearFieldError(this.el('seed'));
      this.save();
    });
    this.seedLock.addEventListener('click', () => {
      this.setLocked(this.seedLock.getAttribute('aria-pressed') !== 'true');
      this.save();
    });
    this.el('swap-size').addEventListener('click', () => {
      const w = this.el('width');
      const h = this.el('height');
      [w.value, h.value] = [h.value, w.value];
      this.save();
    });
  }

  /** Fills the model, sampler and schedule choices, then restores the last session's values. */
  populate(modelsAnswer, samplersAnswer, lorasAnswer, embeddingsAnswer) {
    this.models = modelsAnswer.models || [];
    const modelSel = this.el('model');
    modelSel.replaceChildren(...this.models.map((m) => new Option(
      m.family ? `${m.name} (${m.family})` : m.name, m.name)));
    if (modelsAnswer.default) modelSel.value = modelsAnswer.default;
    fillGrouped(this.el('sampler'), samplersAnswer.samplers || []);
    fill(this.el('schedule'), samplersAnswer.schedules || []);
    this.samplerInfo = new Map((samplersAnswer.samplers || []).map((s) => [s.name, s]));
    this.scheduleInfo = new Map((samplersAnswer.schedules || []).map((s) => [s.name, s]));
    this.el('sampler').addEventListener('change', () => this.samplerChanged());
    const saved = this.load();
    this.loras.setAvailable(lorasAnswer?.loras || []);
    this.embeddings.setAvailable(embeddingsAnswer?.embeddings || []);
    this.modelChanged(true);
    if (saved) this.restore(saved);
  }

  model() {
    return this.models.find((m) => m.name === this.el('model').value) || null;
  }

  /** A new model: its size unit, its ControlNets, and (when `applyDefaults`) its default settings. */
  modelChanged(applyDefaults) {
    const m = this.model();
    if (!m) return;
    const unit = m.size_multiple || m.pixels_per_latent || 8;
    for (const id of ['width', 'height']) this.el(id).step = String(unit);
    this.controlnets.setAvailable(m.controlnets || []);
    this.el('refiner-scores').hidden = m.family !== 'sdxl_refiner';
    // only the samplers of the model's noise space (flow models take flow samplers): the others would be a 400
    const usable = m.samplers && m.samplers.length ? m.samplers : null;
    const sampler = this.el('sampler');
    for (const o of sampler.options) o.hidden = o.disabled = usable !== null && !usable.includes(o.value);
    for (const g of sampler.querySelectorAll('optgroup')) g.hidden = ![...g.children].some((o) => !o.hidden);
    if (sampler.selectedOptions[0]?.disabled) sampler.value = m.defaults?.sampler || usable[0];
    this.samplerChanged();
    // FLUX runs without classifier-free guidance unless its true CFG scale is above 1: only then does it take a
    // negative prompt (the server refuses one otherwise), and CFG rescale never applies to it
    const flux = m.family === 'flux';
    this.el('flux-true-cfg').hidden = !flux;
    this.el('guidance_rescale').closest('[data-field]').hidden = flux;
    this.negativeOffered();
    if (applyDefaults && m.defaults) {
      const d = m.defaults;
      setIf(this.el('sampler'), d.sampler);
      setIf(this.el('schedule'), d.schedule);
      setIf(this.el('steps'), d.steps);
      setIf(this.el('width'), d.width);
      setIf(this.el('height'), d.height);
      setIf(this.el('guidance_scale'), d.guidance_scale);
    }
    this.save();
  }

  /** The negative prompt is offered unless the model is FLUX with its true CFG off (scale 1). */
  negativeOffered() {
    const flux = this.model()?.family === 'flux';
    const trueCfg = Number(this.el('true_cfg_scale').value || '1');
    this.el('negative_prompt').closest('[data-field]').hidden = flux && !(trueCfg > 1);
  }

  /** Offers only the schedules the chosen sampler can walk (respacing needs a sigma-spaced sampler). */
  samplerChanged() {
    const s = this.samplerInfo?.get(this.el('sampler').value);
    const schedule = this.el('schedule');
    for (const o of schedule.options) {
      const needs = this.scheduleInfo?.get(o.value)?.needs_sigma_spaced === true;
      o.hidden = o.disabled = needs && s !== undefined && s.sigma_spaced === false;
    }
    if (schedule.selectedOptions[0]?.disabled) schedule.value = 'default';
    // CFG++ samplers step along the unconditional prediction: their useful guidance is around 1, not 7
    this.el('guidance-hint').hidden = s?.cfg_pp !== true;
  }

  locked() {
    return this.seedLock.getAttribute('aria-pressed') === 'true';
  }

  setLocked(on) {
    this.seedLock.setAttribute('aria-pressed', String(on));
    this.seedLock.title = on ? 'Seed kept: click to draw a new seed each time'
      : 'Keep this seed for the next generations';
    this.seedHint.textContent = on ? 'Seed kept' : 'New random seed each time';
  }

  /**
   * The POST /v1/generations body. Empty number fields are omitted (server defaults); an unlocked seed is sent as
   * -1 so the server draws one and reports it. Throws an ApiError naming the field for unparsable input.
   */
  async request() {
    const body = {};
    for (const f of TEXT_FIELDS) {
      // a field the model does not take (hidden) is sent empty or left out, so the server has nothing to refuse
      const hidden = this.el(f).closest('[data-field]')?.hidden === true;
      const v = hidden ? '' : this.el(f).value;
      if (v !== '' || f === 'prompt' || f === 'negative_prompt') body[f] = v;
    }
    for (const f of NUMBER_FIELDS) {
      if (this.el(f).closest('[data-field]')?.hidden === true) continue;
      const v = readNumber(this.el(f), f);
      if (v !== undefined) body[f] = v;
    }
    if (!this.el('flux-true-cfg').hidden) {
      for (const f of FLUX_FIELDS) {
        const v = readNumber(this.el(f), f);
        if (v !== undefined) body[f] = v;
      }
    }
    if (!this.el('refiner-scores').hidden) {
      for (const f of REFINER_FIELDS) {
        const v = readNumber(this.el(f), f);
        if (v !== undefined) body[f] = v;
      }
    }
    const seed = readNumber(this.el('seed'), 'seed');
    body.seed = this.locked() && seed !== undefined ? seed : -1;
    body.preview = { method: this.el('preview_method').value };
    const every = readNumber(this.el('preview_every'), 'preview.every');
    const maxSize = readNumber(this.el('preview_max_size'), 'preview.max_size');
    if (every !== undefined) body.preview.every = every;
    if (maxSize !== undefined) body.preview.max_size = maxSize;
    if (!this.controlnets.section.hidden) {
      const cn = await this.controlnets.collect();
      if (cn.length) body.controlnets = cn;
    }
    const loras = this.loras.collect();
    if (loras.length) body.loras = loras;
    await this.img2img.collect(body);
    if (this.el('discard_penultimate_sigma').checked) body.discard_penultimate_sigma = true;
    if (this.el('vae_tiling').value !== 'auto') body.vae_tiling = this.el('vae_tiling').value;
    const tile = readNumber(this.el('vae_tile_size'), 'vae_tile_size');
    if (tile !== undefined) body.vae_tile_size = tile;
    if (this.el('hires_enabled').checked) {
      body.hires = { upscaler: this.el('hires_upscaler').value };
      for (const f of ['scale', 'steps', 'strength']) {
        const v = readNumber(this.el(`hires_${f}`), `hires.${f}`);
        if (v !== undefined) body.hires[f] = v;
      }
    }
    return body;
  }

  /** Shows the seed the server chose for an accepted request (unless the user keeps their own). */
  seedChosen(seed) {
    if (seed != null && (!this.locked() || this.el('seed').value === '')) {
      this.el('seed').value = String(seed);
      this.save();
    }
  }

  /** Puts a result's parameters back into the form; the seed is locked so the result can be reproduced. */
  apply(p) {
    if (p.model && this.models.some((m) => m.name === p.model)) {
      this.el('model').value = p.model;
      this.modelChanged(false);
    }
    for (const f of ['prompt', 'negative_prompt', 'sampler']) setIf(this.el(f), p[f]);
    this.samplerChanged();
    setIf(this.el('schedule'), p.schedule);
    for (const f of NUMBER_FIELDS) setIf(this.el(f), p[f]);
    for (const f of REFINER_FIELDS) setIf(this.el(f), p[f]);
    for (const f of FLUX_FIELDS) setIf(this.el(f), p[f]);
    this.negativeOffered();
    if (p.preview) {
      setIf(this.el('preview_method'), p.preview.method);
      setIf(this.el('preview_every'), p.preview.every);
      setIf(this.el('preview_max_size'), p.preview.max_size);
    }
    if (p.seed != null) {
      this.el('seed').value = String(p.seed);
      this.setLocked(true);
    }
    this.controlnets.clear();
    for (const c of p.controlnets || []) this.controlnets.add(c);
    this.loras.set(p.loras);
    this.img2img.apply(p);
    this.el('discard_penultimate_sigma').checked = p.discard_penultimate_sigma === true;
    this.el('vae_tiling').value = p.vae_tiling || 'auto';
    this.el('vae_tile_size').value = p.vae_tile_size == null ? '' : String(p.vae_tile_size);
    this.el('hires_enabled').checked = !!p.hires;
    if (p.hires) {
      setIf(this.el('hires_scale'), p.hires.scale);
      setIf(this.el('hires_steps'), p.hires.steps);
      setIf(this.el('hires_strength'), p.hires.strength);
      setIf(this.el('hires_upscaler'), p.hires.upscaler);
    }
    this.clearErrors();
    this.save();
  }

  clearErrors() {
    clearFieldErrors(this.form);
    this.formError.hidden = true;
    this.formError.textContent = '';
  }

  /** Shows an API error next to the field it names (or above the buttons) and moves focus there. */
  showError(err) {
    const message = err.message || String(err);
    const control = err instanceof ApiError && err.field ? this.controlFor(err.field) : null;
    if (control) {
      showFieldError(control, message);
      control.focus();
      return;
    }
    this.formError.textContent = err instanceof ApiError && err.status === 429 && err.retryAfter
      ? `${message} (retry in ${err.retryAfter} s)` : message;
    this.formError.hidden = false;
  }

  controlFor(path) {
    if (TEXT_FIELDS.includes(path) || NUMBER_FIELDS.includes(path) || REFINER_FIELDS.includes(path)
      || FLUX_FIELDS.includes(path) || path === 'seed' || path === 'discard_penultimate_sigma') return this.el(path);
    if (path === 'vae_tiling' || path === 'vae_tile_size') return this.el(path);
    if (PREVIEW_FIELDS[path]) return this.el(PREVIEW_FIELDS[path]);
    if (path === 'preview') return this.el('preview_method');
    if (path.startsWith('loras')) return this.loras.controlFor(path);
    const img = this.img2img.controlFor(path);
    if (img) return img;
    if (path.startsWith('hires')) {
      const m = /^hires\.(scale|steps|strength|upscaler)$/.exec(path);
      return this.el(m ? `hires_${m[1]}` : 'hires_enabled');
    }
    if (path.startsWith('controlnets')) {
      return this.controlnets.controlFor(path) || this.el('controlnet-add');
    }
    return null;
  }

  save() {
    if (!this.models.length) return;
    const state = {};
    for (const c of this.form.querySelectorAll('input[id], select[id], textarea[id]')) {
      if (c.type === 'checkbox') state[c.id] = c.checked;
      else if (c.type !== 'file' && !c.id.startsWith('cn')) state[c.id] = c.value;
    }
    state.loras = this.loras.collect();
    state.seedLocked = this.locked();
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(state));
    } catch {
      // storage full or disabled: the form simply starts fresh next time
    }
  }

  load() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || 'null');
    } catch {
      return null;
    }
  }

  restore(state) {
    if (state.model && this.models.some((m) => m.name === state.model)) {
      this.el('model').value = state.model;
      this.modelChanged(false);
    }
    for (const [id, v] of Object.entries(state)) {
      if (id === 'model' || id === 'seedLocked' || id === 'loras') continue;
      const c = this.form.querySelector(`#${CSS.escape(id)}`);
      if (c && c.type === 'checkbox') c.checked = v === true;
      else if (c) setIf(c, v);
    }
    this.samplerChanged();
    this.negativeOffered();
    setIf(this.el('schedule'), state.schedule);
    this.img2img.showValues();
    this.setLocked(!!state.seedLocked);
    if (Array.isArray(state.loras)) this.loras.set(state.loras);
  }
}

function fill(select, entries) {
  select.replaceChildren(...entries.map((e) => new Option(e.label || e.name, e.name)));
}

/** As `fill`, with the entries under an <optgroup> per `group` (diffusers, k-diffusion, CFG++), in first-seen order. */
function fillGrouped(select, entries) {
  const groups = new Map();
  for (const e of entries) {
    const label = e.group || 'other';
    if (!groups.has(label)) {
      const g = document.createElement('optgroup');
      g.label = label;
      groups.set(label, g);
    }
    groups.get(label).append(new Option(e.label || e.name, e.name));
  }
  select.replaceChildren(...groups.values());
}

/** Sets a control's value when `v` is given and (for a select) is one of its enabled options. */
function setIf(control, v) {
  if (v === undefined || v === null) return;
  if (control.tagName === 'SELECT' && ![...control.options].some((o) => o.value === String(v) && !o.disabled)) {
    return;
  }
  control.value = String(v);
}
