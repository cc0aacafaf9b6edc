/** A long-running part of a process, started and stopped by its composition root. */
export interface Service {
  start(signal?: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}
