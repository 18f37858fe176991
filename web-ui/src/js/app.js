import { api, ApiError, fetchImage } from './api.js';
import { setApiKey } from './auth.js';
import { GenerationForm } from './form.js';
import { Gallery } from './gallery.js';
import { renderLatent } from './latent.js';
import { JobStream } from './stream.js';

/**
 * Wires the page: the form submits to POST /v1/generations, every accepted job is followed over one WebSocket
 * (REST polling while the socket is down), the running job's previews and progress fill the stage, and finished
 * jobs land in the gallery.
 */

const $ = (id) => document.getElementById(id);
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled']);
const POLL_MS = 1500;

const ui = {
  form: $('gen-form'),
  generate: $('generate'),
  cancel: $('cancel'),
  status: $('server-status'),
  stage: $('preview'),
  stageEmpty: $('stage-empty'),
  progress: $('progress'),
  progressText: $('progress-text'),
  queue: $('queue'),
  jobError: $('job-error'),
};

/** Jobs submitted from this page, by id, in submission order. */
const jobs = new Map();
const labelMaps = { sampler: new Map(), schedule: new Map() };
let previewUrl = null;
/** The job whose preview the stage shows (null when it shows a result). */
let stageJob = null;
let previewSeq = 0;

const form = new GenerationForm(ui.form);
const gallery = new Gallery({
  list: $('gallery'),
  template: $('card-template'),
  count: $('gallery-count'),
  onReuse: (params) => {
    form.apply(params);
    $('prompt').focus();
  },
  onView: (url) => showOnStage(url, null),
  onInit: (blob) => {
    form.img2img.setImage(blob).catch(() => {});
    form.img2img.section.scrollIntoView({ block: 'start' });
  },
  labels: (kind, name) => labelMaps[kind].get(name) || name,
});
const stream = new JobStream({
  onEvent,
  onPreview,
  onConnection: () => refreshStatus(),
});

$('mod-key').textContent = /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl';
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
    ev.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submit();
});
ui.cancel.addEventListener('click', () => {
  const job = shownJob() || [...jobs.values()].reverse().find((j) => !j.done);
  if (job) cancel(job);
});
setInterval(pollWithoutSocket, POLL_MS);
window.addEventListener('jdiffuse:unauthorized', () => showLogin());
$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  setApiKey($('api-key').value.trim());
  try {
    await api('/v1/whoami');
    $('login').close();
    $('login-error').textContent = '';
    load();
  } catch (e) {
    $('login-error').textContent = e.status === 401 ? 'This key is not valid here.' : e.message;
  }
});
load();

/** The login form of a server started with --api-keys: the key is kept in this browser (js/auth.js). */
function showLogin() {
  const dialog = $('login');
  if (!dialog.open) dialog.showModal();
}

async function load() {
  try {
    const [models, samplers, loras, embeddings] = await Promise.all([api('/v1/models'), api('/v1/samplers'),
      api('/v1/loras').catch(() => ({ loras: [] })), api('/v1/embeddings').catch(() => ({ embeddings: [] }))]);
    for (const s of samplers.samplers || []) labelMaps.sampler.set(s.name, s.label);
    for (const s of samplers.schedules || []) labelMaps.schedule.set(s.name, s.label);
    form.populate(models, samplers, loras, embeddings);
    await refreshStatus();
  } catch (e) {
    if (e.status === 401) {
      setStatus('error', 'Sign in with an API key');
      showLogin();
      return;
    }
    setStatus('error', `Server unavailable (${e.message}); retrying…`);
    setTimeout(load, 3000);
  }
}

/** The header's status line from /readyz (200 ready; 503 with a `reason`) and the socket's state. */
async function refreshStatus() {
  let r;
  try {
    const res = await fetch('/readyz', { headers: { Accept: 'application/json' } });
    r = await res.json();
  } catch {
    setStatus('error', 'Server unavailable');
    return;
  }
  if (r.status !== 'ready') {
    setStatus('error', `Not ready: ${r.reason || r.status}`);
    return;
  }
  const models = `${r.models} model${r.models === 1 ? '' : 's'}`;
  setStatus(stream.open ? 'ready' : 'busy', stream.open ? `Ready · ${models}`
    : `Ready · ${models} · live updates reconnecting`);
}

