import { link, readFile, rm, writeFile } from 'node:fs/promises';
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

/** The process's start time in clock ticks since boot (/proc/{pid}/stat, field 22); undefined without /proc. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** The PID file's `pid startTime` (startTime absent in files from before it was recorded); pid NaN when unreadable. */
async function readPidFile(file: string): Promise<{ pid: number; startTime: string | undefined }> {
  const [pid, startTime] = (await readFile(file, 'utf8').catch(() => '')).trim().split(' ');
  return { pid: Number.parseInt(pid ?? '', 10), startTime };
}

/**
 * Whether the process named in the file is still the one that wrote it. PIDs are reused (after a
 * reboot, or in a new container, where the old number may now be the init process), so the file
 * also records the process's start time, and a process with that PID but another start time does
 * not hold the lock. Without /proc, any live process with that PID does.
 */
async function holdsLock(pid: number, startTime: string | undefined): Promise<boolean> {
  if (!isAlive(pid)) return false;
  const now = await startTimeOf(pid);
  if (now !== undefined && startTime !== undefined) return now === startTime;
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
      // Written aside, then linked into place: a competing start never reads a half-written file.
      const aside = `${file}.${process.pid}`;
      await writeFile(aside, `${process.pid} ${(await startTimeOf(process.pid)) ?? ''}`.trim() + '\n');
      try {
        await link(aside, file);
      } finally {
        await rm(aside, { force: true });
      }
      return {
        release: async () => {
          if ((await readPidFile(file)).pid === process.pid) await rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const { pid: holder, startTime } = await readPidFile(file);
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && (await holdsLock(holder, startTime))) {
        throw new Error(`data directory ${dir} is in use by another querstrom process (PID ${holder}); stop it, or give this one another data directory (dataDir in the config, or serve --data-dir)`);
      }
      await rm(file, { force: true });
    }
  }
  throw new Error(`could not create ${file}: another process keeps replacing it`);
}
