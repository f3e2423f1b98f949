'use strict';
// Newline-delimited JSON, the wire between the upstream (shared/upstream.mjs) and the DataClient
// (shared/data-client.cjs). Only node: built-ins, so both can use it whatever a sub-project installed.

/** Reads `socket` as UTF-8 and calls `onLine(line)` for every complete line that is not empty. */
exports.readLines = function readLines(socket, onLine) {
  socket.setEncoding('utf8');
  let buffered = '';
  socket.on('data', chunk => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line) onLine(line);
    }
  });
};
