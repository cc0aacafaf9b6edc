import { z } from 'zod';
import { ob, str, bool, strMap, strList } from './schema.js';
import { objectMetaSchema } from './meta.js';
import { nodeSelectorTerm } from './core-v1.js';

// storage.k8s.io/v1 StorageClass: how PersistentVolumes of a class are provisioned.

/** The provisioner name of Wharf's built-in local provisioner (a directory on the node that runs the pod). */
export const LOCAL_PROVISIONER = 'wharf.dev/local-path';
/** Marks a PV the local provisioner made (the node's agent creates its directory on first mount). */
export const LOCAL_PATH_PROVISIONED = 'wharf.dev/local-path-provisioned';
/** Finalizer on provisioned PVs: removed by the node's agent once the directory is gone. */
export const LOCAL_PATH_FINALIZER = 'wharf.dev/local-path-cleanup';
/** Node annotation: where the node's agent keeps provisioned local volumes. */
export const LOCAL_PATH_ROOT_ANNOTATION = 'wharf.dev/local-path-root';
/** The annotation that marks the default StorageClass. */
export const DEFAULT_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class';

export const storageClassSchema = ob(
  { apiVersion: z.literal('storage.k8s.io/v1'), kind: z.literal('StorageClass'), metadata: objectMetaSchema, provisioner: str },
  {
    parameters: strMap,
    reclaimPolicy: z.enum(['Retain', 'Delete']),
    volumeBindingMode: z.enum(['Immediate', 'WaitForFirstConsumer']),
    allowVolumeExpansion: bool,
    mountOptions: strList,
    allowedTopologies: z.array(nodeSelectorTerm),
  },
);

export type StorageClass = z.infer<typeof storageClassSchema>;
