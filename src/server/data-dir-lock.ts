import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface DataDirLock {
  release(): Promise<void>;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Whether the process named in the file still runs a server. PIDs are reused (after a reboot, or
 * in a new container, where the old number may now be the init process): where /proc tells the
 * command line, only a Node.js process counts.
 */
async function holdsLock(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  return cmdline === undefined || /node|querstrom/.test(cmdline);
}

/**
 * One server per data directory: the WAL, the store and the device metadata have one writer
 * each. A PID file (as mosquitto's pid_file), created exclusively. A file whose process is gone
 * (a crash, kill -9) is taken over at once, so a restart after a crash never waits for a lock to
 * expire, as it would with a lock that is kept fresh by a timer. A file naming this process is
 * taken over too: tests restart servers in one process.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const file = join(dir, 'querstrom.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return {
        release: async () => {
          const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
          if (holder === process.pid) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && (await holdsLock(holder))) {
        throw new Error(`data directory ${dir} is in use by another querstrom process (PID ${holder}); stop it, or give this one another data directory (dataDir in the config, or serve --data-dir)`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`could not create ${file}: another process keeps replacing it`);
}
