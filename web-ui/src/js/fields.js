import { ApiError } from './api.js';

/**
 * Reads a number input: undefined when empty (the server then applies its documented default), the number
 * otherwise. Text the browser cannot parse is reported like a server error on `field`.
 */
export function readNumber(input, field) {
  if (input.validity.badInput) {
    throw new ApiError(400, 'invalid_value', 'Enter a number.', field);
  }
  if (input.value.trim() === '') return undefined;
  return Number(input.value);
}

/** Marks `control` invalid and shows `message` under it (linked with aria-describedby). */
export function showFieldError(control, message) {
  const field = control.closest('.field') || control.parentElement;
  let p = field.querySelector(':scope > .field-error');
  if (!p) {
    p = document.createElement('p');
    p.className = 'field-error';
    p.id = `${control.id || 'field'}-error`;
    field.append(p);
  }
  p.textContent = message;
  control.setAttribute('aria-invalid', 'true');
  const described = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
  if (!described.includes(p.id)) described.push(p.id);
  control.setAttribute('aria-describedby', described.join(' '));
  for (let d = control.closest('details'); d; d = d.parentElement?.closest('details')) d.open = true;
}

/** Removes the error shown for `control`, if any. */
export function clearFieldError(control) {
  if (control.getAttribute('aria-invalid') !== 'true') return;
  control.removeAttribute('aria-invalid');
  const field = control.closest('.field') || control.parentElement;
  const p = field.querySelector(':scope > .field-error');
  if (p) {
    const rest = (control.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== p.id);
    if (rest.length) control.setAttribute('aria-describedby', rest.join(' '));
    else control.removeAttribute('aria-describedby');
    p.remove();
  }
}

/** Removes every field error under `root`. */
export function clearFieldErrors(root) {
  for (const c of root.querySelectorAll('[aria-invalid="true"]')) clearFieldError(c);
}
