// Linux /proc readers for the benchmark: resident memory of the server, CPU time of each party
// (server event loop, server other threads, PostgreSQL, the load generator, everything else on the
// machine). Every reader returns undefined where /proc is not available, and the report says so.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;
/** USER_HZ: the unit of the CPU times in /proc (100 on every usual Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** VmRSS of a process, in bytes. */
export function rssOf(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

interface Stat {
  ppid: number;
  comm: string;
  /** utime + stime, in seconds. */
  cpu: number;
}

/** Fields of /proc/…/stat; comm may hold spaces and parentheses, so split after its last ')'. */
function readStat(file: string): Stat | undefined {
  try {
    const text = readFileSync(file, 'utf8');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const rest = text.slice(close + 2).split(' ');
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return {
      comm: text.slice(open + 1, close),
      ppid: Number(rest[1]),
      cpu: (Number(rest[11]) + Number(rest[12])) / ticksPerSecond(),
    };
  } catch {
    return undefined;
  }
}

/** CPU seconds of a whole process (all threads). */
export function processCpu(pid: number): number | undefined {
  return readStat(`/proc/${pid}/stat`)?.cpu;
}

/** CPU seconds of one thread (the main thread of a Node process has tid = pid: the event loop). */
export function threadCpu(pid: number, tid: number): number | undefined {
  return readStat(`/proc/${pid}/task/${tid}/stat`)?.cpu;
}

/**
 * CPU seconds of the PostgreSQL cluster this process started: the `postgres` child of this process
 * and all of its children (backends, checkpointer, walwriter…). Other clusters on the machine (other
 * test runs) are not counted. Undefined when the cluster is external.
 */
export function postgresCpu(parentPid: number): number | undefined {
  let pids: number[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return undefined;
  }
  const stats = new Map<number, Stat>();
  for (const pid of pids) {
    const stat = readStat(`/proc/${pid}/stat`);
    if (stat) stats.set(pid, stat);
  }
  const postmasters = [...stats].filter(([, s]) => s.ppid === parentPid && s.comm === 'postgres').map(([pid]) => pid);
  if (postmasters.length === 0) return undefined;
  const cluster = new Set(postmasters);
  let total = 0;
  for (const [pid, s] of stats) {
    if (cluster.has(pid) || cluster.has(s.ppid)) total += s.cpu;
  }
  // Backends that exited during the phase are lost; the pool keeps its connections, so there are none.
  return total;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat: everything but idle and iowait. */
export function machineBusyCpu(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return undefined;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const busy = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0) + (v[5] ?? 0) + (v[6] ?? 0);
    return busy / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** Steal time of the machine (a virtual machine's vCPU waiting for the host), in CPU seconds. */
export function machineStealCpu(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith('cpu '));
    if (!line) return undefined;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    return (v[7] ?? 0) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

export interface CpuSnapshot {
  at: number;
  serverTotal: number | undefined;
  serverMain: number | undefined;
  postgres: number | undefined;
  loadgen: number;
  machine: number | undefined;
  steal: number | undefined;
}

/**
 * Reading /proc costs this process some CPU (postgresCpu scans every process): a snapshot opening an
 * interval reads this process's own CPU time last, one closing it reads it first, so that the load
 * generator is not charged for the measuring.
 */
export function cpuSnapshot(serverPid: number, edge: 'start' | 'end'): CpuSnapshot {
  const ownCpu = () => {
    const own = process.cpuUsage();
    return (own.user + own.system) / 1e6;
  };
  const early = edge === 'end' ? ownCpu() : undefined;
  const snapshot = {
    at: performance.now(),
    serverTotal: processCpu(serverPid),
    serverMain: threadCpu(serverPid, serverPid),
    postgres: postgresCpu(process.pid),
    machine: machineBusyCpu(),
    steal: machineStealCpu(),
  };
  return { ...snapshot, loadgen: early ?? ownCpu() };
}

/** CPU used between two snapshots, in cores (1.0 = one core busy for the whole interval). */
export interface CpuSplit {
  serverEventLoop: number | undefined;
  serverOtherThreads: number | undefined;
  postgres: number | undefined;
  loadgen: number;
  /** Everything else busy on the machine: other programs, the kernel's own work. */
  others: number | undefined;
  steal: number | undefined;
}

/** CPU used over one or more intervals (start and end snapshots), averaged over their total time. */
export function cpuSplit(intervals: [CpuSnapshot, CpuSnapshot][]): CpuSplit {
  const seconds = intervals.reduce((s, [a, b]) => s + (b.at - a.at) / 1000, 0);
  const per = (pick: (s: CpuSnapshot) => number | undefined) => {
    let total = 0;
    for (const [a, b] of intervals) {
      const x = pick(a);
      const y = pick(b);
      if (x === undefined || y === undefined) return undefined;
      total += y - x;
    }
    return total / seconds;
  };
  const serverTotal = per((s) => s.serverTotal);
  const serverMain = per((s) => s.serverMain);
  const postgres = per((s) => s.postgres);
  const loadgen = per((s) => s.loadgen)!;
  const machine = per((s) => s.machine);
  const ours = (serverTotal ?? 0) + (postgres ?? 0) + loadgen;
  return {
    serverEventLoop: serverMain,
    serverOtherThreads: serverTotal === undefined || serverMain === undefined ? undefined : serverTotal - serverMain,
    postgres,
    loadgen,
    others: machine === undefined ? undefined : Math.max(0, machine - ours),
    steal: per((s) => s.steal),
  };
}
