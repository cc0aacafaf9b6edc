import { SKIP, SUCCESS, unschedulable, type FilterPlugin } from '../framework.js';
import { portKey } from '../snapshot.js';

const FAIL = unschedulable('NodePorts', ["node(s) didn't have free ports for the requested pod ports"]);

/** A host port (protocol, port) conflicts when either side binds 0.0.0.0 or both bind the same IP. */
export const nodePorts: FilterPlugin<true> = {
  name: 'NodePorts',
  nodeLocal: true,
  preFilter: (pod) => (pod.ports.length === 0 ? SKIP : true),
  filter(_s, pod, node) {
    if (node.usedPorts.size === 0) return SUCCESS;
    for (const p of pod.ports) {
      const ips = node.usedPorts.get(portKey(p));
      if (!ips) continue;
      for (const ip of ips) if (ip === p.ip || ip === '0.0.0.0' || p.ip === '0.0.0.0') return FAIL;
    }
    return SUCCESS;
  },
};
