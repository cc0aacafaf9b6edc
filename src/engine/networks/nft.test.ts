import { describe, expect, it } from 'vitest';
import { renderRuleset, checkTableName } from './nft.js';

describe('renderRuleset', () => {
  it('renders DNAT, masquerade, hairpin and isolation (golden)', () => {
    const text = renderRuleset({
      table: 'wharf-d1',
      networks: [
        { bridge: 'wharf0', subnet: '10.209.0.0/16', internal: false, masquerade: true },
        { bridge: 'br-int', subnet: '10.210.1.0/24', internal: true, masquerade: true },
      ],
      publishes: [{ hostIp: '127.0.0.1', hostPort: 8080, containerIp: '10.209.0.2', containerPort: 80, proto: 'tcp' }],
    });
    expect(text).toBe(`table ip wharf-d1 {}
delete table ip wharf-d1
table ip wharf-d1 {
  chain ports {
    ip daddr 127.0.0.1 tcp dport 8080 dnat to 10.209.0.2:80
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }
  chain output {
    type nat hook output priority -100; policy accept;
    fib daddr type local jump ports
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wharf0" ip saddr 127.0.0.0/8 masquerade
    ip saddr 10.209.0.0/16 oifname != "wharf0" masquerade
    oifname "br-int" ip saddr 127.0.0.0/8 masquerade
    ip saddr 10.209.0.2 ip daddr 10.209.0.2 tcp dport 80 masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy accept;
    iifname "br-int" oifname != "br-int" drop
    oifname "br-int" iifname != "br-int" drop
    ct status dnat accept
    iifname "wharf0" oifname { "br-int" } drop
    iifname "br-int" oifname { "wharf0" } drop
  }
}
`);
  });
  it('refuses table names that could inject nft syntax', () => {
    expect(() => checkTableName('x; flush ruleset')).toThrow(/invalid nftables table/);
  });
});