function setStatus(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

async function submit() {
  form.clearErrors();
  ui.generate.disabled = true;
  try {
    const body = await form.request();
    const r = await api('/v1/generations', { method: 'POST', json: body });
    form.seedChosen(r.seed);
    const job = { id: r.id, status: r.status, position: r.position, step: 0, total: body.steps || 0,
      prompt: body.prompt, lastPreviewStep: -1, done: false };
    jobs.set(job.id, job);
    stream.follow(job.id);
    ui.jobError.hidden = true;
    render();
  } catch (e) {
    form.showError(e);
  } finally {
    ui.generate.disabled = false;
  }
}

async function cancel(job) {
  try {
    const r = await api(`/v1/generations/${encodeURIComponent(job.id)}`, { method: 'DELETE' });
    // the stream's final event may have ended the job while this answer (written before it ended) was on its way
    if (TERMINAL.has(r.status)) finish(job, r);
    else if (!job.done) job.status = 'cancelling';
    render();
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 'already_finished')) form.showError(e);
  }
}

/** The job whose preview and progress the stage shows: the running one, else the oldest waiting one. */
function shownJob() {
  const active = [...jobs.values()].filter((j) => !j.done);
  return active.find((j) => j.status === 'running' || j.status === 'cancelling') || active[0] || null;
}

function onEvent(msg) {
  const job = jobs.get(msg.job);
  if (!job || job.done) return;
  switch (msg.type) {
    case 'state':
      job.status = job.status === 'cancelling' && msg.status === 'running' ? 'cancelling' : msg.status;
      job.position = msg.position;
      if (msg.total) job.total = msg.total;
      if (msg.status === 'running' && msg.step != null) job.step = Math.max(job.step, msg.step);
      break;
    case 'step':
      if (job.status === 'queued' || job.status === 'loading') job.status = 'running';
      job.step = msg.step;
      job.total = msg.total;
      job.elapsedMs = msg.elapsed_ms;
      job.etaMs = msg.eta_ms;
      break;
    case 'final':
      finish(job, msg);
      return;
    case 'error':
      if (msg.code === 'not_found') finish(job, { status: 'failed', error: { code: msg.code, message: msg.message } });
      return;
    default:
      return;
  }
  render();
}

async function onPreview(header, payload) {
  const job = jobs.get(header.job);
  if (!job || job.done || header.step < job.lastPreviewStep) return;
  job.lastPreviewStep = header.step;
  if (job !== shownJob()) return;
  const seq = ++previewSeq;
  let blob;
  try {
    blob = header.format === 'latent' ? await renderLatent(header, payload)
      : new Blob([payload], { type: `image/${header.format || 'jpeg'}` });
  } catch (e) {
    console.warn('preview skipped:', e.message);
    return;
  }
  if (seq !== previewSeq || job.done) return;
  showOnStage(URL.createObjectURL(blob), job);
}

/**
 * Shows `url` on the stage: a preview of `previewOf` (a job), or a result when that is null. Preview URLs are
 * owned here and released when replaced.
 */
function showOnStage(url, previewOf) {
  const isPreview = !!previewOf;
  const old = previewUrl;
  previewUrl = isPreview ? url : null;
  stageJob = previewOf || null;
  ui.stage.src = url;
  ui.stage.dataset.kind = isPreview ? 'preview' : 'result';
  ui.stage.classList.remove('stale');
  ui.stage.hidden = false;
  ui.stageEmpty.hidden = true;
  if (old && old !== url) URL.revokeObjectURL(old);
}

/** A job ended (final event, REST poll or cancel answer): show its outcome and add its images to the gallery. */
async function finish(job, view) {
  if (job.done) return;
  job.done = true;
  job.status = view.status;
  stream.unfollow(job.id);
  if (view.status !== 'succeeded' && stageJob === job) ui.stage.classList.add('stale');
  render();
  if (view.status === 'succeeded') {
    try {
      const record = await api(`/v1/generations/${encodeURIComponent(job.id)}`);
      const blobs = await Promise.all((record.images || []).map(fetchImage));
      const card = gallery.add(record, blobs);
      if (card && !shownJob()) gallery.select(card);
      job.seconds = record.timings && record.timings.run_ms != null ? record.timings.run_ms / 1000 : null;
    } catch (e) {
      showJobError(`The images of this generation could not be fetched: ${e.message}`);
    }
  } else if (view.status === 'failed') {
    const err = view.error || {};
    showJobError(`Generation failed: ${err.message || 'unknown error'}${err.code ? ` (${err.code})` : ''}`);
  }
  prune();
  render();
}

