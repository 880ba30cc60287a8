// worklet.js - AudioWorklet processor for the asrd page: mixes the microphone to mono, resamples
// it to the server's rate with a windowed-sinc low-pass (so speech above the new Nyquist does not
// alias into the band the model hears), encodes PCM16LE and posts ~100 ms chunks to the page,
// together with the input level (RMS and peak, dBFS) about 20 times a second.
//
// Runs on the audio rendering thread: no allocation in the steady state beyond the posted chunk.

const TAPS_HALF = 16; // sinc lobes on each side of a output sample (32-tap filter)

class PcmEncoder extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.inRate = sampleRate; // AudioWorkletGlobalScope's rate
    this.outRate = o.outRate || 16000;
    this.chunk = Math.round(this.outRate * (o.chunkSeconds || 0.1));
    this.step = this.inRate / this.outRate; // input samples per output sample
    // Low-pass cutoff as a fraction of the input rate: just under the output's Nyquist.
    this.cutoff = Math.min(0.5, 0.5 / this.step) * 0.92;
    this.identity = this.inRate === this.outRate;
    // History of input samples not yet behind every future output window.
    this.hist = new Float32Array(1 << 16);
    this.histLen = 0;    // valid samples in hist
    this.histStart = 0;  // absolute index of hist[0]
    this.nextOut = 0;    // absolute (fractional) input position of the next output sample
    this.out = new Int16Array(this.chunk);
    this.outLen = 0;
    this.levelEvery = Math.round(this.inRate / 20);
    this.levelCount = 0;
    this.sumSq = 0;
    this.peak = 0;
    this.running = true;
    // The kernel tabulated at 1/64-sample resolution (sin/cos per tap would be too slow here);
    // it reaches w input samples to each side of an output instant.
    this.w = Math.ceil(TAPS_HALF * Math.max(1, this.step));
    this.res = 64;
    this.table = new Float32Array(2 * this.w * this.res + 1); // index (d + w) * res, |d| < w
    for (let i = 0; i < this.table.length; i++) this.table[i] = this.kernel(i / this.res - this.w);
    this.port.onmessage = (e) => {
      if (e.data && e.data.cmd === 'flush') {
        this.flush();
        this.port.postMessage({ type: 'flushed' });
      } else if (e.data && e.data.cmd === 'stop') {
        this.running = false;
      }
    };
  }

  // Blackman-windowed sinc at distance d (input samples) from the output instant.
  kernel(d) {
    const w = this.w;
    if (d <= -w || d >= w) return 0;
    const x = 2 * this.cutoff * d;
    const s = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
    const t = (d + w) / (2 * w);
    const win = 0.42 - 0.5 * Math.cos(2 * Math.PI * t) + 0.08 * Math.cos(4 * Math.PI * t);
    return 2 * this.cutoff * s * win;
  }

  emit(v) {
    // Float [-1, 1] -> int16 with clipping.
    let s = Math.round(v * 32768);
    if (s > 32767) s = 32767;
    else if (s < -32768) s = -32768;
    this.out[this.outLen++] = s;
    if (this.outLen === this.chunk) this.post();
  }

  post() {
    if (!this.outLen) return;
    const buf = this.out.slice(0, this.outLen).buffer;
    this.port.postMessage({ type: 'pcm', buf }, [buf]);
    this.outLen = 0;
  }

  // Produces every output sample whose filter window is fully inside the history.
  drain(final) {
    const w = this.w;
    const end = this.histStart + this.histLen;
    while (final ? this.nextOut < end : this.nextOut + w < end) {
      const c = this.nextOut;
      let acc = 0;
      const k0 = Math.max(this.histStart, Math.floor(c - w) + 1);
      const k1 = Math.min(end - 1, Math.ceil(c + w) - 1);
      const tab = this.table, res = this.res, off = this.w * res;
      for (let k = k0; k <= k1; k++)
        acc += this.hist[k - this.histStart] * tab[Math.round((c - k) * res + off)];
      this.emit(acc);
      this.nextOut += this.step;
    }
    // Drop history no later output sample can reach.
    const keepFrom = Math.max(this.histStart, Math.floor(this.nextOut - w) - 1);
    const drop = keepFrom - this.histStart;
    if (drop > 0) {
      this.hist.copyWithin(0, drop, this.histLen);
      this.histLen -= drop;
      this.histStart += drop;
    }
  }

  flush() {
    if (!this.identity) this.drain(true);
    this.post();
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    const n = input[0].length;
    const chans = input.length;
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let c = 0; c < chans; c++) v += input[c][i];
      v /= chans;
      const a = Math.abs(v);
      this.sumSq += v * v;
      if (a > this.peak) this.peak = a;
      if (this.identity) {
        this.emit(v);
      } else {
        if (this.histLen === this.hist.length) this.drain(false);
        this.hist[this.histLen++] = v;
      }
    }
    if (!this.identity) this.drain(false);
    this.levelCount += n;
    if (this.levelCount >= this.levelEvery) {
      const rms = Math.sqrt(this.sumSq / this.levelCount);
      this.port.postMessage({ type: 'level', rms, peak: this.peak });
      this.levelCount = 0;
      this.sumSq = 0;
      this.peak = 0;
    }
    return true;
  }
}

registerProcessor('asrd-pcm-encoder', PcmEncoder);
