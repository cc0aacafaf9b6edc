import type { ImageDiskUsage } from '../../engine/images/types.js';
import type { HostInfo } from '../host-info.js';
import { diskUsageImageJson } from './image-json.js';
import { volumeJson } from './volumes.js';
import type { VolumeRecord } from '../../engine/volumes/volume-service.js';
import { API_VERSION, MIN_API_VERSION } from '../api-version.js';
import type { ApiRequest, ApiResponse, Route, Router } from '../router.js';

/** What /info needs from the engine (moby's system Backend, the part Wharf has so far). */
export interface SystemBackend {
  counts(): Promise<{ images: number; containers: number; running: number; paused: number; stopped: number }>;
  imageDiskUsage(): Promise<ImageDiskUsage>;
  /** Every volume with its size in bytes (-1 unknown) and how many containers reference it. */
  volumeDiskUsage?(): Promise<{ volume: VolumeRecord; size: number; refCount: number }[]>;
}

export interface SystemRouterOptions {
  backend: SystemBackend;
  host: HostInfo;
  serverVersion: string;
  /** Stable daemon ID (kept in the data root). */
  daemonId: string;
  dataRoot: string;
  execRoot: string;
  nodeVersion?: string;
  /** Unix seconds the server was built/started, for /version BuildTime. */
  buildTime?: string;
}

export class SystemRouter implements Router {
  constructor(private readonly o: SystemRouterOptions) {}

  routes(): readonly Route[] {
    return [
      { method: 'GET', path: '/_ping', handler: (_q, r) => this.ping(r, true) },
      { method: 'HEAD', path: '/_ping', handler: (_q, r) => this.ping(r, false) },
      { method: 'GET', path: '/version', handler: (_q, r) => this.version(r) },
      { method: 'GET', path: '/info', handler: (q, r) => this.info(q, r) },
      { method: 'GET', path: '/system/df', handler: (q, r) => this.df(q, r) },
    ];
  }

  /** Images and volumes; containers and build cache are empty until they are counted. */
  private async df(req: ApiRequest, res: ApiResponse): Promise<void> {
    const du = await this.o.backend.imageDiskUsage();
    const vols = (await this.o.backend.volumeDiskUsage?.()) ?? [];
    res.json(200, {
      LayersSize: du.layersSize,
      Images: du.images.map((i) => diskUsageImageJson(i, req.version)),
      Containers: [],
      Volumes: vols.map((v) => volumeJson(v.volume, { size: v.size, refCount: v.refCount })),
      BuildCache: [],
    });
  }

  private ping(res: ApiResponse, body: boolean): void {
    res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
    res.setHeader('Pragma', 'no-cache');
    res.setHeader('Builder-Version', '1');
    res.setHeader('Swarm', 'inactive');
    if (body) res.text(200, 'OK');
    else res.text(200, '');
  }

  private version(res: ApiResponse): void {
    const o = this.o;
    const details = {
      ApiVersion: API_VERSION,
      Arch: o.host.goArch,
      BuildTime: o.buildTime ?? '',
      Experimental: 'false',
      GitCommit: '',
      GoVersion: `node${o.nodeVersion ?? process.versions.node}`,
      KernelVersion: o.host.kernelVersion,
      MinAPIVersion: MIN_API_VERSION,
      Os: 'linux',
    };
    res.json(200, {
      Platform: { Name: 'Wharf Engine' },
      Components: [{ Name: 'Engine', Version: o.serverVersion, Details: details }],
      Version: o.serverVersion,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: details.GoVersion,
      Os: 'linux',
      Arch: o.host.goArch,
      KernelVersion: o.host.kernelVersion,
      BuildTime: details.BuildTime,
    });
  }

  private async info(_req: ApiRequest, res: ApiResponse): Promise<void> {
    const o = this.o;
    const c = await o.backend.counts();
    res.json(200, {
      ID: o.daemonId,
      Containers: c.containers,
      ContainersRunning: c.running,
      ContainersPaused: c.paused,
      ContainersStopped: c.stopped,
      Images: c.images,
      Driver: 'overlay2',
      DriverStatus: [
        ['Backing Filesystem', 'extfs'],
        ['Supports d_type', 'true'],
        ['Using metacopy', 'false'],
        ['Native Overlay Diff', 'true'],
        ['userxattr', 'false'],
      ],
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['k8s-file'] },
      MemoryLimit: true,
      SwapLimit: true,
      CpuCfsPeriod: true,
      CpuCfsQuota: true,
      CPUShares: true,
      CPUSet: true,
      PidsLimit: true,
      IPv4Forwarding: true,
      BridgeNfIptables: true,
      BridgeNfIp6tables: true,
      Debug: false,
      NFd: 0,
      OomKillDisable: true,
      NGoroutines: 0,
      SystemTime: new Date().toISOString(),
      LoggingDriver: 'k8s-file',
      CgroupDriver: 'cgroupfs',
      CgroupVersion: o.host.cgroupVersion,
      NEventsListener: 0,
      KernelVersion: o.host.kernelVersion,
      OperatingSystem: o.host.operatingSystem,
      OSVersion: o.host.osVersion,
      OSType: 'linux',
      Architecture: o.host.architecture,
      IndexServerAddress: 'https://index.docker.io/v1/',
      RegistryConfig: {
        AllowNondistributableArtifactsCIDRs: null,
        AllowNondistributableArtifactsHostnames: null,
        InsecureRegistryCIDRs: ['127.0.0.0/8'],
        IndexConfigs: { 'docker.io': { Name: 'docker.io', Mirrors: [], Secure: true, Official: true } },
        Mirrors: null,
      },
      NCPU: o.host.ncpu,
      MemTotal: o.host.memTotal,
      GenericResources: null,
      DockerRootDir: o.dataRoot,
      HttpProxy: '',
      HttpsProxy: '',
      NoProxy: '',
      Name: o.host.hostname,
      Labels: [],
      ExperimentalBuild: false,
      ServerVersion: o.serverVersion,
      Runtimes: { runc: { path: 'runc' } },
      DefaultRuntime: 'runc',
      Swarm: {
        NodeID: '',
        NodeAddr: '',
        LocalNodeState: 'inactive',
        ControlAvailable: false,
        Error: '',
        RemoteManagers: null,
      },
      LiveRestoreEnabled: false,
      Isolation: '',
      InitBinary: '',
      ContainerdCommit: { ID: '' },
      RuncCommit: { ID: '' },
      InitCommit: { ID: '' },
      SecurityOptions: [],
      Warnings: null,
    });
  }
}
