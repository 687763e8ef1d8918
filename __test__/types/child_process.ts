// Code written for node:child_process, with only the import changed (types.test.js also checks
// it against node:child_process itself).
import { exec, execFile, execFileSync, execSync, fork, spawn, spawnSync, ChildProcess } from 'native-cluster/child_process';
import type { ExecException, ForkOptions, SpawnOptions, SpawnSyncReturns } from 'native-cluster/child_process';
import * as cp from 'native-cluster/child_process';
import { promisify } from 'node:util';

exec('ls -l', (error: ExecException | null, stdout, stderr) => {
  const out: string = stdout;
  const err: string = stderr;
  if (error) console.error(error.code, error.signal, error.cmd, out, err);
});
exec('ls', { encoding: 'buffer' }, (error, stdout: Buffer) => stdout.length);
execFile('node', ['--version'], (error, stdout) => stdout.trim());

const text: string = execSync('echo hi', { encoding: 'utf8' });
const bytes: Buffer = execSync('echo hi');
const version: string = execFileSync('node', ['--version'], { encoding: 'utf8' });

async function promised(): Promise<string> {
  const execAsync = promisify(exec);
  const { stdout, stderr } = await execAsync('ls');
  const viaFile = await promisify(execFile)('node', ['--version']);
  const pending = execAsync('true');
  const child: ChildProcess = pending.child;
  return stdout + stderr + viaFile.stdout + child.pid;
}

const sync = spawnSync('ls', ['-l'], { encoding: 'utf8' });
const listing: string = sync.stdout;
const raw: SpawnSyncReturns<Buffer> = spawnSync('ls');
const status: number | null = raw.status;
raw.stdout.readUInt8(0);

const ls = spawn('ls', ['-l']);
ls.stdout.on('data', (chunk: Buffer) => chunk.length);
ls.stderr.setEncoding('utf8');
ls.on('close', (code: number | null, signal: NodeJS.Signals | null) => console.log(code, signal));

const options: SpawnOptions = { stdio: 'inherit', env: process.env, cwd: '/' };
cp.spawn('true', options).on('exit', (code) => code);

const forkOptions: ForkOptions = { execArgv: [], serialization: 'advanced' };
const worker = fork('./worker.js', ['--flag'], forkOptions);
worker.on('message', (message) => console.log(message));
worker.send({ hello: 'world' }, (err) => err && console.error(err));
worker[Symbol.dispose]();
const killed: boolean = worker.kill('SIGTERM');

export { text, bytes, version, promised, listing, status, killed };
