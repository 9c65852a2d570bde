/**
 * The Node flags a serving process runs with. They are in the first line of the `flowserve` and
 * `tensorflow_model_server` scripts (`#!/usr/bin/env -S node …`), since V8 reads them only as the process starts.
 *
 * `--no-memory-reducer`: V8's memory reducer, seconds after a process's allocation rate falls, compacts its heap and
 * then grows the old generation slowly until the heap's committed memory has grown by some 10 MB. A server's heap
 * under a steady load stays within that, so a server that idled after it started and was then loaded ran a full
 * (mark-compact) collection every few scavenges for as long as the load lasted: after 90 s idle, 117 of them in 32 s
 * at 64 streams on one connection against 4 with this flag, at 0.74× the flagged server's requests a second
 * (`bench/gc-pauses.ts --idle 90`; docs/performance.md, "Round 25"). Setting the flag at run time
 * (`v8.setFlagsFromString`) did not help. TF Serving keeps its memory while idle; so does flowserve.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];

/**
 * A line for stderr when this process lacks a flag of SERVER_NODE_FLAGS (it was started as `node …/main.js serve`,
 * not through its script), undefined when it has them all.
 */
export function missingNodeFlagsNotice(execArgv: readonly string[] = process.execArgv): string | undefined {
  const missing = SERVER_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
  if (missing.length === 0) return undefined;
  return (
    `note: node runs this server without ${missing.join(' ')} (the flowserve command's own flags): after an idle ` +
    `spell, V8 may then run a full collection every few scavenges under load; start it as ` +
    `\`node ${SERVER_NODE_FLAGS.join(' ')} …\` or through the flowserve command`
  );
}
