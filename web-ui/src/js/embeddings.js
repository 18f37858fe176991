/**
 * The embeddings (textual inversion) picker: the names of GET /v1/embeddings in a list and two buttons that write the
 * chosen name into the prompt or the negative prompt, where the server reads it as AUTOMATIC1111 does (a name in the
 * text is the embedding). The section shows only when the server has embeddings.
 */
export class EmbeddingPicker {
  constructor(el, onChange) {
    this.section = el('embedding-section');
    this.select = el('embedding-name');
    this.prompt = el('prompt');
    this.negative = el('negative_prompt');
    this.onChange = onChange;
    el('embedding-to-prompt').addEventListener('click', () => this.insert(this.prompt));
    el('embedding-to-negative').addEventListener('click', () => this.insert(this.negative));
  }

  /** The server's embeddings (GET /v1/embeddings `embeddings`). */
  setAvailable(list) {
    const names = (list || []).map((e) => e.name);
    this.section.hidden = names.length === 0;
    this.select.replaceChildren(...names.map((n) => new Option(n, n)));
  }

  /** Appends the chosen name to `field`, comma-separated, unless it is there already as a word. */
  insert(field) {
    const name = this.select.value;
    if (!name) return;
    const text = field.value;
    if (new RegExp(`(^|[\\s,(])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[\\s,):])`).test(text)) return;
    field.value = text.trim() === '' ? name : `${text.replace(/[\s,]*$/, '')}, ${name}`;
    field.dispatchEvent(new Event('input', { bubbles: true }));
    this.onChange?.();
  }
}