/** Forgets the oldest finished jobs (the last one stays: the progress line reports its outcome). */
function prune() {
  for (const [id, j] of jobs) {
    if (jobs.size <= 20) break;
    if (j.done) jobs.delete(id);
  }
}

function showJobError(text) {
  ui.jobError.textContent = text;
  ui.jobError.hidden = false;
}

/** While the socket is down, active jobs are followed over REST so none is lost. */
async function pollWithoutSocket() {
  if (stream.open) return;
  for (const job of [...jobs.values()].filter((j) => !j.done)) {
    try {
      const r = await api(`/v1/generations/${encodeURIComponent(job.id)}`);
      if (TERMINAL.has(r.status)) {
        finish(job, r);
      } else {
        onEvent({ ...r, type: 'state', job: job.id });
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        finish(job, { status: 'failed', error: { code: e.code, message: e.message } });
      }
    }
  }
}

/** Progress bar, its text, the queue chips, the Cancel button and the tab title. */
function render() {
  const active = [...jobs.values()].filter((j) => !j.done);
  const job = shownJob();
  ui.cancel.disabled = active.length === 0;
  if (job) {
    const total = job.total || 1;
    if (job.status === 'queued') {
      ui.progress.removeAttribute('value');
      ui.progressText.textContent = `Queued · ${waiting(job)}`;
    } else if (job.status === 'loading') {
      ui.progress.removeAttribute('value');
      ui.progressText.textContent = 'Loading the model…';
    } else {
      ui.progress.max = total;
      ui.progress.value = Math.min(job.step, total);
      ui.progressText.textContent = progressLine(job);
    }
    document.title = job.status === 'queued' ? 'Queued · jdiffuse'
      : `${Math.round((100 * job.step) / total)}% · jdiffuse`;
  } else {
    const last = [...jobs.values()].pop();
    ui.progress.max = 1;
    ui.progress.value = last && last.status === 'succeeded' ? 1 : 0;
    ui.progressText.textContent = last ? endLine(last) : '';
    document.title = 'jdiffuse';
  }
  ui.queue.replaceChildren(...active.filter((j) => j !== job).map(queueChip));
}

/** `position` counts the jobs ahead (0 = next to start). */
function waiting(job) {
  if (job.position == null) return 'waiting';
  return job.position === 0 ? 'next' : `${job.position} ahead`;
}

function progressLine(job) {
  if (job.status === 'cancelling') return 'Cancelling…';
  if (!job.step) return 'Starting…';
  const parts = [`Step ${job.step}/${job.total}`];
  if (job.elapsedMs != null) parts.push(`${(job.elapsedMs / 1000).toFixed(1)} s`);
  const eta = job.etaMs != null ? job.etaMs
    : job.elapsedMs != null ? (job.elapsedMs / job.step) * (job.total - job.step) : null;
  if (eta != null && job.step < job.total) parts.push(`ETA ${formatSeconds(eta / 1000)}`);
  if (job.step >= job.total) parts.push('decoding…');
  return parts.join(' · ');
}

function endLine(job) {
  switch (job.status) {
    case 'succeeded': return job.seconds != null ? `Done in ${job.seconds.toFixed(1)} s` : 'Done';
    case 'cancelled': return 'Cancelled';
    case 'failed': return 'Failed';
    default: return '';
  }
}

function formatSeconds(s) {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function queueChip(job) {
  const li = document.createElement('li');
  const text = document.createElement('span');
  text.textContent = `${job.status === 'queued' ? waiting(job) : job.status} · ${job.prompt || '(empty prompt)'}`;
  text.title = job.prompt || '';
  const x = document.createElement('button');
  x.type = 'button';
  x.textContent = '×';
  x.setAttribute('aria-label', `Cancel queued generation: ${job.prompt || 'empty prompt'}`);
  x.addEventListener('click', () => cancel(job));
  li.append(text, x);
  return li;
}
