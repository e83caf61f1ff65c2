import { readFile } from 'node:fs/promises';

const TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux
const SAMPLE_MS = 100;

/**
 * CPU and memory of a registry process on this machine (--server-pid), from /proc: user +
 * system seconds of all its threads, and its peak resident set while a scenario runs (sampled
 * every 100 ms: VmHWM is the peak since the process started, which a long-lived server has long
 * since set).
 */
export class ServerSampler {
  private timer: NodeJS.Timeout | undefined;
  private peakKiB = 0;
  private startCpu = 0;

  constructor(readonly pid: number) {}

  static async check(pid: number): Promise<ServerSampler> {
    const sampler = new ServerSampler(pid);
    await sampler.cpuSeconds().catch(() => {
      throw new Error(`--server-pid ${pid}: no such process on this machine (/proc/${pid}/stat)`);
    });
    return sampler;
  }

  async start(): Promise<void> {
    this.startCpu = await this.cpuSeconds();
    this.peakKiB = await this.rssKiB();
    this.timer = setInterval(() => {
      this.rssKiB().then(
        (kib) => (this.peakKiB = Math.max(this.peakKiB, kib)),
        () => undefined,
      );
    }, SAMPLE_MS);
    this.timer.unref();
  }

  /** CPU seconds since start() and the peak RSS in MiB. */
  async stop(): Promise<{ cpuSeconds: number; peakRssMiB: number }> {
    clearInterval(this.timer);
    const cpu = (await this.cpuSeconds()) - this.startCpu;
    this.peakKiB = Math.max(this.peakKiB, await this.rssKiB());
    return { cpuSeconds: cpu, peakRssMiB: this.peakKiB / 1024 };
  }

  async cpuSeconds(): Promise<number> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  }

  private async rssKiB(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  }
}
