// « Code à recopier », mode pow: solves the page's proof-of-work challenge by itself (progressive
// enhancement: without this file the form shows a question instead, and the server accepts either).
// The challenge is ALTCHA v2 (altcha-lib on the server): find the counter n such that
// SHA-256(salt ‖ nonce ‖ uint32be(n)), iterated `cost` times, starts with keyPrefix.
(function () {
  'use strict';

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);
  var W = new Int32Array(64);
  var S = new Int32Array(8);
  var IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

  /** One SHA-256 block: W[0..15] hold the block's words (left untouched), S the state (updated). */
  function compress() {
    var i, t1, t2, x, y;
    for (i = 16; i < 64; i++) {
      x = W[i - 15]; y = W[i - 2];
      W[i] = (((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3))
        + W[i - 7] + (((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)) + W[i - 16] | 0;
    }
    var a = S[0], b = S[1], c = S[2], d = S[3], e = S[4], f = S[5], g = S[6], h = S[7];
    for (i = 0; i < 64; i++) {
      t1 = h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7)))
        + ((e & f) ^ (~e & g)) + K[i] + W[i] | 0;
      t2 = (((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10)))
        + ((a & b) ^ (a & c) ^ (b & c)) | 0;
      h = g; g = f; f = e; e = d + t1 | 0; d = c; c = b; b = a; a = t1 + t2 | 0;
    }
    S[0] = S[0] + a | 0; S[1] = S[1] + b | 0; S[2] = S[2] + c | 0; S[3] = S[3] + d | 0;
    S[4] = S[4] + e | 0; S[5] = S[5] + f | 0; S[6] = S[6] + g | 0; S[7] = S[7] + h | 0;
  }

  /** SHA-256 of bytes (any length). Plain JS: no secure context needed. */
  function sha256(bytes) {
    var len = bytes.length;
    var size = ((len + 9 + 63) >> 6) << 6;
    var msg = new Uint8Array(size);
    msg.set(bytes);
    msg[len] = 0x80;
    var bits = len * 8;
    msg[size - 5] = Math.floor(bits / 4294967296) & 255;
    msg[size - 4] = (bits >>> 24) & 255;
    msg[size - 3] = (bits >>> 16) & 255;
    msg[size - 2] = (bits >>> 8) & 255;
    msg[size - 1] = bits & 255;
    S.set(IV);
    for (var off = 0; off < size; off += 64) {
      for (var i = 0; i < 16; i++) {
        var p = off + (i << 2);
        W[i] = (msg[p] << 24) | (msg[p + 1] << 16) | (msg[p + 2] << 8) | msg[p + 3];
      }
      compress();
    }
    var out = new Uint8Array(32);
    for (var j = 0; j < 8; j++) {
      out[j * 4] = (S[j] >>> 24) & 255; out[j * 4 + 1] = (S[j] >>> 16) & 255;
      out[j * 4 + 2] = (S[j] >>> 8) & 255; out[j * 4 + 3] = S[j] & 255;
    }
    return out;
  }

  function hexToBytes(hex) {
    if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) throw new Error('hex');
    var out = new Uint8Array(hex.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }

  function bytesToHex(bytes) {
    var s = '';
    for (var i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return s;
  }

  // Known answer, so that a broken engine falls back to the question instead of sending garbage.
  function selfTest() {
    return bytesToHex(sha256(new Uint8Array([97, 98, 99])))
      === 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
  }

  /** Solves in slices of ~25 ms so the page stays responsive; calls done(solution) or fail(). */
  function solve(challenge, done, fail) {
    var params = challenge && challenge.parameters;
    if (!params || params.algorithm !== 'SHA-256') return fail();
    var salt, nonce, prefix, prefixHex;
    try {
      salt = hexToBytes(params.salt);
      nonce = hexToBytes(params.nonce);
      prefixHex = String(params.keyPrefix).toLowerCase();
      prefix = prefixHex.length % 2 === 0 ? hexToBytes(prefixHex) : null;
    } catch (err) {
      return fail();
    }
    var cost = Math.max(1, params.cost | 0);
    var keyLength = params.keyLength || 32;
    var input = new Uint8Array(salt.length + nonce.length + 4);
    input.set(salt, 0);
    input.set(nonce, salt.length);
    var at = salt.length + nonce.length;
    var counter = 0;
    var started = Date.now();
    function derive(n) {
      input[at] = (n >>> 24) & 255; input[at + 1] = (n >>> 16) & 255;
      input[at + 2] = (n >>> 8) & 255; input[at + 3] = n & 255;
      var key = sha256(input);
      for (var r = 1; r < cost; r++) key = sha256(key);
      return key.subarray(0, keyLength);
    }
    function matches(key) {
      if (prefix) {
        for (var i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
        return true;
      }
      return bytesToHex(key).indexOf(prefixHex) === 0;
    }
    // The usual case (one block, one round, whole-byte prefix): only the counter word changes, and
    // the prefix is compared word by word on the state, with no copy and no allocation.
    var fast = input.length <= 55 && cost === 1 && prefix && prefix.length <= keyLength && prefix.length <= 32;
    var pw = [], pm = [], base = new Int32Array(16);
    if (fast) {
      var block = new Uint8Array(64);
      block.set(input);
      block[input.length] = 0x80;
      block[62] = (input.length * 8 >>> 8) & 255;
      block[63] = input.length * 8 & 255;
      for (var wi = 0; wi < 16; wi++) {
        base[wi] = (block[wi * 4] << 24) | (block[wi * 4 + 1] << 16) | (block[wi * 4 + 2] << 8) | block[wi * 4 + 3];
      }
      for (var bi = 0; bi < prefix.length; bi += 4) {
        var word = 0, mask = 0;
        for (var k = 0; k < 4; k++) {
          word = (word << 8) | (bi + k < prefix.length ? prefix[bi + k] : 0);
          mask = (mask << 8) | (bi + k < prefix.length ? 255 : 0);
        }
        pw.push(word | 0); pm.push(mask | 0);
      }
    }
    var counterWord = at >> 2;
    var useFast = fast && (at & 3) === 0;
    function tryFast(n) {
      W.set(base);
      W[counterWord] = n | 0;
      S.set(IV);
      compress();
      for (var i = 0; i < pw.length; i++) if ((S[i] & pm[i]) !== pw[i]) return false;
      return true;
    }
    function slice() {
      var until = Date.now() + 25;
      while (Date.now() < until) {
        for (var n = 0; n < 1000; n++, counter++) {
          if (useFast ? tryFast(counter) : matches(derive(counter))) {
            var key = derive(counter);
            if (!matches(key)) return fail();
            return done({ counter: counter, derivedKey: bytesToHex(key), time: Date.now() - started });
          }
        }
        if (counter > 0xffffffff - 1000) return fail();
      }
      if (Date.now() - started > 60000) return fail();
      setTimeout(slice, 0);
    }
    setTimeout(slice, 0);
  }

  function setup(box) {
    var form = box.closest('form');
    var proof = box.querySelector('[data-captcha-proof]');
    var status = box.querySelector('[data-captcha-status]');
    var question = box.querySelector('[data-captcha-question]');
    var answer = box.querySelector('#captcha');
    if (!form || !proof || !status || !question) return;
    var ttl = Number(box.getAttribute('data-ttl')) || 600000;
    var url = box.getAttribute('data-challenge-url');
    var keepQuestion = box.hasAttribute('data-keep-question');
    var state = 'working';
    var sending = false;
    var solvedAt = 0;
    var timer = null;

    function say(key) {
      status.className = 'captcha-status captcha-' + state;
      status.textContent = box.getAttribute('data-msg-' + key) || '';
    }

    function failed() {
      state = 'failed';
      proof.value = '';
      question.hidden = false;
      say('failed');
      // A pending submit goes on: the server answers with the question to fill in.
      if (sending) { sending = false; send(); }
    }

    function run(challenge) {
      state = 'working';
      say(sending ? 'waiting' : 'working');
      solve(challenge, function (solution) {
        proof.value = btoa(JSON.stringify({ challenge: challenge, solution: solution }));
        state = 'done';
        solvedAt = Date.now();
        if (!keepQuestion) question.hidden = true;
        say('done');
        // Renew the proof shortly before the challenge expires, for a page left open.
        clearTimeout(timer);
        timer = setTimeout(refresh, Math.max(30000, ttl - 60000));
        if (sending) { sending = false; send(); }
      }, failed);
    }

    function refresh() {
      if (!url || !window.fetch) return failed();
      proof.value = '';
      state = 'working';
      say(sending ? 'waiting' : 'working');
      fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' }, cache: 'no-store' })
        .then(function (res) { if (!res.ok) throw new Error(String(res.status)); return res.json(); })
        .then(function (body) { run(body.challenge); })
        .catch(failed);
    }

    function send() {
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    }

    form.addEventListener('submit', function (event) {
      if (state === 'failed' || (answer && answer.value.trim() !== '')) return;
      if (state === 'done' && Date.now() - solvedAt < ttl - 30000) return;
      // Not solved yet (or stale): wait for the proof, then send by ourselves.
      event.preventDefault();
      sending = true;
      if (state === 'done') refresh(); else say('waiting');
    });

    // Back to a page kept in memory: its proof may have been used already.
    window.addEventListener('pageshow', function (event) { if (event.persisted && state === 'done') refresh(); });

    status.hidden = false;
    if (!keepQuestion) question.hidden = true;
    if (!selfTest()) return failed();
    var challenge;
    try {
      challenge = JSON.parse(box.getAttribute('data-challenge') || 'null');
    } catch (err) {
      challenge = null;
    }
    if (challenge) run(challenge); else refresh();
  }

  function start() {
    var boxes = document.querySelectorAll('[data-captcha="pow"]');
    for (var i = 0; i < boxes.length; i++) setup(boxes[i]);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
