// A benchmark child's command loop: the parent sends { id, cmd, args } over IPC, the child
// answers { id, ...result } or { id, error }.

/** Serves `commands` (name → async handler(args)) to the parent, answering through `send`. */
export function serveCommands(commands, send) {
  process.on('message', async message => {
    const handler = commands[message.cmd];
    if (!handler) return send({ id: message.id, error: `unknown command ${message.cmd}` });
    try {
      const result = await handler(message.args ?? {});
      send({ id: message.id, ...result });
    } catch (err) {
      send({ id: message.id, error: String(err?.stack ?? err) });
    }
  });
}
