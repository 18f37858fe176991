/**
 * Client-side rendering of raw latent previews (preview method "latent"): the server sends the first batch row's
 * latent as little-endian IEEE 754 half floats, shape [channels, height, width], row-major; this turns it into an
 * RGB image with a fixed linear projection, so the server spends nothing on decoding.
 *
 * Four-channel latents (SD 1.x/2.x/SDXL VAE space) use the 4->3 projection published in the diffusers
 * documentation ("Pipeline callbacks", latents_to_rgb): rgb = W . latent + b on a 0..255 scale. Other channel counts
 * (e.g. 16 for SD3) have no fixed projection here; their first three channels are standardised per channel instead,
 * which shows composition and progress though not true colours.
 */

const SD_WEIGHTS = [
  [60, -60, 25, -70],
  [60, -5, 15, -50],
  [60, 10, -5, -35],
];
const SD_BIAS = [150, 140, 130];

/** Decodes one IEEE 754 binary16 value. */
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Decodes float16 bytes (little-endian unless `littleEndian` is false) into a Float32Array. */
export function decodeFp16(bytes, littleEndian = true) {
  const n = bytes.byteLength >> 1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, littleEndian));
  return out;
}

/**
 * Projects a [channels, height, width] latent to RGBA bytes (length 4 * height * width).
 * @param {Float32Array} latent
 */
export function latentToRgba(latent, channels, height, width) {
  const plane = height * width;
  const rgba = new Uint8ClampedArray(plane * 4);
  if (channels === 4) {
    for (let p = 0; p < plane; p++) {
      for (let r = 0; r < 3; r++) {
        const w = SD_WEIGHTS[r];
        let v = SD_BIAS[r];
        for (let c = 0; c < 4; c++) v += w[c] * latent[c * plane + p];
        rgba[4 * p + r] = v;
      }
      rgba[4 * p + 3] = 255;
    }
    return rgba;
  }
  const shown = Math.min(3, channels);
  for (let c = 0; c < 3; c++) {
    const src = Math.min(c, shown - 1);
    let mean = 0;
    let sq = 0;
    for (let p = 0; p < plane; p++) {
      const v = latent[src * plane + p];
      mean += v;
      sq += v * v;
    }
    mean /= plane;
    const std = Math.sqrt(Math.max(sq / plane - mean * mean, 1e-12));
    for (let p = 0; p < plane; p++) {
      rgba[4 * p + c] = 128 + 50 * ((latent[src * plane + p] - mean) / std);
    }
  }
  for (let p = 0; p < plane; p++) rgba[4 * p + 3] = 255;
  return rgba;
}

/** Renders a latent preview frame (header from the stream, raw payload) to a PNG Blob. */
export function renderLatent(header, payload) {
  const { channels, width, height } = header;
  if (header.dtype && header.dtype !== 'float16') {
    return Promise.reject(new Error(`unsupported latent dtype ${header.dtype}`));
  }
  if (payload.byteLength < channels * width * height * 2) {
    return Promise.reject(new Error('latent payload is shorter than its header says'));
  }
  const latent = decodeFp16(payload, header.byte_order !== 'big');
  const rgba = latentToRgba(latent, channels, height, width);
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d').putImageData(new ImageData(rgba, width, height), 0, 0);
  return new Promise((resolve, reject) => canvas.toBlob(
    (blob) => (blob ? resolve(blob) : reject(new Error('canvas could not encode the preview'))), 'image/png'));
}
