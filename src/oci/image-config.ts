// The OCI image configuration document (and Docker's image JSON, which has the same shape), with
// the OCI/Docker field names because it *is* that document. Shared by the engine's image store,
// the builder and the registry; `parseImageConfig` (manifest.ts) validates it.

/** The runtime part of an image config (OCI `config.config`, Docker `ContainerConfig`-like). */
export interface ImageRuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  OnBuild?: string[] | null;
  Shell?: string[];
}

export interface ImageHistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** A parsed, validated image config (OCI image config / Docker image JSON). */
export interface ImageConfigDoc {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  created?: string;
  author?: string;
  comment?: string;
  docker_version?: string;
  config?: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: ImageHistoryEntry[];
  /** Docker's legacy parent image ID (only set by the classic builder). */
  parent?: string;
}
