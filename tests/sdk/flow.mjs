// External-client compatibility check: drive jules-fake with the official
// TypeScript SDK (@google/jules-sdk), using its public API as its README shows.
//
//   JULES_API_URL  root of the fake, e.g. http://127.0.0.1:8787 (required)
//   JULES_API_KEY  API key sent as X-Goog-Api-Key (default "fake-key")
//   FLOW_TIMEOUT_MS  overall deadline (default 60000)
//
// Each step prints one line; success ends with exactly "sdk flow: ok" (exit 0),
// any failure prints the error and exits 1. See NOTES.md for what the SDK needs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REPO = 'octo-org/octo-repo';
const SOURCE_NAME = `sources/github/${REPO}`;
const TIMEOUT_MS = Number(process.env.FLOW_TIMEOUT_MS || 60000);

const apiUrl = (process.env.JULES_API_URL || '').replace(/\/+$/, '');
const apiKey = process.env.JULES_API_KEY || 'fake-key';

// The SDK caches sessions and activities on disk under $JULES_HOME/.jules/cache
// (else under the cwd when it holds a package.json, else $HOME). The fake
// restarts with fresh state and may reuse session ids, so a stale cache would
// poison the stream: give every run its own empty cache directory. The default
// storage reads JULES_HOME when the SDK module is loaded, hence the dynamic import.
const cacheHome = mkdtempSync(join(tmpdir(), 'jules-sdk-flow-'));
process.env.JULES_HOME = cacheHome;

let step = 'start';
function cleanup() {
  try {
    rmSync(cacheHome, { recursive: true, force: true });
  } catch {
    // best effort
  }
}
function fail(err) {
  console.log(`sdk flow: FAILED at step "${step}"`);
  console.log(describe(err));
  cleanup();
  process.exit(1);
}
function describe(err) {
  if (!(err instanceof Error)) return `error: ${String(err)}`;
  let text = `${err.name}: ${err.message}`;
  if (err.status !== undefined) text += `\n  status: ${err.status} ${err.statusText ?? ''}`;
  if (err.url) text += `\n  url: ${err.url}`;
  for (let cause = err.cause, depth = 0; cause && depth < 3; cause = cause.cause, depth++) {
    text += `\n  cause: ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`;
  }
  if (process.env.FLOW_DEBUG && err.stack) text += `\n${err.stack}`;
  return text;
}

const deadline = setTimeout(() => {
  fail(new Error(`overall timeout: flow did not finish within ${TIMEOUT_MS} ms`));
}, TIMEOUT_MS);
process.on('unhandledRejection', fail);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Right after create, activities.list may answer 404 for a few seconds (API
// contract). session.stream() does not retry that itself (only jules.run()'s
// stream does), so retry the whole stream on a 404, with back-off.
async function streamUntil(session, JulesApiError, wanted, seen) {
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const activity of session.stream()) {
        seen.push(activity.type);
        if (activity.type === wanted) return activity;
        if (activity.type === 'sessionFailed') {
          throw new Error(`session failed before ${wanted}: ${activity.reason ?? '(no reason)'}`);
        }
      }
      throw new Error(`activity stream ended before ${wanted}`);
    } catch (err) {
      if (err instanceof JulesApiError && err.status === 404 && attempt < 8) {
        console.log(`  (activities not found yet, retry ${attempt} in ${delay} ms)`);
        await sleep(delay);
        delay = Math.min(delay * 2, 3000);
        continue;
      }
      throw err;
    }
  }
}

