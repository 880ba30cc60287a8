// ws_client.mjs - a Vosk-style WebSocket client in Node (npm `ws`, installed into build/node_modules
// at test time):
//
//   node tests/ws_client.mjs URL FILE.wav [--chunk BYTES] [--rate HZ] [--json]
//
// Reads a 16-bit PCM WAV (any rate, mono or multi-channel: mixed to mono here), sends
// {"config": {"sample_rate": R}}, the PCM in binary chunks of BYTES (default 8000; odd sizes split
// samples across messages on purpose), then {"eof" : 1}, and waits for the final result and the
// close.  Prints the transcript (the "text" of every final result joined by spaces); with --json,
// one line {"text", "results", "partials", "close"}.  Exit status 1 on a connection error or an
// abnormal close.
import { createRequire } from 'module';
import fs from 'fs';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../build/node_modules/'));
const WebSocket = require('ws');

const args = process.argv.slice(2);
let url = null, file = null, chunk = 8000, rateOverride = 0, asJson = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--chunk') chunk = parseInt(args[++i], 10);
  else if (args[i] === '--rate') rateOverride = parseInt(args[++i], 10);
  else if (args[i] === '--json') asJson = true;
  else if (!url) url = args[i];
  else file = args[i];
}
if (!url || !file || !(chunk > 0)) {
  console.error('usage: node tests/ws_client.mjs URL FILE.wav [--chunk BYTES] [--rate HZ] [--json]');
  process.exit(2);
}

// Minimal RIFF/WAVE reader: finds "fmt " and "data", accepts 16-bit integer PCM only.
function readWav(p) {
  const b = fs.readFileSync(p);
  if (b.toString('ascii', 0, 4) !== 'RIFF' || b.toString('ascii', 8, 12) !== 'WAVE')
    throw new Error(`${p}: not a RIFF/WAVE file`);
  let off = 12, fmt = null, data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4), size = b.readUInt32LE(off + 4);
    const body = b.subarray(off + 8, Math.min(b.length, off + 8 + size));
    if (id === 'fmt ') fmt = { format: body.readUInt16LE(0), channels: body.readUInt16LE(2),
                               rate: body.readUInt32LE(4), bits: body.readUInt16LE(14) };
    else if (id === 'data') data = body;
    off += 8 + size + (size & 1);
  }
  if (!fmt || !data) throw new Error(`${p}: no fmt or data chunk`);
  if (fmt.bits !== 16 || (fmt.format !== 1 && fmt.format !== 0xfffe))
    throw new Error(`${p}: need 16-bit PCM (got format ${fmt.format}, ${fmt.bits} bits)`);
  let pcm = data.subarray(0, data.length - (data.length % (2 * fmt.channels)));
  if (fmt.channels > 1) {
    const n = pcm.length / (2 * fmt.channels), mono = Buffer.alloc(2 * n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let c = 0; c < fmt.channels; c++) s += pcm.readInt16LE(2 * (i * fmt.channels + c));
      mono.writeInt16LE(Math.round(s / fmt.channels), 2 * i);
    }
    pcm = mono;
  }
  return { rate: fmt.rate, pcm };
}

let wav;
try {
  wav = readWav(file);
} catch (e) {
  console.error('ws_client: ' + e.message);
  process.exit(1);
}
const rate = rateOverride || wav.rate;
const results = [], partials = [];
let closeCode = null;
const ws = new WebSocket(url);
ws.on('open', () => {
  ws.send(JSON.stringify({ config: { sample_rate: rate } }));
  for (let i = 0; i < wav.pcm.length; i += chunk) ws.send(wav.pcm.subarray(i, Math.min(wav.pcm.length, i + chunk)));
  ws.send('{"eof" : 1}');
});
ws.on('message', (data, isBinary) => {
  if (isBinary) return;
  let m;
  try {
    m = JSON.parse(data.toString());
  } catch (e) {
    return;
  }
  if (typeof m.partial === 'string') partials.push(m.partial);
  else if (typeof m.text === 'string') results.push(m);
  else if (m.error) console.error('server error: ' + m.error);
});
ws.on('error', (e) => {
  console.error('ws_client: ' + e.message);
  process.exit(1);
});
ws.on('close', (code) => {
  closeCode = code;
  const text = results.map((r) => r.text).filter((t) => t).join(' ');
  if (asJson) console.log(JSON.stringify({ text, results, partials, close: code }));
  else console.log(text);
  process.exit(code === 1000 ? 0 : 1);
});
