// worklet_check.mjs - proto/www/worklet.js outside a browser (node tests/worklet_check.mjs): the
// AudioWorklet globals are stubbed, the processor is fed synthetic tones, and its PCM16 output is
// compared with the analytic signal.  Prints "N passed, N failed" (run by tests/e2e_browser.sh).
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = fs.readFileSync(path.join(here, '../proto/www/worklet.js'), 'utf8');
let pass = 0, fail = 0;
const check = (c, msg) => { if (c) pass++; else { fail++; console.log('FAIL: ' + msg); } };

// Instantiates the processor at inRate and runs `x` through it in blocks of `block` frames.
function run(inRate, outRate, x, block) {
  const posted = [];
  let Cls = null;
  const scope = {
    sampleRate: inRate,
    AudioWorkletProcessor: class { constructor() { this.port = { postMessage: (m) => posted.push(m), onmessage: null }; } },
    registerProcessor: (n, c) => { Cls = c; },
  };
  new Function('sampleRate', 'AudioWorkletProcessor', 'registerProcessor', src)(
    scope.sampleRate, scope.AudioWorkletProcessor, scope.registerProcessor);
  const p = new Cls({ processorOptions: { outRate, chunkSeconds: 0.1 } });
  for (let i = 0; i < x.length; i += block) p.process([[x.subarray(i, Math.min(x.length, i + block))]]);
  p.flush();
  const pcm = [], levels = [];
  for (const m of posted) {
    if (m.type === 'pcm') pcm.push(...new Int16Array(m.buf));
    else if (m.type === 'level') levels.push(m);
  }
  return { pcm: Int16Array.from(pcm), levels };
}

const tone = (rate, f, amp, secs) => {
  const n = Math.round(rate * secs), x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amp * Math.sin(2 * Math.PI * f * i / rate);
  return x;
};

for (const inRate of [48000, 44100, 22050]) {
  const x = tone(inRate, 1000, 0.5, 1.0);
  const { pcm, levels } = run(inRate, 16000, x, 128);
  const expectN = Math.round(16000 * 1.0);
  check(Math.abs(pcm.length - expectN) <= 2, `${inRate}: ${pcm.length} samples for 1 s (want ~${expectN})`);
  // Output sample n is the band-limited input at t = n / 16000: compare away from the edges.
  let maxErr = 0;
  for (let n = 200; n < pcm.length - 200; n++) {
    const want = 0.5 * 32768 * Math.sin(2 * Math.PI * 1000 * n / 16000);
    maxErr = Math.max(maxErr, Math.abs(pcm[n] - want));
  }
  check(maxErr < 0.01 * 16384, `${inRate}->16000: 1 kHz tone off by ${maxErr.toFixed(1)} (of 16384)`);
  const rms = levels.length ? levels[levels.length - 2].rms : 0;
  check(Math.abs(rms - 0.5 / Math.SQRT2) < 0.01, `${inRate}: level rms ${rms} (want 0.354)`);
  // A tone above the new Nyquist must not alias into the output.
  if (inRate >= 44100) {
    const hi = run(inRate, 16000, tone(inRate, 12000, 0.5, 1.0), 128).pcm;
    let e = 0;
    for (let n = 200; n < hi.length - 200; n++) e += hi[n] * hi[n];
    const r = Math.sqrt(e / (hi.length - 400)) / (0.5 * 32768 / Math.SQRT2);
    check(r < 0.01, `${inRate}: 12 kHz tone leaks ${(20 * Math.log10(r)).toFixed(1)} dB (want < -40)`);
  }
  // Chunking does not change the output (browsers use 128, the check also uses odd sizes).
  const b = run(inRate, 16000, x, 37).pcm;
  check(b.length === pcm.length && b.every((v, i) => v === pcm[i]), `${inRate}: output depends on block size`);
}
// Same rate: an exact copy (float -> int16 with rounding and clipping).
{
  const x = Float32Array.from([0, 0.5, -0.5, 1.0, -1.0, 2.0, 0.25 / 32768]);
  const { pcm } = run(16000, 16000, x, 128);
  const want = [0, 16384, -16384, 32767, -32768, 32767, 0];
  check(pcm.length === want.length && want.every((v, i) => v === pcm[i]), `identity: ${Array.from(pcm)}`);
}
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