async function main() {
  if (!apiUrl) throw new Error('JULES_API_URL is not set (the fake root, e.g. http://127.0.0.1:8787)');
  const { jules, JulesApiError } = await import('@google/jules-sdk');

  const client = jules.with({
    apiKey,
    baseUrl: `${apiUrl}/v1alpha`,
    config: {
      pollingIntervalMs: 100,
      requestTimeoutMs: 10000,
      // Keep 429/5xx retries short so a failing fake surfaces its error
      // before the overall deadline (SDK default is 5 minutes).
      rateLimitRetry: { maxRetryTimeMs: 5000, baseDelayMs: 200, maxDelayMs: 1000 },
    },
  });

  step = 'list sources';
  const sources = [];
  for await (const source of client.sources()) sources.push(source);
  const names = sources.map((s) => s.name);
  if (!names.includes(SOURCE_NAME)) {
    throw new Error(`sources list lacks ${SOURCE_NAME}; got: ${JSON.stringify(names)}`);
  }
  const repo = sources.find((s) => s.name === SOURCE_NAME);
  console.log(
    `sources: ${sources.length} listed, ${SOURCE_NAME} found ` +
      `(owner=${repo.githubRepo.owner} repo=${repo.githubRepo.repo} defaultBranch=${repo.githubRepo.defaultBranch ?? '-'})`,
  );

  step = 'create session';
  const session = await client.session({
    prompt: 'Add a CONTRIBUTING.md that explains how to run the tests.',
    title: 'sdk flow check',
    source: { github: REPO, baseBranch: 'main' },
    requireApproval: true,
    autoPr: true,
  });
  if (!/^\d+$/.test(session.id)) throw new Error(`unexpected session id ${JSON.stringify(session.id)}`);
  console.log(`session created: sessions/${session.id}`);

  step = 'stream activities until planGenerated';
  const seen = [];
  const planActivity = await streamUntil(session, JulesApiError, 'planGenerated', seen);
  const steps = planActivity.plan?.steps ?? [];
  if (!planActivity.plan?.id || steps.length === 0) {
    throw new Error(`planGenerated without plan id or steps: ${JSON.stringify(planActivity.plan)}`);
  }
  console.log(`plan generated: ${steps.length} steps (plan ${planActivity.plan.id}; stream saw ${seen.join(', ')})`);

  step = 'approve plan';
  await session.waitFor('awaitingPlanApproval', { timeoutMs: 15000 });
  const before = await session.info();
  if (before.state !== 'awaitingPlanApproval') {
    throw new Error(`expected state awaitingPlanApproval before approve, got ${before.state}`);
  }
  await session.approve();
  console.log('plan approved');

  step = 'send message';
  await session.send('Please also mention the lint command.');
  console.log('message sent');

  step = 'wait for result';
  const outcome = await session.result({ timeoutMs: 30000 });
  if (outcome.state !== 'completed') throw new Error(`outcome state ${outcome.state}`);
  if (!outcome.pullRequest?.url) {
    throw new Error(`completed without a pull request output: outputs=${JSON.stringify(outcome.outputs)}`);
  }
  console.log(`result: completed, pull request ${outcome.pullRequest.url}`);

  // The local cache now holds the activities up to planGenerated, so this
  // sync asks only for newer ones with filter create_time>"<last createTime>".
  step = 'activity history';
  const history = [];
  for await (const activity of session.history()) history.push(activity);
  const types = new Set(history.map((a) => a.type));
  const missing = ['planGenerated', 'planApproved', 'userMessaged', 'sessionCompleted'].filter((t) => !types.has(t));
  if (missing.length > 0) {
    throw new Error(`history lacks ${missing.join(', ')}; got: ${history.map((a) => a.type).join(', ')}`);
  }
  console.log(`history: ${history.length} activities (${[...types].join(', ')})`);

  step = 'archive session';
  await session.archive();
  const archived = await client.sessions({ filter: 'archived = true', pageSize: 100 }).all();
  if (!archived.some((s) => s.id === session.id)) {
    throw new Error(`archived session not listed by sessions.list filter "archived = true"`);
  }
  const visible = await client.sessions({ pageSize: 100 }).all();
  if (visible.some((s) => s.id === session.id)) {
    throw new Error('archived session still listed by sessions.list without filter');
  }
  console.log('session archived (listed only with archived = true)');

  step = 'done';
}

main().then(
  () => {
    clearTimeout(deadline);
    cleanup();
    console.log('sdk flow: ok');
    process.exit(0);
  },
  fail,
);
