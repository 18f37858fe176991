/** Most result images kept in the page; older ones are removed and their memory released. */
const MAX_IMAGES = 60;

/**
 * The results: newest first, each image with its prompt and parameters, "Reuse parameters" and "Download".
 * Images are held as Blob URLs, so they stay viewable and downloadable after the server's result TTL.
 */
export class Gallery {
  /**
   * @param {object} opts list, template, count (elements); onReuse(params), onView(url, card), onInit(blob) (the
   *   result becomes the next init image); labels(kind, name)
   */
  constructor({ list, template, count, onReuse, onView, onInit, labels }) {
    this.onInit = onInit;
    this.list = list;
    this.template = template;
    this.count = count;
    this.onReuse = onReuse;
    this.onView = onView;
    this.labels = labels;
  }

  /**
   * Adds one job's images. `record` is GET /v1/generations/{id} (parameters, timings); `blobs` its PNGs in order.
   * Returns the first new card.
   */
  add(record, blobs) {
    const p = record.parameters || {};
    const cards = blobs.map((blob, i) => this.card(record, p, blob, i));
    this.list.prepend(...cards);
    while (this.list.children.length > MAX_IMAGES) {
      const last = this.list.lastElementChild;
      URL.revokeObjectURL(last.querySelector('.card-img').src);
      last.remove();
    }
    this.count.textContent = String(this.list.children.length);
    return cards[0] || null;
  }

  card(record, p, blob, i) {
    const li = this.template.content.firstElementChild.cloneNode(true);
    const url = URL.createObjectURL(blob);
    const img = li.querySelector('.card-img');
    img.src = url;
    img.alt = p.prompt ? `Result: ${p.prompt}` : 'Result (empty prompt)';
    li.dataset.job = record.id;
    li.dataset.index = String(i);
    li.querySelector('.card-prompt').textContent = p.prompt || '(empty prompt)';
    li.querySelector('.card-prompt').title = p.negative_prompt ? `${p.prompt}\nNegative: ${p.negative_prompt}`
      : (p.prompt || '');
    li.querySelector('.card-meta').textContent = describe(p, record, this.labels);
    const view = li.querySelector('.card-view');
    view.setAttribute('aria-label', `Show image ${i + 1}: ${p.prompt || 'empty prompt'}`);
    view.addEventListener('click', () => this.select(li));
    li.querySelector('.card-reuse').addEventListener('click', () => this.onReuse(p));
    li.querySelector('.card-init').addEventListener('click', () => this.onInit?.(blob));
    const a = li.querySelector('.card-download');
    a.href = url;
    a.download = `jdiffuse-${p.seed ?? record.id}-${i}.png`;
    return li;
  }

  select(li) {
    for (const c of this.list.querySelectorAll('.card.selected')) c.classList.remove('selected');
    li.classList.add('selected');
    this.onView(li.querySelector('.card-img').src, li);
  }
}

/** One line of parameters, A1111 style: size, steps, sampler, schedule, CFG, seed, model, time. */
export function describe(p, record, labels) {
  const parts = [];
  if (p.width && p.height) parts.push(`${p.width}×${p.height}`);
  if (p.steps) parts.push(`${p.steps} steps`);
  if (p.sampler) {
    const schedule = p.schedule && p.schedule !== 'default' ? ` ${labels('schedule', p.schedule)}` : '';
    parts.push(`${labels('sampler', p.sampler)}${schedule}`);
  }
  if (p.guidance_scale != null) parts.push(`CFG ${p.guidance_scale}`);
  if (p.seed != null) parts.push(`seed ${p.seed}`);
  if (p.controlnets && p.controlnets.length) parts.push(`${p.controlnets.length} ControlNet`);
  if (p.mask) parts.push(`inpaint ${p.strength}`);
  else if (p.outpaint) parts.push('outpaint');
  else if (p.init_image) parts.push(`img2img ${p.strength}`);
  if (p.hires) parts.push('hires fix');
  if (p.model) parts.push(p.model);
  const ms = record.timings && record.timings.run_ms;
  if (ms != null) parts.push(`${(ms / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}
