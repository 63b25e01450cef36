import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { DomainError } from '../common/errors/domain-error';
import { type ErrorCode } from '../common/errors/error-code';
import { Boilerplate, type BoilerplateOptions } from '../ingestion/boilerplate';
import { checkFolder, type FolderCheck } from '../ingestion/folder-loader';
import { checkDocument, type PreparationRules } from '../ingestion/source-preparation';

interface CheckRequest {
  srgFolderCheck: true;
  dir: string;
  rules: PreparationRules;
  boilerplate: false | BoilerplateOptions;
}

type CheckReply =
  | { ok: true; total: number; found: Boilerplate['found'] }
  | { ok: false; code?: ErrorCode; message: string; details?: Record<string, unknown> };

/**
 * The folder loader's check pass (checkFolder) in a worker thread, for the load command: the check reads, parses
 * and checks every file (about a second per 3,000 files) while the main thread loads its modules, opens the
 * database and loads the tokenizer (another second), on the other core. Same function, same errors: a bad file's
 * DomainError comes back with its code, message and details. Compiled code only (the worker loads this file's .js).
 */
export function checkFolderInWorker(
  dir: string,
  rules: PreparationRules,
  boilerplate: false | BoilerplateOptions,
): Promise<FolderCheck> {
  const request: CheckRequest = { srgFolderCheck: true, dir, rules, boilerplate };
  return new Promise<FolderCheck>((resolve, reject) => {
    const worker = new Worker(__filename, { workerData: request });
    worker.once('message', (reply: CheckReply) => {
      if (reply.ok) resolve({ total: reply.total, boilerplate: new Boilerplate(reply.found) });
      else if (reply.code !== undefined) reject(new DomainError(reply.code, reply.message, reply.details));
      else reject(new Error(reply.message));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the check pass's worker exited with ${code}`)));
  });
}

if (!isMainThread && (workerData as Partial<CheckRequest> | null)?.srgFolderCheck === true) {
  const { dir, rules, boilerplate } = workerData as CheckRequest;
  const reply = (message: CheckReply): void => parentPort!.postMessage(message);
  checkFolder(dir, (command) => checkDocument(rules, command), boilerplate).then(
    (r) => reply({ ok: true, total: r.total, found: r.boilerplate.found }),
    (err: unknown) =>
      reply(
        err instanceof DomainError
          ? { ok: false, code: err.code, message: err.message, details: err.details }
          : { ok: false, message: err instanceof Error ? err.message : String(err) },
      ),
  );
}
