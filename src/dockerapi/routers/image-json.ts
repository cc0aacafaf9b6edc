import type { ImageDetail, ImageDiskUsageItem, ImageHistoryItem, ImageProgress, ImageSummary } from '../../engine/images/types.js';
import { compareVersions } from '../api-version.js';

// Domain image types → Docker's wire JSON (PascalCase, Docker's field set per API version).

export function imageSummaryJson(s: ImageSummary, version: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Containers: -1,
    Created: s.created,
    Id: s.id,
    Labels: Object.keys(s.labels).length ? s.labels : null,
    ParentId: s.parentId,
    RepoDigests: s.repoDigests,
    RepoTags: s.repoTags,
    SharedSize: -1,
    Size: s.size,
  };
  if (compareVersions(version, '1.44') < 0) out.VirtualSize = s.size;
  return out;
}

export function diskUsageImageJson(s: ImageDiskUsageItem, version: string, containers = 0): Record<string, unknown> {
  return { ...imageSummaryJson(s, version), SharedSize: s.sharedSize, Containers: containers };
}

export function imageInspectJson(d: ImageDetail, version: string): Record<string, unknown> {
  const out: Record<string, unknown> = {
    Id: d.id,
    RepoTags: d.repoTags,
    RepoDigests: d.repoDigests,
    Parent: d.parentId,
    Comment: d.comment,
    Created: d.createdIso || '0001-01-01T00:00:00Z',
    DockerVersion: d.dockerVersion,
    Author: d.author,
    Config: {
      Hostname: '',
      Domainname: '',
      User: '',
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      StdinOnce: false,
      Env: null,
      Cmd: null,
      Image: '',
      Volumes: null,
      WorkingDir: '',
      Entrypoint: null,
      OnBuild: null,
      Labels: null,
      ...d.config,
    },
    Architecture: d.architecture,
    ...(d.variant ? { Variant: d.variant } : {}),
    Os: d.os,
    Size: d.size,
    GraphDriver: { Name: 'overlay2', Data: null },
    RootFS: { Type: d.rootFS.type, Layers: d.rootFS.layers },
    Metadata: { LastTagTime: d.lastTagTime || '0001-01-01T00:00:00Z' },
  };
  if (compareVersions(version, '1.44') < 0) out.VirtualSize = d.size;
  return out;
}

export function historyJson(h: ImageHistoryItem): Record<string, unknown> {
  return {
    Id: h.id,
    Created: h.created,
    CreatedBy: h.createdBy,
    Tags: h.tags.length ? h.tags : null,
    Size: h.size,
    Comment: h.comment,
  };
}

/** Docker's jsonmessage progress bar: `[=====>        ]  1.2MB/3.4MB`. */
export function progressBar(current: number, total: number): string {
  const width = 50;
  if (total <= 0) return humanSize(current);
  const frac = Math.min(1, current / total);
  const n = Math.floor(frac * width);
  const bar = '='.repeat(n) + (n < width ? '>' + ' '.repeat(width - n - 1) : '>');
  return `[${bar.slice(0, width + 1)}] ${humanSize(current).padStart(8)}/${humanSize(total)}`;
}

/** Docker's go-units HumanSize: decimal units, 3 significant digits (`4.26MB`). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${Number(v.toPrecision(3))}${units[i]}`;
}

/** One JSON-lines progress message as docker load/import/pull write it. */
export function progressJson(p: ImageProgress): Record<string, unknown> {
  if (p.kind === 'message') return { stream: p.message.endsWith('\n') ? p.message : `${p.message}\n` };
  const id = p.id.replace(/^sha256:/, '').slice(0, 12);
  if (p.action === 'Already exists' || p.action === 'Done') return { status: p.action, id };
  return { status: p.action, progressDetail: { current: p.current, total: p.total }, progress: progressBar(p.current, p.total), id };
}
