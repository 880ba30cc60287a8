// app.js - the asrd browser page: microphone -> AudioWorklet (mono, resampled to 16 kHz, PCM16LE)
// -> WebSocket (the Vosk protocol of the same host and port) -> partial text as it changes, final
// text as it settles, and a level meter.  No external URLs.
//
// Query options: ?ws=URL (another recognition endpoint), ?rate=HZ (rate sent to the server,
// default 16000), ?autostart=1 (start without a click; a browser may still ask for permission),
// ?record=1 (keep every chunk sent in window.asrd.sent, for tests), ?token=T (auth.token: passed on
// to the WebSocket URL).
'use strict';

(function () {
  const params = new URLSearchParams(location.search);
  const OUT_RATE = parseInt(params.get('rate') || '16000', 10);
  const $ = (id) => document.getElementById(id);
  const ui = {
    start: $('start'), stop: $('stop'), level: $('level'), db: $('db'),
    status: $('status'), final: $('final'), partial: $('partial'), info: $('info'),
  };

  // Observable state (tests read it): state is idle|starting|listening|finishing|closed|error.
  const asrd = (window.asrd = {
    state: 'idle', finals: [], partial: '', sent: [], sentBytes: 0, error: null, closeCode: null,
    contextRate: 0, outRate: OUT_RATE,
  });

  let ctx = null, stream = null, node = null, ws = null, pending = [];

  function setState(s, msg, isError) {
    asrd.state = s;
    ui.status.textContent = msg || s;
    ui.status.classList.toggle('error', !!isError);
    ui.start.disabled = !(s === 'idle' || s === 'closed' || s === 'error');
    ui.stop.disabled = s !== 'listening';
  }

  function wsUrl() {
    if (params.get('ws')) return params.get('ws');
    const u = new URL('asr', location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    u.search = '';
    // A daemon with auth.token serves this page only to ?token=T, and wants it on the WebSocket too.
    if (params.get('token')) u.searchParams.set('token', params.get('token'));
    return u.href;
  }

  function showLevel(rms, peak) {
    const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
    // -60 dBFS .. 0 dBFS across the bar.
    const pct = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
    ui.level.style.width = pct.toFixed(1) + '%';
    ui.db.textContent = isFinite(db) ? db.toFixed(0) + ' dB' : '-∞ dB';
    ui.level.title = 'peak ' + (peak > 0 ? (20 * Math.log10(peak)).toFixed(1) : '-∞') + ' dBFS';
  }

  function renderText() {
    ui.final.textContent = asrd.finals.join(' ') + (asrd.finals.length && asrd.partial ? ' ' : '');
    ui.partial.textContent = asrd.partial;
  }

  function onMessage(ev) {
    let m;
    try {
      m = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (typeof m.partial === 'string') {
      if (m.partial !== asrd.partial) {
        asrd.partial = m.partial;
        renderText();
      }
    } else if (typeof m.text === 'string') {
      // A final result: the utterance has settled.
      if (m.text) asrd.finals.push(m.text);
      asrd.partial = '';
      renderText();
    } else if (m.error) {
      ui.status.textContent = 'server: ' + m.error;
    }
  }

  function sendChunk(buf) {
    if (params.get('record')) asrd.sent.push(buf.slice(0));
    asrd.sentBytes += buf.byteLength;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(buf);
    else pending.push(buf);
  }

  async function start() {
    setState('starting', 'asking for the microphone…');
    asrd.finals = [];
    asrd.partial = '';
    asrd.sent = [];
    asrd.sentBytes = 0;
    renderText();
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
        video: false,
      });
      // The context runs at the device's rate (Firefox refuses to mix rates); the worklet resamples.
      ctx = new AudioContext();
      await ctx.audioWorklet.addModule('worklet.js');
      const src = ctx.createMediaStreamSource(stream);
      node = new AudioWorkletNode(ctx, 'asrd-pcm-encoder', {
        numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
        processorOptions: { outRate: OUT_RATE, chunkSeconds: 0.1 },
      });
      const mute = ctx.createGain();
      mute.gain.value = 0; // keep the graph pulled without playing the microphone back
      src.connect(node).connect(mute).connect(ctx.destination);
      asrd.contextRate = ctx.sampleRate;
      ui.info.textContent = `capturing at ${ctx.sampleRate} Hz, sending ${OUT_RATE} Hz PCM16`;

      pending = [];
      ws = new WebSocket(wsUrl());
      ws.binaryType = 'arraybuffer';
      ws.onopen = () => {
        ws.send(JSON.stringify({ config: { sample_rate: OUT_RATE } }));
        for (const b of pending) ws.send(b);
        pending = [];
        setState('listening', 'listening — speak');
      };
      ws.onmessage = onMessage;
      ws.onerror = () => {
        asrd.error = 'websocket error';
      };
      ws.onclose = (ev) => {
        asrd.closeCode = ev.code;
        teardownAudio();
        if (asrd.partial) { // the server closed without settling it: keep what was heard
          asrd.finals.push(asrd.partial);
          asrd.partial = '';
          renderText();
        }
        const normal = ev.code === 1000 || ev.code === 1001;
        setState(normal ? 'closed' : 'error',
          normal ? 'done' : `connection closed (${ev.code}${ev.reason ? ': ' + ev.reason : ''})`, !normal);
      };
      node.port.onmessage = (e) => {
        const d = e.data;
        if (d.type === 'pcm') sendChunk(d.buf);
        else if (d.type === 'level') showLevel(d.rms, d.peak);
        else if (d.type === 'flushed' && ws && ws.readyState === WebSocket.OPEN)
          ws.send(JSON.stringify({ eof: 1 }));
      };
    } catch (e) {
      asrd.error = String(e && e.message ? e.message : e);
      teardownAudio();
      setState('error', 'cannot start: ' + asrd.error, true);
    }
  }

  // Stop: the worklet flushes its last samples, then {"eof": 1}; the server answers with the final
  // result and closes the connection.
  function stop() {
    if (asrd.state !== 'listening') return;
    setState('finishing', 'finishing…');
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (node) node.port.postMessage({ cmd: 'flush' });
    else if (ws) ws.send(JSON.stringify({ eof: 1 }));
  }

  function teardownAudio() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    if (node) {
      node.port.postMessage({ cmd: 'stop' });
      node.disconnect();
    }
    if (ctx) ctx.close().catch(() => {});
    stream = null;
    node = null;
    ctx = null;
    showLevel(0, 0);
  }

  ui.start.addEventListener('click', start);
  ui.stop.addEventListener('click', stop);
  asrd.start = start;
  asrd.stop = stop;
  setState('idle', 'press Start and allow the microphone');
  if (params.get('autostart')) start();
})();
