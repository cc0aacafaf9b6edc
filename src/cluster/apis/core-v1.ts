import { z } from 'zod';
import { ob, po, str, int, nonNegInt, bool, strMap, strList, time, intOrString, quantity, resourceList } from './schema.js';
import { objectMetaSchema, labelSelectorSchema, conditionSchema } from './meta.js';

// core/v1 kinds, with Kubernetes' field names, for what Wharf supports.

const tm = (apiVersion: string, kind: string) => ({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(kind),
});

// ---- pod spec pieces
const keySelector = ob({ key: str }, { name: str, optional: bool });
const envVar = ob(
  { name: str },
  {
    value: str,
    valueFrom: po({
      fieldRef: ob({ fieldPath: str }, { apiVersion: str }),
      configMapKeyRef: keySelector,
      secretKeyRef: keySelector,
      resourceFieldRef: ob({ resource: str }, { containerName: str, divisor: quantity }),
    }),
  },
);
const envFromSource = po({
  prefix: str,
  configMapRef: ob({ name: str }, { optional: bool }),
  secretRef: ob({ name: str }, { optional: bool }),
});
const protocol = z.enum(['TCP', 'UDP', 'SCTP']);
const containerPort = ob(
  { containerPort: z.number().int().min(1).max(65535) },
  { name: str, hostPort: z.number().int().min(0).max(65535), hostIP: str, protocol },
);
const resources = po({ requests: resourceList, limits: resourceList });
const volumeMount = ob(
  { name: str, mountPath: str },
  { readOnly: bool, subPath: str, mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']) },
);
const httpHeader = ob({ name: str, value: str }, {});
const probeHandlerShape = {
  exec: po({ command: strList }),
  httpGet: ob({ port: intOrString }, { path: str, host: str, scheme: z.enum(['HTTP', 'HTTPS']), httpHeaders: z.array(httpHeader) }),
  tcpSocket: ob({ port: intOrString }, { host: str }),
};
const probe = po({
  ...probeHandlerShape,
  initialDelaySeconds: nonNegInt,
  periodSeconds: z.number().int().min(1),
  timeoutSeconds: z.number().int().min(1),
  successThreshold: z.number().int().min(1),
  failureThreshold: z.number().int().min(1),
  terminationGracePeriodSeconds: nonNegInt,
});
const lifecycleHandler = po({ ...probeHandlerShape, sleep: ob({ seconds: nonNegInt }, {}) });
const securityContext = po({
  runAsUser: nonNegInt,
  runAsGroup: nonNegInt,
  runAsNonRoot: bool,
  privileged: bool,
  readOnlyRootFilesystem: bool,
  allowPrivilegeEscalation: bool,
  capabilities: po({ add: strList, drop: strList }),
});
export const containerSchema = ob(
  { name: str, image: str },
  {
    command: strList,
    args: strList,
    workingDir: str,
    env: z.array(envVar),
    envFrom: z.array(envFromSource),
    ports: z.array(containerPort),
    resources,
    volumeMounts: z.array(volumeMount),
    imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']),
    livenessProbe: probe,
    readinessProbe: probe,
    startupProbe: probe,
    lifecycle: po({ postStart: lifecycleHandler, preStop: lifecycleHandler }),
    securityContext,
    stdin: bool,
    stdinOnce: bool,
    tty: bool,
    terminationMessagePath: str,
    terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']),
    restartPolicy: z.literal('Always'),
  },
);
const keyToPath = ob({ key: str, path: str }, { mode: int });
/** hostPath.type: what must be at the path (Kubernetes' HostPathType values). */
export const HOST_PATH_TYPES = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'] as const;
const objectFieldSelector = ob({ fieldPath: str }, { apiVersion: str });
const resourceFieldSelector = ob({ resource: str }, { containerName: str, divisor: quantity });
const downwardAPIVolumeFile = ob({ path: str }, { fieldRef: objectFieldSelector, resourceFieldRef: resourceFieldSelector, mode: int });
const downwardAPIProjection = po({ items: z.array(downwardAPIVolumeFile) });
const projectionSource = po({
  configMap: po({ name: str, items: z.array(keyToPath), optional: bool }),
  secret: po({ name: str, items: z.array(keyToPath), optional: bool }),
  downwardAPI: downwardAPIProjection,
  serviceAccountToken: ob({ path: str }, { audience: str, expirationSeconds: int }),
});
/** The volume sources of a pod volume, by field name (exactly one per volume). */
export const VOLUME_SOURCES = ['emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected', 'persistentVolumeClaim'] as const;
const volumeSchema = ob(
  { name: str },
  {
    emptyDir: po({ medium: z.enum(['', 'Memory']), sizeLimit: quantity }),
    hostPath: ob({ path: str }, { type: z.enum(HOST_PATH_TYPES) }),
    configMap: po({ name: str, items: z.array(keyToPath), defaultMode: int, optional: bool }),
    secret: po({ secretName: str, items: z.array(keyToPath), defaultMode: int, optional: bool }),
    downwardAPI: po({ items: z.array(downwardAPIVolumeFile), defaultMode: int }),
    projected: po({ sources: z.array(projectionSource), defaultMode: int }),
    persistentVolumeClaim: ob({ claimName: str }, { readOnly: bool }),
  },
);
const nodeSelectorRequirement = ob(
  { key: str, operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']) },
  { values: strList },
);
export const nodeSelectorTerm = po({ matchExpressions: z.array(nodeSelectorRequirement), matchFields: z.array(nodeSelectorRequirement) });
const podAffinityTerm = ob(
  { topologyKey: str },
  { labelSelector: labelSelectorSchema, namespaces: strList, namespaceSelector: labelSelectorSchema },
);
const weightedPodAffinityTerm = ob({ weight: z.number().int().min(1).max(100), podAffinityTerm }, {});
const podAffinity = po({
  requiredDuringSchedulingIgnoredDuringExecution: z.array(podAffinityTerm),
  preferredDuringSchedulingIgnoredDuringExecution: z.array(weightedPodAffinityTerm),
});
const affinity = po({
  nodeAffinity: po({
    requiredDuringSchedulingIgnoredDuringExecution: ob({ nodeSelectorTerms: z.array(nodeSelectorTerm) }, {}),
    preferredDuringSchedulingIgnoredDuringExecution: z.array(
      ob({ weight: z.number().int().min(1).max(100), preference: nodeSelectorTerm }, {}),
    ),
  }),
  podAffinity,
  podAntiAffinity: podAffinity,
});
const taintEffect = z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']);
const toleration = po({
  key: str,
  operator: z.enum(['Exists', 'Equal']),
  value: str,
  effect: z.union([taintEffect, z.literal('')]),
  tolerationSeconds: int,
});
const topologySpreadConstraint = ob(
  { maxSkew: z.number().int().min(1), topologyKey: str, whenUnsatisfiable: z.enum(['DoNotSchedule', 'ScheduleAnyway']) },
  { labelSelector: labelSelectorSchema, minDomains: z.number().int().min(1), matchLabelKeys: strList },
);

export const podSpecSchema = ob(
  { containers: z.array(containerSchema).min(1, 'must have at least one container') },
  {
    initContainers: z.array(containerSchema),
    volumes: z.array(volumeSchema),
    restartPolicy: z.enum(['Always', 'OnFailure', 'Never']),
    terminationGracePeriodSeconds: nonNegInt,
    activeDeadlineSeconds: z.number().int().min(1),
    dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']),
    nodeSelector: strMap,
    nodeName: str,
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    hostname: str,
    subdomain: str,
    serviceAccountName: str,
    automountServiceAccountToken: bool,
    securityContext: po({
      runAsUser: nonNegInt,
      runAsGroup: nonNegInt,
      runAsNonRoot: bool,
      fsGroup: nonNegInt,
      supplementalGroups: z.array(nonNegInt),
      sysctls: z.array(ob({ name: str, value: str }, {})),
    }),
    affinity,
    tolerations: z.array(toleration),
    schedulerName: str,
    priority: int,
    priorityClassName: str,
    preemptionPolicy: z.enum(['PreemptLowerPriority', 'Never']),
    topologySpreadConstraints: z.array(topologySpreadConstraint),
    enableServiceLinks: bool,
    shareProcessNamespace: bool,
    overhead: resourceList,
  },
);

const containerState = po({
  waiting: po({ reason: str, message: str }),
  running: po({ startedAt: time }),
  terminated: ob(
    { exitCode: int },
    { signal: int, reason: str, message: str, startedAt: time, finishedAt: time, containerID: str },
  ),
});
const containerStatus = ob(
  { name: str, ready: bool, restartCount: nonNegInt, image: str },
  { state: containerState, lastState: containerState, imageID: str, containerID: str, started: bool },
);
export const podStatusSchema = po({
  phase: z.enum(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']),
  conditions: z.array(conditionSchema),
  message: str,
  reason: str,
  nominatedNodeName: str,
  hostIP: str,
  hostIPs: z.array(ob({ ip: str }, {})),
  podIP: str,
  podIPs: z.array(ob({ ip: str }, {})),
  startTime: time,
  containerStatuses: z.array(containerStatus),
  initContainerStatuses: z.array(containerStatus),
  qosClass: z.enum(['Guaranteed', 'Burstable', 'BestEffort']),
});

export const podTemplateSpecSchema = po({
  metadata: objectMetaSchema,
  spec: podSpecSchema,
});

export const podSchema = ob(
  { ...tm('v1', 'Pod'), metadata: objectMetaSchema, spec: podSpecSchema },
  { status: podStatusSchema },
);

// ---- Namespace
export const namespaceSchema = ob(
  { ...tm('v1', 'Namespace'), metadata: objectMetaSchema },
  {
    spec: po({ finalizers: strList }),
    status: po({ phase: z.enum(['Active', 'Terminating']), conditions: z.array(conditionSchema) }),
  },
);

// ---- Node
export const taintSchema = ob({ key: str, effect: taintEffect }, { value: str, timeAdded: time });
export const nodeSchema = ob(
  { ...tm('v1', 'Node'), metadata: objectMetaSchema },
  {
    spec: po({ podCIDR: str, podCIDRs: strList, providerID: str, unschedulable: bool, taints: z.array(taintSchema) }),
    status: po({
      capacity: resourceList,
      allocatable: resourceList,
      phase: str,
      conditions: z.array(conditionSchema),
      addresses: z.array(ob({ type: str, address: str }, {})),
      daemonEndpoints: po({ kubeletEndpoint: ob({ Port: int }, {}) }),
      nodeInfo: po({
        machineID: str,
        systemUUID: str,
        bootID: str,
        kernelVersion: str,
        osImage: str,
        containerRuntimeVersion: str,
        kubeletVersion: str,
        kubeProxyVersion: str,
        operatingSystem: str,
        architecture: str,
      }),
      images: z.array(po({ names: strList, sizeBytes: int })),
    }),
  },
);

// ---- Service
const servicePort = ob(
  { port: z.number().int().min(1).max(65535) },
  {
    name: str,
    protocol,
    targetPort: intOrString,
    nodePort: z.number().int().min(0).max(65535),
    appProtocol: str,
  },
);
export const serviceSchema = ob(
  { ...tm('v1', 'Service'), metadata: objectMetaSchema },
  {
    spec: po({
      type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']),
      selector: strMap,
      ports: z.array(servicePort),
      clusterIP: str,
      clusterIPs: strList,
      externalIPs: strList,
      externalName: str,
      sessionAffinity: z.enum(['None', 'ClientIP']),
      publishNotReadyAddresses: bool,
      ipFamilies: z.array(z.enum(['IPv4', 'IPv6'])),
      ipFamilyPolicy: z.enum(['SingleStack', 'PreferDualStack', 'RequireDualStack']),
      internalTrafficPolicy: z.enum(['Cluster', 'Local']),
      externalTrafficPolicy: z.enum(['Cluster', 'Local']),
    }),
    status: po({ loadBalancer: po({ ingress: z.array(po({ ip: str, hostname: str })) }), conditions: z.array(conditionSchema) }),
  },
);

// ---- ConfigMap, Secret
export const configMapSchema = ob(
  { ...tm('v1', 'ConfigMap'), metadata: objectMetaSchema },
  { data: strMap, binaryData: strMap, immutable: bool },
);
export const secretSchema = ob(
  { ...tm('v1', 'Secret'), metadata: objectMetaSchema },
  { data: strMap, stringData: strMap, type: str, immutable: bool },
);

// ---- PersistentVolume, PersistentVolumeClaim
export const ACCESS_MODES = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
const accessModes = z.array(z.enum(ACCESS_MODES));
const volumeMode = z.enum(['Filesystem', 'Block']);
export const persistentVolumeSchema = ob(
  { ...tm('v1', 'PersistentVolume'), metadata: objectMetaSchema },
  {
    spec: po({
      capacity: resourceList,
      accessModes,
      persistentVolumeReclaimPolicy: z.enum(['Retain', 'Delete', 'Recycle']),
      storageClassName: str,
      volumeMode,
      mountOptions: strList,
      nodeAffinity: po({ required: ob({ nodeSelectorTerms: z.array(nodeSelectorTerm) }, {}) }),
      claimRef: po({ apiVersion: str, kind: str, name: str, namespace: str, uid: str, resourceVersion: str, fieldPath: str }),
      hostPath: ob({ path: str }, { type: z.enum(HOST_PATH_TYPES) }),
      local: ob({ path: str }, { fsType: str }),
    }),
    status: po({
      phase: z.enum(['Pending', 'Available', 'Bound', 'Released', 'Failed']),
      message: str,
      reason: str,
      lastPhaseTransitionTime: time,
    }),
  },
);
export const persistentVolumeClaimSpecSchema = po({
  accessModes,
  resources: po({ requests: resourceList, limits: resourceList }),
  storageClassName: str,
  volumeName: str,
  volumeMode,
  selector: labelSelectorSchema,
});
export const persistentVolumeClaimSchema = ob(
  { ...tm('v1', 'PersistentVolumeClaim'), metadata: objectMetaSchema },
  {
    spec: persistentVolumeClaimSpecSchema,
    status: po({
      phase: z.enum(['Pending', 'Bound', 'Lost']),
      accessModes,
      capacity: resourceList,
      conditions: z.array(conditionSchema),
    }),
  },
);

// ---- Event
const objectReference = po({
  apiVersion: str,
  kind: str,
  name: str,
  namespace: str,
  uid: str,
  resourceVersion: str,
  fieldPath: str,
});
export const eventSchema = ob(
  { ...tm('v1', 'Event'), metadata: objectMetaSchema, involvedObject: objectReference },
  {
    reason: str,
    message: str,
    type: z.enum(['Normal', 'Warning']),
    source: po({ component: str, host: str }),
    firstTimestamp: time,
    lastTimestamp: time,
    eventTime: time,
    count: int,
    action: str,
    related: objectReference,
    reportingComponent: str,
    reportingInstance: str,
    series: po({ count: int, lastObservedTime: time }),
  },
);

// ---- Binding (pods/binding subresource body)
export const bindingSchema = ob(
  { metadata: objectMetaSchema, target: ob({ name: str }, { kind: str, apiVersion: str, namespace: str, uid: str }) },
  { apiVersion: z.literal('v1'), kind: z.literal('Binding') },
);

export type Container = z.infer<typeof containerSchema>;
export type PodSpec = z.infer<typeof podSpecSchema>;
export type PodStatus = z.infer<typeof podStatusSchema>;
export type PodTemplateSpec = z.infer<typeof podTemplateSpecSchema>;
export type Pod = z.infer<typeof podSchema>;
export type Namespace = z.infer<typeof namespaceSchema>;
export type Node = z.infer<typeof nodeSchema>;
export type Taint = z.infer<typeof taintSchema>;
export type Service = z.infer<typeof serviceSchema>;
export type ConfigMap = z.infer<typeof configMapSchema>;
export type Secret = z.infer<typeof secretSchema>;
export type Event = z.infer<typeof eventSchema>;
export type Binding = z.infer<typeof bindingSchema>;
export type PersistentVolume = z.infer<typeof persistentVolumeSchema>;
export type PersistentVolumeClaim = z.infer<typeof persistentVolumeClaimSchema>;
