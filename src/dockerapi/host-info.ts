import { cpus, hostname, release, totalmem, arch } from 'node:os';
import { readFile } from 'node:fs/promises';

/** Facts about the machine for /version and /info, read once at start-up. */
export interface HostInfo {
  hostname: string;
  kernelVersion: string;
  operatingSystem: string;
  osVersion: string;
  ncpu: number;
  memTotal: number;
  /** Docker's names: x86_64 in /info, amd64 in /version. */
  architecture: string;
  goArch: string;
  cgroupVersion: '1' | '2';
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };
const UNAME_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', arm: 'armv7l', ia32: 'i686', ppc64: 'ppc64le', s390x: 's390x' };

export async function readHostInfo(): Promise<HostInfo> {
  const osRelease = await readFile('/etc/os-release', 'utf8').catch(() => '');
  const field = (k: string) => new RegExp(`^${k}="?([^"\\n]*)"?$`, 'm').exec(osRelease)?.[1] ?? '';
  const cgroupV2Only = await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8').then(
    () => true,
    () => false,
  );
  return {
    hostname: hostname(),
    kernelVersion: release(),
    operatingSystem: field('PRETTY_NAME') || 'Linux',
    osVersion: field('VERSION_ID'),
    ncpu: cpus().length,
    memTotal: totalmem(),
    architecture: UNAME_ARCH[arch()] ?? arch(),
    goArch: GOARCH[arch()] ?? arch(),
    cgroupVersion: cgroupV2Only ? '2' : '1',
  };
}
