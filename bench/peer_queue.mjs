// The peer queue of scenario 8: graphile-worker, out of the box, draining no-op jobs.
//
//   node bench/peer_queue.mjs <connection string> <jobs> <concurrency> [schema]
//
// Installs graphile-worker's schema (not timed), enqueues <jobs> jobs of the task "noop" in one
// call (not timed), then starts a runner with <concurrency> concurrent jobs and times it from the
// start of run() to the moment the last job succeeded. Prints one JSON line on stdout:
// {jobs, concurrency, seconds, jobs_per_s, max_rss_kb, version}. Progress goes to stderr.

import { createRequire } from "node:module";
import { makeWorkerUtils, run, runMigrations } from "graphile-worker";

const [connectionString, jobsArg, concurrencyArg, schemaArg] = process.argv.slice(2);
if (!connectionString || !jobsArg || !concurrencyArg) {
  console.error("usage: node peer_queue.mjs <connection string> <jobs> <concurrency> [schema]");
  process.exit(2);
}
const jobs = Number.parseInt(jobsArg, 10);
const concurrency = Number.parseInt(concurrencyArg, 10);
const schema = schemaArg || "graphile_worker";
const version = createRequire(import.meta.url)("graphile-worker/package.json").version;

// Quiet logger: warnings and errors only, on stderr.
const logFactory = () => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
};
const { Logger } = await import("graphile-worker");
const logger = new Logger(logFactory);

await runMigrations({ connectionString, schema, logger });
const utils = await makeWorkerUtils({ connectionString, schema, logger });
try {
  await utils.withPgClient((client) => client.query(`delete from ${schema}._private_jobs`));
  const specs = Array.from({ length: jobs }, (_, i) => ({ identifier: "noop", payload: { n: i } }));
  for (let i = 0; i < specs.length; i += 1000) {
    await utils.addJobs(specs.slice(i, i + 1000));
  }
} finally {
  await utils.release();
}

let done = 0;
let failed = 0;
let finish;
const finished = new Promise((resolve) => {
  finish = resolve;
});
const started = process.hrtime.bigint();
let ended = started;
const runner = await run({
  connectionString,
  schema,
  logger,
  concurrency,
  noHandleSignals: true,
  pollInterval: 1000,
  taskList: {
    noop: async () => {},
  },
});
runner.events.on("job:success", () => {
  done += 1;
  if (done + failed === jobs) {
    ended = process.hrtime.bigint();
    finish();
  }
});
runner.events.on("job:failed", () => {
  failed += 1;
  if (done + failed === jobs) {
    ended = process.hrtime.bigint();
    finish();
  }
});
const timeout = setTimeout(() => finish(), 600_000);
await finished;
clearTimeout(timeout);
await runner.stop();
const seconds = Number(ended - started) / 1e9;
console.log(
  JSON.stringify({
    jobs,
    done,
    failed,
    concurrency,
    seconds,
    jobs_per_s: done / seconds,
    max_rss_kb: process.resourceUsage().maxRSS,
    version,
  }),
);
