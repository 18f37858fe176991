/** Most LoRAs one request may carry (the server's limit, the `loras` field and prompt tags together). */
export const MAX_LORAS = 8;

/**
 * The LoRA picker: the names of GET /v1/loras in a list, a multiplier slider, and the chosen LoRAs as removable
 * chips (name · scale), sent as the request's `loras` field. The section shows only when the server has LoRAs.
 */
export class LoraPicker {
  constructor(el, onChange) {
    this.section = el('lora-section');
    this.select = el('lora-name');
    this.scale = el('lora-scale');
    this.scaleText = el('lora-scale-value');
    this.addButton = el('lora-add');
    this.chips = el('lora-chips');
    this.count = el('lora-count');
    this.onChange = onChange;
    this.available = [];
    this.chosen = [];
    this.scale.addEventListener('input', () => {
      this.scaleText.textContent = Number(this.scale.value).toFixed(2);
    });
    this.addButton.addEventListener('click', () => this.add(this.select.value, Number(this.scale.value)));
  }

  /** The server's LoRAs (GET /v1/loras `loras`); chosen ones that no longer exist are dropped. */
  setAvailable(list) {
    this.available = list || [];
    this.section.hidden = this.available.length === 0;
    this.select.replaceChildren(...this.available.map((l) => new Option(
      l.family ? `${l.name} (${l.family})` : l.name, l.name)));
    this.set(this.chosen.filter((c) => this.available.some((l) => l.name === c.name)));
  }

  add(name, scale) {
    if (!name || this.chosen.length >= MAX_LORAS) return;
    this.chosen.push({ name, scale });
    this.render();
  }

  /** Replaces the chosen LoRAs (a result's parameters, a saved session), keeping those the server has. */
  set(list) {
    this.chosen = (list || []).filter((l) => l && this.available.some((a) => a.name === l.name))
      .slice(0, MAX_LORAS).map((l) => ({ name: l.name, scale: l.scale ?? 1 }));
    this.render();
  }

  /** The `loras` request field. */
  collect() {
    return this.chosen.map((l) => ({ name: l.name, scale: l.scale }));
  }

  /** The chip an error path such as `loras[1].scale` names, else the Add button. */
  controlFor(path) {
    const m = /^loras\[(\d+)\]/.exec(path);
    const chip = m ? this.chips.children[Number(m[1])] : null;
    return chip ? chip.querySelector('button') : this.addButton;
  }

  render() {
    this.scaleText.textContent = Number(this.scale.value).toFixed(2);
    this.chips.replaceChildren(...this.chosen.map((l, i) => {
      const li = document.createElement('li');
      li.className = 'lora-chip field';
      const text = document.createElement('span');
      text.textContent = `${l.name} · ${Number(l.scale).toFixed(2)}`;
      const x = document.createElement('button');
      x.type = 'button';
      x.textContent = '×';
      x.id = `lora-chip-${i}`;
      x.setAttribute('aria-label', `Remove LoRA ${l.name}`);
      x.addEventListener('click', () => {
        this.chosen.splice(i, 1);
        this.render();
        this.addButton.focus();
      });
      li.append(text, x);
      return li;
    }));
    this.count.textContent = this.chosen.length ? String(this.chosen.length) : '';
    this.addButton.disabled = this.chosen.length >= MAX_LORAS;
    this.onChange?.();
  }
}
